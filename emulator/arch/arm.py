"""32-bit ARM (EABI): SVC, ARM and Thumb, VFP/NEON, TPIDRURO TLS, kuser helpers, rt_sigframe.

Syscall ABI (arch/arm/kernel/entry-common.S): number in r7, arguments in r0-r6, result
in r0; the SVC hook sees the PC already past the instruction (2 or 4 bytes, by the
Thumb bit). The kernel helper page at 0xffff0000 holds real ARM code, as the kernel's
does (arch/arm/kernel/entry-armv.S, __kuser_helper_start), so GOARM=5 binaries' calls
to __kuser_cmpxchg and __kuser_memory_barrier run at JIT speed with no Python hook.
Signal frames follow arch/arm/kernel/signal.c: ``struct rt_sigframe { siginfo; struct
sigframe { ucontext; retcode[4] } }`` with the VFP state in uc_regspace.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from unicorn import (
    UC_ARCH_ARM,
    UC_HOOK_INSN_INVALID,
    UC_HOOK_INTR,
    UC_MODE_ARM,
    Uc,
)
from unicorn import arm_const as A
from unicorn.unicorn_py3.unicorn import HOOK_INSN_INVALID_CFUNC, HOOK_INTR_CFUNC

from emulator.arch.base import Arch, Layout, UnwindParams
from emulator.cpu import Trap
from loader.elf import PF_X, ElfClass, Machine
from loader.sysroot import SysrootDefault
from syscalls.abi import ARM
from syscalls.kernel.vm import PROT_EXEC, PROT_READ
from syscalls.structs import pack_siginfo

if TYPE_CHECKING:
    from emulator.cpu import Cpu
    from syscalls.kernel.memory import GuestMemory
    from syscalls.kernel.signals import SigAction, SigInfo
    from syscalls.kernel.task import Task
    from syscalls.kernel.vm import AddressSpace

EXCP_UDEF = 1
EXCP_SWI = 2
EXCP_PREFETCH_ABORT = 3
EXCP_DATA_ABORT = 4
EXCP_BKPT = 7

CPSR_T = 1 << 5
CPSR_MODE_MASK = 0x1F
USR_MODE = 0x10
CPSR_IT_MASK = (0x3F << 10) | (0x3 << 25)
CPSR_E = 1 << 9
# CPSR bits user code may set through sigreturn: flags, GE, IT, E and T (valid_user_regs).
CPSR_USER_MASK = 0xF80F0000 | 0x06000000 | 0xFC00 | CPSR_E | CPSR_T

# HWCAP_SWP|HALF|THUMB|FAST_MULT|VFP|EDSP|NEON|VFPv3|TLS|VFPv4|IDIVA|IDIVT|VFPD32|LPAE:
# what Linux reports for a Cortex-A15 (arch/arm/include/uapi/asm/hwcap.h), as qemu-arm does.
HWCAP = 0x1FB0D7

VECTORS = 0xFFFF0000
SIGRETURN_TRAMPOLINE = VECTORS + 0x500
NR_RT_SIGRETURN = 173

# Kernel user helpers, assembled from the kernel's algorithms (arm-linux-gnueabihf-as,
# -march=armv7-a). Offsets are from the start of the vectors page.
KUSER_HELPERS: dict[int, tuple[int, ...]] = {
    # __kuser_cmpxchg64 (0xffff0f60): r0=&oldval, r1=&newval, r2=ptr; r0=0 and C set on success.
    0xF60: (
        0xE92D40F0,  # push   {r4, r5, r6, r7, lr}
        0xE1C040D0,  # ldrd   r4, r5, [r0]
        0xE1C160D0,  # ldrd   r6, r7, [r1]
        0xE1B20F9F,  # 1: ldrexd r0, r1, [r2]
        0xE0303004,  # eors   r3, r0, r4
        0x00313005,  # eorseq r3, r1, r5
        0x01A23F96,  # strexdeq r3, r6, r7, [r2]
        0x03330001,  # teqeq  r3, #1
        0x0AFFFFF9,  # beq    1b
        0xE2730000,  # rsbs   r0, r3, #0
        0xE8BD80F0,  # pop    {r4, r5, r6, r7, pc}
    ),
    # __kuser_memory_barrier (0xffff0fa0).
    0xFA0: (
        0xF57FF05B,  # dmb    ish
        0xE12FFF1E,  # bx     lr
    ),
    # __kuser_cmpxchg (0xffff0fc0): r0=oldval, r1=newval, r2=ptr; r0=0 and C set on success.
    0xFC0: (
        0xE1923F9F,  # 1: ldrex r3, [r2]
        0xE0533000,  # subs   r3, r3, r0
        0x01823F91,  # strexeq r3, r1, [r2]
        0x03330001,  # teqeq  r3, #1
        0x0AFFFFFA,  # beq    1b
        0xE2730000,  # rsbs   r0, r3, #0
        0xE12FFF1E,  # bx     lr
    ),
    # __kuser_get_tls (0xffff0fe0).
    0xFE0: (
        0xEE1D0F70,  # mrc    p15, 0, r0, c13, c0, 3
        0xE12FFF1E,  # bx     lr
    ),
    # __kuser_helper_version (0xffff0ffc): the number of 32-byte helper slots.
    0xFFC: (5,),
    # Where signal handlers return when the guest set no SA_RESTORER (Go does not): the
    # kernel's sigpage holds the same two instructions.
    0x500: (
        0xE3A070AD,  # mov    r7, #173  (rt_sigreturn)
        0xEF000000,  # svc    #0
    ),
}

ARM_YIELD_MASK, ARM_YIELD = 0x0FFFFFFF, 0x0320F001
THUMB_YIELD = 0xBF10

SIGINFO_SIZE = 128
UCONTEXT_SIZE = 744  # flags, link, stack(12), sigcontext(84), sigmask+pad(128), regspace(512)
SIGFRAME_SIZE = UCONTEXT_SIZE + 16  # + retcode[4]
RT_SIGFRAME_SIZE = SIGINFO_SIZE + SIGFRAME_SIZE
VFP_MAGIC = 0x56465001
VFP_STORAGE_SIZE = 0x120
GPRS = (*(getattr(A, f"UC_ARM_REG_R{i}") for i in range(13)), A.UC_ARM_REG_SP,
        A.UC_ARM_REG_LR, A.UC_ARM_REG_PC)
DREGS = tuple(getattr(A, f"UC_ARM_REG_D{i}") for i in range(32))


class Arm(Arch):
    name = "arm"
    machine = Machine.ARM
    elf_class = ElfClass.ELF32
    abi = ARM
    sysroot = SysrootDefault(native_machines=("armv7l", "armv8l"),
                             cross_root="/usr/arm-linux-gnueabihf", package="libc6-armhf-cross")
    layout = Layout(
        task_size=0xBF000000,
        stack_top=0xBF000000,
        stack_size=8 << 20,
        mmap_base=0xB7000000,
        # ELF_ET_DYN_BASE = TASK_SIZE / 3 * 2 (arch/arm/include/asm/elf.h).
        dyn_base=0x7F555554,
        mmap_min=0x1000,
    )
    unwind = UnwindParams(uses_lr=True, ptr_size=4, min_frame=4)
    pc_reg = A.UC_ARM_REG_PC
    sp_reg = A.UC_ARM_REG_SP
    lr_reg = A.UC_ARM_REG_LR
    ret_reg = A.UC_ARM_REG_R0
    call_arg_regs = (A.UC_ARM_REG_R0, A.UC_ARM_REG_R1, A.UC_ARM_REG_R2, A.UC_ARM_REG_R3)
    """AAPCS: the first four integer arguments of a function call."""
    syscall_regs = (A.UC_ARM_REG_R7, A.UC_ARM_REG_R0, A.UC_ARM_REG_R1, A.UC_ARM_REG_R2,
                    A.UC_ARM_REG_R3, A.UC_ARM_REG_R4, A.UC_ARM_REG_R5, A.UC_ARM_REG_R6)
    syscall_trap = EXCP_SWI

    capstone_mode = ("CS_ARCH_ARM", "CS_MODE_ARM")

    # Above the helper page and below nothing: never mapped, never reached.
    never_address = 0xFFFFFFF0
    platform = b"v7l"

    def create_uc(self) -> Uc:
        uc = Uc(UC_ARCH_ARM, UC_MODE_ARM)
        # Unicorn's ARM targets use 1 KiB pages; Linux's are 4 KiB. With 4 KiB the TLB
        # reaches four times as far and takes in a quarter as many pages.
        uc.ctl_set_page_size(4096)
        # VFP/NEON are off at reset: grant CP10/CP11 access and set FPEXC.EN, as the
        # kernel does for every user process.
        uc.reg_write(A.UC_ARM_REG_C1_C0_2, uc.reg_read(A.UC_ARM_REG_C1_C0_2) | (0xF << 20))
        uc.reg_write(A.UC_ARM_REG_FPEXC, 0x40000000)
        cpsr = uc.reg_read(A.UC_ARM_REG_CPSR)
        uc.reg_write(A.UC_ARM_REG_CPSR, (cpsr & ~CPSR_MODE_MASK) | USR_MODE)
        return uc

    def install_hooks(self, cpu: Cpu) -> None:
        uc = cpu.uc
        consecutive = [0, -1]  # [count, pc]: guards against mistaking a faulting insn for YIELD

        def on_interrupt(intno: int) -> None:
            if intno == EXCP_SWI:
                cpu.on_syscall()
                return
            pc = cpu.pc
            kind = {EXCP_UDEF: "illegal", EXCP_BKPT: "breakpoint"}.get(intno, "segv")
            cpu.trap = Trap(kind, pc, intno)
            cpu.stop()

        def on_invalid_insn() -> bool:
            # Unicorn raises "invalid instruction" for YIELD with the PC already past it,
            # and for an undefined instruction with the PC on it. A YIELD is a hint: go on.
            pc = int(uc.reg_read(A.UC_ARM_REG_PC))
            thumb = bool(uc.reg_read(A.UC_ARM_REG_CPSR) & CPSR_T)
            try:
                if thumb:
                    prev = int.from_bytes(uc.mem_read(pc - 2, 2), "little")
                    was_yield = prev == THUMB_YIELD
                else:
                    prev = int.from_bytes(uc.mem_read(pc - 4, 4), "little")
                    was_yield = prev & ARM_YIELD_MASK == ARM_YIELD
            except Exception:
                was_yield = False
            if was_yield:
                consecutive[0] = consecutive[0] + 1 if consecutive[1] == pc else 0
                consecutive[1] = pc
                # Go spins at most a few hundred YIELDs before a syscall; an instruction
                # that keeps failing at the same PC after a YIELD is really undefined.
                if consecutive[0] < 1_000_000:
                    return True
            return False

        cpu.add_syscall_hook(UC_HOOK_INTR, HOOK_INTR_CFUNC, on_interrupt)
        cpu.add_hook(UC_HOOK_INSN_INVALID, HOOK_INSN_INVALID_CFUNC, on_invalid_insn)

    def is_thumb(self, cpu: Cpu) -> bool:
        return bool(cpu.reg(A.UC_ARM_REG_CPSR) & CPSR_T)

    def resume_address(self, cpu: Cpu) -> int:
        return cpu.pc | (1 if self.is_thumb(cpu) else 0)

    def pc_value(self, cpu: Cpu, pc: int) -> int:
        # Unicorn sets the Thumb state from bit 0 of every PC write.
        return (pc & ~1) | (1 if self.is_thumb(cpu) else 0)

    def syscall_insn_size(self, cpu: Cpu) -> int:
        return 2 if self.is_thumb(cpu) else 4

    def initial_registers(self, cpu: Cpu, entry: int, sp: int) -> None:
        # start_thread(): USR mode, T bit from the entry address, r0 = 0 (ELF_PLAT_INIT).
        cpsr = cpu.reg(A.UC_ARM_REG_CPSR) & ~(CPSR_T | CPSR_IT_MASK)
        if entry & 1:
            cpsr |= CPSR_T
        # Unicorn takes the Thumb state from bit 0 of a PC write, so the PC goes last
        # and keeps its Thumb bit.
        cpu.set_regs({A.UC_ARM_REG_CPSR: cpsr, A.UC_ARM_REG_SP: sp, A.UC_ARM_REG_R0: 0,
                      A.UC_ARM_REG_PC: entry})

    def set_tls(self, cpu: Cpu, value: int) -> None:
        cpu.set_reg(A.UC_ARM_REG_C13_C0_3, value)

    def get_tls(self, cpu: Cpu) -> int:
        return cpu.reg(A.UC_ARM_REG_C13_C0_3)

    def go_g_address(self, cpu: Cpu) -> tuple[str, int]:
        return ("reg", cpu.reg(A.UC_ARM_REG_R10))  # R10 is Go's g register on ARM

    def auxv_extras(self) -> list[tuple[int, int | bytes]]:
        from loader.stack import AT

        return [(AT.HWCAP, HWCAP), (AT.HWCAP2, 0), (AT.PLATFORM, self.platform)]

    def stack_is_executable(self, gnu_stack_flags: int | None) -> bool:
        """arch/arm/kernel/elf.c: an image without PT_GNU_STACK (or asking for it) gets an
        executable stack."""
        return gnu_stack_flags is None or bool(gnu_stack_flags & PF_X)

    def map_special_pages(self, vm: AddressSpace, mem: GuestMemory) -> None:
        page = bytearray(4096)
        for offset, words in KUSER_HELPERS.items():
            for i, word in enumerate(words):
                struct.pack_into("<I", page, offset + 4 * i, word)
        vm.map_fixed(VECTORS, 4096, PROT_READ | PROT_EXEC, name="[vectors]", data=bytes(page))

    # Signals -----------------------------------------------------------------------------

    def setup_signal_frame(self, cpu: Cpu, mem: GuestMemory, task: Task, info: SigInfo,
                           action: SigAction, saved_mask: int) -> None:
        from syscalls.abi import SA_ONSTACK, SA_RESTORER

        regs = [cpu.reg(r) for r in GPRS]
        cpsr = cpu.reg(A.UC_ARM_REG_CPSR)
        sp = regs[13]
        alt = task.altstack
        on_alt = alt.contains(sp)
        if action.flags & SA_ONSTACK and alt.enabled and not on_alt:
            sp = alt.sp + alt.size
        frame = (sp - RT_SIGFRAME_SIZE) & ~7
        info_addr = frame
        uc_addr = frame + SIGINFO_SIZE
        fault = info.addr if info.addr is not None and info.signo in (11, 7) else 0
        sigcontext = struct.pack("<3I", info.trapno, info.error_code, saved_mask & 0xFFFFFFFF)
        sigcontext += struct.pack("<16I", *regs) + struct.pack("<II", cpsr, fault)
        alt_flags = 1 if on_alt else (2 if not alt.enabled else 0)
        ucontext = struct.pack("<II", 0, 0) + struct.pack("<IiI", alt.sp, alt_flags, alt.size)
        ucontext += sigcontext + struct.pack("<Q", saved_mask) + bytes(120)
        ucontext += self._vfp_frame(cpu)
        ucontext += bytes(UCONTEXT_SIZE - len(ucontext))
        retcode = struct.pack("<4I", 0xE3A070AD, 0xEF000000, 0, 0)
        siginfo = pack_siginfo(4, info.signo, info.code, info.errno, pid=info.pid,
                               uid=info.uid, addr=info.addr, status=info.status,
                               timerid=info.timerid, overrun=info.overrun, value=info.value)
        mem.write(frame, siginfo + ucontext + retcode)
        if action.flags & SA_RESTORER:
            lr = action.restorer
        else:
            lr = SIGRETURN_TRAMPOLINE
        handler = action.handler
        new_cpsr = cpsr & ~(CPSR_T | CPSR_IT_MASK | CPSR_E)
        if handler & 1:
            new_cpsr |= CPSR_T
        cpu.set_regs({A.UC_ARM_REG_R0: info.signo, A.UC_ARM_REG_R1: info_addr,
                      A.UC_ARM_REG_R2: uc_addr, A.UC_ARM_REG_SP: frame,
                      A.UC_ARM_REG_LR: lr, A.UC_ARM_REG_CPSR: new_cpsr,
                      A.UC_ARM_REG_PC: handler})

    def restore_signal_frame(self, cpu: Cpu, mem: GuestMemory, task: Task) -> int:
        frame = cpu.sp
        raw = mem.read(frame + SIGINFO_SIZE, UCONTEXT_SIZE)
        regs = struct.unpack_from("<16I", raw, 20 + 12)
        cpsr = struct.unpack_from("<I", raw, 20 + 12 + 64)[0]
        mask = struct.unpack_from("<Q", raw, 104)[0]
        values = dict(zip(GPRS, regs, strict=True))
        old_cpsr = cpu.reg(A.UC_ARM_REG_CPSR)
        values[A.UC_ARM_REG_CPSR] = (old_cpsr & ~CPSR_USER_MASK) | (cpsr & CPSR_USER_MASK)
        # The PC is written last, with the Thumb bit Unicorn derives the state from.
        pc = values.pop(A.UC_ARM_REG_PC)
        values[A.UC_ARM_REG_PC] = (pc & ~1) | (1 if cpsr & CPSR_T else 0)
        cpu.set_regs(values)
        self._restore_vfp(cpu, raw[232:232 + VFP_STORAGE_SIZE])
        return int(mask)

    def _vfp_frame(self, cpu: Cpu) -> bytes:
        dregs = [int(cpu.uc.reg_read(d)) for d in DREGS]
        body = struct.pack("<II", VFP_MAGIC, VFP_STORAGE_SIZE)
        body += struct.pack("<32Q", *dregs) + struct.pack("<I4x", cpu.reg(A.UC_ARM_REG_FPSCR))
        body += struct.pack("<III", cpu.reg(A.UC_ARM_REG_FPEXC), 0, 0)
        return body + bytes(VFP_STORAGE_SIZE - len(body))

    def _restore_vfp(self, cpu: Cpu, raw: bytes) -> None:
        magic, size = struct.unpack_from("<II", raw, 0)
        if magic != VFP_MAGIC or size != VFP_STORAGE_SIZE:
            return
        dregs = struct.unpack_from("<32Q", raw, 8)
        for reg, value in zip(DREGS, dregs, strict=True):
            cpu.uc.reg_write(reg, value)
        cpu.set_reg(A.UC_ARM_REG_FPSCR, struct.unpack_from("<I", raw, 8 + 256)[0])

    def fault_trapno(self, write: bool, fetch: bool) -> tuple[int, int]:
        # trap_no 14 (data abort) with the FSR's write bit (bit 11); 6 for prefetch aborts.
        return (6, 0) if fetch else (14, 0x800 if write else 0)

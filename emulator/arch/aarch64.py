"""AArch64: SVC, TPIDR_EL0 TLS, FP/SIMD, and the rt_sigframe of arch/arm64/kernel/signal.c.

Syscall ABI (arch/arm64/kernel/syscall.c): number in x8, arguments in x0-x5, result in
x0; the SVC hook sees the PC already past the 4-byte instruction. Numbers are the
asm-generic table: no open/stat/pipe, only their *at and 2 forms.

Signal frame (setup_rt_frame): below the interrupted SP (or at the top of the
alternate stack) a 16-byte frame record {x29, x30}, then, 16-byte aligned,
``struct rt_sigframe { siginfo; ucontext }`` whose sigcontext ends in a list of
records in ``__reserved``: the FP/SIMD state (FPSIMD_MAGIC), the fault syndrome for
faults (ESR_MAGIC), and a zero terminator. The handler gets x0 = signo, x1 = &info,
x2 = &uc, x29 = &record, x30 = sa_restorer (Go always sets SA_RESTORER; without it the
kernel returns through the vDSO's sigreturn trampoline, which elftrace provides on a
page of its own).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from unicorn import UC_ARCH_ARM64, UC_HOOK_INTR, UC_MODE_ARM, Uc
from unicorn import arm64_const as A
from unicorn.unicorn_py3.unicorn import HOOK_INTR_CFUNC

from emulator.arch.base import Arch, Layout, UnwindParams
from emulator.cpu import Trap
from loader.elf import ElfClass, Machine
from loader.sysroot import SysrootDefault
from syscalls.abi import AARCH64, SA_ONSTACK, SA_RESTORER
from syscalls.kernel.vm import PROT_EXEC, PROT_READ
from syscalls.structs import pack_siginfo

if TYPE_CHECKING:
    from emulator.cpu import Cpu
    from syscalls.kernel.memory import GuestMemory
    from syscalls.kernel.signals import SigAction, SigInfo
    from syscalls.kernel.task import Task
    from syscalls.kernel.vm import AddressSpace

# QEMU's exception numbers, as Unicorn's interrupt hook reports them.
EXCP_UDEF = 1
EXCP_SWI = 2
EXCP_PREFETCH_ABORT = 3
EXCP_DATA_ABORT = 4
EXCP_BKPT = 7

# AT_HWCAP: FP, ASIMD, AES, PMULL, SHA1, SHA2, CRC32 (arch/arm64/include/uapi/asm/hwcap.h),
# what Unicorn's Cortex-A72 implements. No ATOMICS (LSE) and no CPUID: the A72 is ARMv8.0.
HWCAP = 0x1 | 0x2 | 0x8 | 0x10 | 0x20 | 0x40 | 0x80

NR_RT_SIGRETURN = 139
SIGINFO_SIZE = 128
UC_SIGMASK = 40
UC_MCONTEXT = 176  # flags, link, stack_t (24), sigmask + padding to 128 bytes, 16-aligned
SIGCONTEXT_RESERVED = 288  # fault_address, regs[31], sp, pc, pstate
RESERVED_SIZE = 4096
UCONTEXT_SIZE = UC_MCONTEXT + SIGCONTEXT_RESERVED + RESERVED_SIZE
RT_SIGFRAME_SIZE = SIGINFO_SIZE + UCONTEXT_SIZE
FRAME_RECORD_SIZE = 16
FPSIMD_MAGIC = 0x46508001
FPSIMD_SIZE = 528
ESR_MAGIC = 0x45535201
ESR_SIZE = 16
NZCV_MASK = 0xF0000000

# ESR_EL1 of a data or instruction abort from EL0: EC, IL, then WnR and the fault
# status (translation fault, level 3; permission fault, level 3).
ESR_EC_DABT_LOW = 0x24 << 26
ESR_EC_IABT_LOW = 0x20 << 26
ESR_IL = 1 << 25
ESR_WNR = 1 << 6
FSC_TRANSLATION = 0x07
FSC_PERMISSION = 0x0F

XREGS = (*(getattr(A, f"UC_ARM64_REG_X{i}") for i in range(29)), A.UC_ARM64_REG_X29,
         A.UC_ARM64_REG_X30)
QREGS = tuple(getattr(A, f"UC_ARM64_REG_Q{i}") for i in range(32))

# Where a handler installed without SA_RESTORER returns: the kernel's vDSO holds
# __kernel_rt_sigreturn, the same two instructions.
SIGRETURN_PAGE = 0xFFFFFFFFE000
SIGRETURN_CODE = struct.pack("<II", 0xD2801168,  # mov x8, #139 (rt_sigreturn)
                             0xD4000001)  # svc #0


class AArch64(Arch):
    name = "aarch64"
    machine = Machine.AARCH64
    elf_class = ElfClass.ELF64
    abi = AARCH64
    sysroot = SysrootDefault(native_machines=("aarch64",),
                             cross_root="/usr/aarch64-linux-gnu", package="libc6-arm64-cross")
    layout = Layout(
        # 48-bit user addresses (VA_BITS=48); STACK_TOP is TASK_SIZE.
        task_size=0xFFFFFFFFF000,
        stack_top=0xFFFFFFFFD000,
        stack_size=8 << 20,
        mmap_base=0xFFFFF7FFF000,
        # ELF_ET_DYN_BASE = 2 * TASK_SIZE_64 / 3 (arch/arm64/include/asm/elf.h).
        dyn_base=0xAAAAAAAAAAAA,
    )
    # runtime/traceback.go: usesLR, with sys.MinFrameSize 8; sigctxt.pushCall on arm64
    # moves SP down 16 bytes to save LR.
    unwind = UnwindParams(uses_lr=True, ptr_size=8, min_frame=8, pushed_lr_size=16)
    pc_reg = A.UC_ARM64_REG_PC
    sp_reg = A.UC_ARM64_REG_SP
    lr_reg = A.UC_ARM64_REG_X30
    ret_reg = A.UC_ARM64_REG_X0
    syscall_regs = (A.UC_ARM64_REG_X8, A.UC_ARM64_REG_X0, A.UC_ARM64_REG_X1,
                    A.UC_ARM64_REG_X2, A.UC_ARM64_REG_X3, A.UC_ARM64_REG_X4,
                    A.UC_ARM64_REG_X5)
    syscall_trap = EXCP_SWI

    capstone_mode = ("CS_ARCH_ARM64", "CS_MODE_ARM")

    # Above the 48-bit user range: never mapped, never reached.
    never_address = 0xFFFFFFFFFFFFFFF0
    platform = b"aarch64"

    def create_uc(self) -> Uc:
        uc = Uc(UC_ARCH_ARM64, UC_MODE_ARM)
        # Unicorn's AArch64 target uses 1 KiB pages; Linux's are 4 KiB (see arm.py).
        uc.ctl_set_page_size(4096)
        # FP/SIMD trap at reset: CPACR_EL1.FPEN = 0b11, as the kernel sets for user code.
        uc.reg_write(A.UC_ARM64_REG_CPACR_EL1, uc.reg_read(A.UC_ARM64_REG_CPACR_EL1) | (3 << 20))
        return uc

    def install_hooks(self, cpu: Cpu) -> None:
        def on_interrupt(intno: int) -> None:
            if intno == EXCP_SWI:
                cpu.on_syscall()
                return
            kind = {EXCP_UDEF: "illegal", EXCP_BKPT: "breakpoint"}.get(intno, "segv")
            cpu.trap = Trap(kind, cpu.pc, intno)
            cpu.stop()

        cpu.add_syscall_hook(UC_HOOK_INTR, HOOK_INTR_CFUNC, on_interrupt)

    def resume_address(self, cpu: Cpu) -> int:
        return cpu.pc

    def syscall_insn_size(self, cpu: Cpu) -> int:
        return 4

    def initial_registers(self, cpu: Cpu, entry: int, sp: int) -> None:
        # start_thread(): every register zero but PC and SP.
        cpu.set_regs({A.UC_ARM64_REG_SP: sp, A.UC_ARM64_REG_X0: 0, A.UC_ARM64_REG_PC: entry})

    def set_tls(self, cpu: Cpu, value: int) -> None:
        cpu.set_reg(A.UC_ARM64_REG_TPIDR_EL0, value)

    def get_tls(self, cpu: Cpu) -> int:
        return cpu.reg(A.UC_ARM64_REG_TPIDR_EL0)

    def go_g_address(self, cpu: Cpu) -> tuple[str, int]:
        return ("reg", cpu.reg(A.UC_ARM64_REG_X28))  # R28 is Go's g register on arm64

    def auxv_extras(self) -> list[tuple[int, int | bytes]]:
        from loader.stack import AT

        return [(AT.HWCAP, HWCAP), (AT.HWCAP2, 0), (AT.PLATFORM, self.platform)]

    def map_special_pages(self, vm: AddressSpace, mem: GuestMemory) -> None:
        page = SIGRETURN_CODE + bytes(4096 - len(SIGRETURN_CODE))
        vm.map_fixed(SIGRETURN_PAGE, 4096, PROT_READ | PROT_EXEC, name="[vdso]", data=page)

    # Signals -----------------------------------------------------------------------------

    def setup_signal_frame(self, cpu: Cpu, mem: GuestMemory, task: Task, info: SigInfo,
                           action: SigAction, saved_mask: int) -> None:
        xregs = [cpu.reg(r) for r in XREGS]
        sp = cpu.sp
        pc = cpu.pc
        nzcv = cpu.reg(A.UC_ARM64_REG_NZCV) & NZCV_MASK
        alt = task.altstack
        on_alt = alt.contains(sp)
        top = sp
        if action.flags & SA_ONSTACK and alt.enabled and not on_alt:
            top = alt.sp + alt.size
        record = (top - FRAME_RECORD_SIZE) & ~15
        frame = (record - RT_SIGFRAME_SIZE) & ~15
        uc_addr = frame + SIGINFO_SIZE
        fault = info.addr if info.addr is not None and info.signo in (4, 5, 7, 8, 11) else 0
        alt_flags = 1 if on_alt else (2 if not alt.enabled else 0)
        ucontext = bytearray(UCONTEXT_SIZE)
        struct.pack_into("<QQQi4xQQ", ucontext, 0, 0, 0, alt.sp, alt_flags, alt.size,
                         saved_mask)
        struct.pack_into("<Q31QQQQ", ucontext, UC_MCONTEXT, fault, *xregs, sp, pc, nzcv)
        records = UC_MCONTEXT + SIGCONTEXT_RESERVED
        ucontext[records:records + FPSIMD_SIZE] = self._fpsimd_record(cpu)
        records += FPSIMD_SIZE
        if info.error_code and info.signo in (4, 5, 7, 8, 11):
            struct.pack_into("<IIQ", ucontext, records, ESR_MAGIC, ESR_SIZE, info.error_code)
            records += ESR_SIZE
        # The terminator is the zeroed record already there.
        siginfo = pack_siginfo(8, info.signo, info.code, info.errno, pid=info.pid,
                               uid=info.uid, addr=info.addr, status=info.status,
                               timerid=info.timerid, overrun=info.overrun, value=info.value)
        mem.write(frame, siginfo + bytes(ucontext))
        mem.write(record, struct.pack("<QQ", xregs[29], xregs[30]))
        lr = action.restorer if action.flags & SA_RESTORER else SIGRETURN_PAGE
        cpu.set_regs({A.UC_ARM64_REG_X0: info.signo, A.UC_ARM64_REG_X1: frame,
                      A.UC_ARM64_REG_X2: uc_addr, A.UC_ARM64_REG_X29: record,
                      A.UC_ARM64_REG_X30: lr, A.UC_ARM64_REG_SP: frame,
                      A.UC_ARM64_REG_PC: action.handler})

    def restore_signal_frame(self, cpu: Cpu, mem: GuestMemory, task: Task) -> int:
        uc_addr = cpu.sp + SIGINFO_SIZE
        raw = mem.read(uc_addr, UCONTEXT_SIZE)
        mask = struct.unpack_from("<Q", raw, UC_SIGMASK)[0]
        _fault, *rest = struct.unpack_from("<Q31QQQQ", raw, UC_MCONTEXT)
        xregs, (sp, pc, pstate) = rest[:31], rest[31:]
        values = dict(zip(XREGS, xregs, strict=True))
        values[A.UC_ARM64_REG_SP] = sp
        values[A.UC_ARM64_REG_PC] = pc
        old = cpu.reg(A.UC_ARM64_REG_NZCV)
        values[A.UC_ARM64_REG_NZCV] = (old & ~NZCV_MASK) | (pstate & NZCV_MASK)
        cpu.set_regs(values)
        offset = UC_MCONTEXT + SIGCONTEXT_RESERVED
        end = offset + RESERVED_SIZE
        while offset + 8 <= end:
            magic, size = struct.unpack_from("<II", raw, offset)
            if magic == 0 or size < 8:
                break
            if magic == FPSIMD_MAGIC and size == FPSIMD_SIZE:
                self._restore_fpsimd(cpu, raw[offset:offset + FPSIMD_SIZE])
            offset += size
        return int(mask)

    def _fpsimd_record(self, cpu: Cpu) -> bytes:
        body = struct.pack("<IIII", FPSIMD_MAGIC, FPSIMD_SIZE, cpu.reg(A.UC_ARM64_REG_FPSR),
                           cpu.reg(A.UC_ARM64_REG_FPCR))
        return body + b"".join(int(cpu.uc.reg_read(q)).to_bytes(16, "little") for q in QREGS)

    def _restore_fpsimd(self, cpu: Cpu, raw: bytes) -> None:
        fpsr, fpcr = struct.unpack_from("<II", raw, 8)
        cpu.set_reg(A.UC_ARM64_REG_FPSR, fpsr)
        cpu.set_reg(A.UC_ARM64_REG_FPCR, fpcr)
        for i, q in enumerate(QREGS):
            cpu.uc.reg_write(q, int.from_bytes(raw[16 + 16 * i:32 + 16 * i], "little"))

    # Faults ------------------------------------------------------------------------------

    def fault_trapno(self, write: bool, fetch: bool) -> tuple[int, int]:
        # arm64 has no trap number; the second value is the ESR the frame's esr_context
        # carries. Unicorn does not say whether a mapped page was a permission fault,
        # so a translation fault is reported.
        if fetch:
            return 0, ESR_EC_IABT_LOW | ESR_IL | FSC_TRANSLATION
        return 0, ESR_EC_DABT_LOW | ESR_IL | (ESR_WNR if write else 0) | FSC_TRANSLATION

"""i386 as an x86-64 kernel runs it: INT 0x80, %gs TLS through the GDT, the ia32 rt_sigframe.

Syscall ABI (arch/x86/entry/entry_32.S, the int 0x80 path): number in eax, arguments in
ebx, ecx, edx, esi, edi, ebp, result in eax; INT is a trap, so the hook sees EIP past
the 2-byte instruction. Go's 386 port (and glibc) use ``int $0x80``.

TLS: set_thread_area puts a descriptor into one of three GDT slots (12-14 on an x86-64
kernel) and the program loads %gs with its selector. Those slots are per thread in
Linux (switched with the thread), so here every thread that installs a TLS descriptor
gets a GDT of its own, and the GDTR — part of the CPU state saved and restored with
each thread — points at it. The GDTs live above the user address range, where no
guest mapping can reach; a new thread shares its parent's until it installs its own
(clone copies the parent's TLS slots, as copy_thread does).

Signal frame (ia32_setup_rt_frame): below the interrupted ESP, the FPU state (the
legacy fsave header then a 64-byte-aligned fxsave image), then ``struct rt_sigframe_ia32
{ pretcode, sig, pinfo, puc, siginfo, ucontext_ia32, retcode[8] }`` placed so that ESP+4
is 16-byte aligned at the handler's entry, as after a call.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from unicorn import UC_ARCH_X86, UC_HOOK_INTR, UC_MODE_32, UC_PROT_READ, Uc
from unicorn import x86_const as X
from unicorn.unicorn_py3.unicorn import HOOK_INTR_CFUNC

from emulator.arch.base import Arch, Layout, UnwindParams
from emulator.arch.fxsave import FXSAVE_SIZE, fxrstor, fxsave
from emulator.arch.x86_64 import FIX_EFLAGS, TRAP_KINDS, X86_TRAP_PF
from emulator.cpu import Trap
from loader.elf import ElfClass, Machine
from loader.sysroot import SysrootDefault
from syscalls.abi import I386, SA_ONSTACK, SA_RESTORER
from syscalls.errno import Errno, SyscallError
from syscalls.structs import pack_siginfo

if TYPE_CHECKING:
    from emulator.cpu import Cpu
    from syscalls.kernel.memory import GuestMemory
    from syscalls.kernel.signals import SigAction, SigInfo
    from syscalls.kernel.task import Task

SYSCALL_VECTOR = 0x80
NR_RT_SIGRETURN = 173

# Per-thread GDTs: slots of GDT_STRIDE bytes in the top 64 KiB, above TASK_SIZE.
GDT_AREA = 0xFFFF0000
GDT_AREA_SIZE = 0x10000
GDT_STRIDE = 128
GDT_ENTRIES = 15  # up to the last TLS slot, 14
GDT_LIMIT = GDT_ENTRIES * 8 - 1

# struct sigcontext_32 order of the 32-bit registers after the four data selectors.
SIGCONTEXT_GPRS = (X.UC_X86_REG_EDI, X.UC_X86_REG_ESI, X.UC_X86_REG_EBP, X.UC_X86_REG_ESP,
                   X.UC_X86_REG_EBX, X.UC_X86_REG_EDX, X.UC_X86_REG_ECX, X.UC_X86_REG_EAX)
XMM_REGS = tuple(getattr(X, f"UC_X86_REG_XMM{i}") for i in range(8))

SIGINFO_SIZE = 128
UCONTEXT_SIZE = 116  # flags, link, stack_t (12), sigcontext_32 (88), sigmask (8)
RT_SIGFRAME_SIZE = 16 + SIGINFO_SIZE + UCONTEXT_SIZE + 8
SIGCONTEXT_SIZE = 88
FSAVE_HEADER_SIZE = 112  # struct fregs_state before the fxsave image (magic 0: FXSR data)
# movl $173, %eax; int $0x80 — what the kernel leaves in retcode (gdb recognises it).
RETCODE = bytes.fromhex("b8ad000000cd80") + b"\0"
# CPUID.1:EDX of a baseline CPU with SSE2 (fpu ... sse2): Go's 386 port needs SSE2.
HWCAP_BASELINE = 0x178BFBFF
AT_MINSIGSTKSZ_VALUE = 2048


# The flat segments a compat task runs with: __USER32_CS (entry 4) and __USER_DS (entry 5)
# of an x86-64 kernel. Unicorn runs guest code at CPL 0, and SS must be a descriptor of
# the current privilege level, so SS gets a ring-0 flat data segment of its own (entry 6):
# without a 32-bit ("B") stack segment every stack access would wrap at 64 KiB.
USER32_CS = 0x23
USER_DS = 0x2B
STACK_SS = 0x30


def flat_descriptor(access: int) -> int:
    """Base 0, limit 4 GiB (in pages), 32-bit, with the accessed bit already set."""
    return 0xFFFF | (access << 40) | (0xF << 48) | (0xC << 52)


def descriptor_base(descriptor: int) -> int:
    low, high = descriptor & 0xFFFFFFFF, descriptor >> 32
    return (low >> 16) | ((high & 0xFF) << 16) | (high & 0xFF000000)


class I386(Arch):
    name = "i386"
    machine = Machine.I386
    elf_class = ElfClass.ELF32
    abi = I386
    sysroot = SysrootDefault(native_machines=("i686", "i386"),
                             cross_root="/usr/i686-linux-gnu", package="libc6-i386-cross")
    layout = Layout(
        # IA32_PAGE_OFFSET is 0xFFFFE000; the top 64 KiB hold the per-thread GDTs here.
        task_size=GDT_AREA,
        stack_top=GDT_AREA,
        stack_size=8 << 20,
        mmap_base=0xF7FFF000,
        # ELF_ET_DYN_BASE for ia32 tasks (arch/x86/include/asm/elf.h).
        dyn_base=0x400000,
        mmap_min=0x1000,
    )
    # No LR: return addresses are on the stack, as on amd64.
    unwind = UnwindParams(uses_lr=False, ptr_size=4, min_frame=0)
    pc_reg = X.UC_X86_REG_EIP
    sp_reg = X.UC_X86_REG_ESP
    ret_reg = X.UC_X86_REG_EAX
    syscall_regs = (X.UC_X86_REG_EAX, X.UC_X86_REG_EBX, X.UC_X86_REG_ECX, X.UC_X86_REG_EDX,
                    X.UC_X86_REG_ESI, X.UC_X86_REG_EDI, X.UC_X86_REG_EBP)
    syscall_trap = SYSCALL_VECTOR

    capstone_mode = ("CS_ARCH_X86", "CS_MODE_32")

    # Inside the GDT area, which is mapped read-only and never executed.
    never_address = 0xFFFFFFF0
    platform = b"i686"

    def __init__(self) -> None:
        self._gdt_users: dict[int, int] = {}
        """GDT slot address -> how many threads may be using it."""

    def create_uc(self) -> Uc:
        uc = Uc(UC_ARCH_X86, UC_MODE_32)
        uc.mem_map(GDT_AREA, GDT_AREA_SIZE, UC_PROT_READ)
        gdt = struct.pack("<4x4xQQQQQQ", 0, 0, 0, flat_descriptor(0xFB),
                          flat_descriptor(0xF3), flat_descriptor(0x93))
        uc.mem_write(GDT_AREA, gdt)
        uc.reg_write(X.UC_X86_REG_GDTR, (0, GDT_AREA, GDT_LIMIT, 0))
        uc.reg_write(X.UC_X86_REG_SS, STACK_SS)
        for reg in (X.UC_X86_REG_DS, X.UC_X86_REG_ES):
            uc.reg_write(reg, USER_DS)
        uc.reg_write(X.UC_X86_REG_CS, USER32_CS)
        self._gdt_users = {GDT_AREA: 1}
        return uc

    def install_hooks(self, cpu: Cpu) -> None:
        def on_interrupt(intno: int) -> None:
            if intno == SYSCALL_VECTOR:
                cpu.on_syscall()
                return
            kind = TRAP_KINDS.get(intno, "segv")
            cpu.trap = Trap(kind, cpu.pc, intno)
            cpu.stop()

        cpu.add_syscall_hook(UC_HOOK_INTR, HOOK_INTR_CFUNC, on_interrupt)

    def resume_address(self, cpu: Cpu) -> int:
        return cpu.pc

    def syscall_insn_size(self, cpu: Cpu) -> int:
        return 2

    def initial_registers(self, cpu: Cpu, entry: int, sp: int) -> None:
        # start_thread() and ELF_PLAT_INIT: every general register zero but EIP and ESP.
        regs = dict.fromkeys(SIGCONTEXT_GPRS, 0)
        regs[X.UC_X86_REG_ESP] = sp
        regs[X.UC_X86_REG_EIP] = entry
        cpu.set_regs(regs)

    # TLS ---------------------------------------------------------------------------------

    def _gdt(self, cpu: Cpu) -> int:
        return int(cpu.uc.reg_read(X.UC_X86_REG_GDTR)[1])

    def set_tls_entry(self, cpu: Cpu, entry: int, descriptor: int) -> None:
        gdt = self._gdt(cpu)
        if self._gdt_users.get(gdt, 0) > 1:
            # Shared with the thread it was inherited from: this thread gets its own copy.
            free = next((a for a in range(GDT_AREA, GDT_AREA + GDT_AREA_SIZE, GDT_STRIDE)
                         if a not in self._gdt_users), None)
            if free is None:
                raise SyscallError(Errno.ENOMEM, "no GDT left for another thread's TLS")
            cpu.uc.mem_write(free, bytes(cpu.uc.mem_read(gdt, GDT_STRIDE)))
            self._gdt_users[gdt] -= 1
            self._gdt_users[free] = 1
            cpu.uc.reg_write(X.UC_X86_REG_GDTR, (0, free, GDT_LIMIT, 0))
            gdt = free
        cpu.uc.mem_write(gdt + 8 * entry, struct.pack("<Q", descriptor))

    def get_tls_entry(self, cpu: Cpu, entry: int) -> int:
        raw = cpu.uc.mem_read(self._gdt(cpu) + 8 * entry, 8)
        return int(struct.unpack("<Q", raw)[0])

    def clone_registers(self, cpu: Cpu, child_pc: int, stack: int, tls: int | None
                        ) -> dict[int, int]:
        gdt = self._gdt(cpu)
        self._gdt_users[gdt] = self._gdt_users.get(gdt, 0) + 1
        return super().clone_registers(cpu, child_pc, stack, tls)

    def gs_base(self, cpu: Cpu) -> int:
        selector = cpu.reg(X.UC_X86_REG_GS)
        if selector >> 3 == 0 or selector & 4:
            return 0
        return descriptor_base(self.get_tls_entry(cpu, selector >> 3))

    def set_tls(self, cpu: Cpu, value: int) -> None:
        # clone's CLONE_SETTLS argument on i386 is a struct user_desc pointer, installed
        # in the new thread's own GDT as set_thread_area would (without allocating a slot).
        from syscalls.arch_i386 import (
            GDT_ENTRY_TLS_ENTRIES,
            GDT_ENTRY_TLS_MIN,
            USER_DESC_SIZE,
            UserDesc,
            descriptor_of,
        )

        desc = UserDesc.unpack(bytes(cpu.uc.mem_read(value, USER_DESC_SIZE)))
        if GDT_ENTRY_TLS_MIN <= desc.entry_number < GDT_ENTRY_TLS_MIN + GDT_ENTRY_TLS_ENTRIES:
            self.set_tls_entry(cpu, desc.entry_number, descriptor_of(desc))
            # The kernel reloads %gs when the thread first returns to user mode.
            selector = cpu.reg(X.UC_X86_REG_GS)
            if selector >> 3 == desc.entry_number:
                cpu.set_reg(X.UC_X86_REG_GS, selector)

    def get_tls(self, cpu: Cpu) -> int:
        return self.gs_base(cpu)

    def go_g_address(self, cpu: Cpu) -> tuple[str, int]:
        # runtime.setldt points %gs 4 bytes past m.tls so that the linker's -4(GS) is g.
        return ("mem", self.gs_base(cpu) - 4)

    def auxv_extras(self) -> list[tuple[int, int | bytes]]:
        from loader.stack import AT

        return [(AT.MINSIGSTKSZ, AT_MINSIGSTKSZ_VALUE), (AT.HWCAP, HWCAP_BASELINE),
                (AT.HWCAP2, 0), (AT.PLATFORM, self.platform)]

    # Signals -----------------------------------------------------------------------------

    def setup_signal_frame(self, cpu: Cpu, mem: GuestMemory, task: Task, info: SigInfo,
                           action: SigAction, saved_mask: int) -> None:
        gprs = [cpu.reg(r) for r in SIGCONTEXT_GPRS]
        esp = gprs[3]
        eip = cpu.pc
        eflags = cpu.reg(X.UC_X86_REG_EFLAGS)
        alt = task.altstack
        on_alt = alt.contains(esp)
        sp = esp
        if action.flags & SA_ONSTACK and alt.enabled and not on_alt:
            sp = alt.sp + alt.size
        fx_addr = (sp - FXSAVE_SIZE) & ~63
        fp_addr = fx_addr - FSAVE_HEADER_SIZE
        frame = ((fp_addr - RT_SIGFRAME_SIZE + 4) & ~15) - 4
        info_addr = frame + 16
        uc_addr = info_addr + SIGINFO_SIZE
        mem.write(fp_addr, bytes(FSAVE_HEADER_SIZE) + fxsave(cpu, XMM_REGS))
        cr2 = info.addr if info.addr is not None and info.signo in (11, 7) else 0
        segs = [cpu.reg(r) & 0xFFFF for r in (X.UC_X86_REG_GS, X.UC_X86_REG_FS,
                                                X.UC_X86_REG_ES, X.UC_X86_REG_DS)]
        sigcontext = struct.pack("<4I", *segs) + struct.pack("<8I", *gprs)
        sigcontext += struct.pack("<IIIIIIIIII", info.trapno, info.error_code, eip,
                                  cpu.reg(X.UC_X86_REG_CS) & 0xFFFF, eflags, esp,
                                  cpu.reg(X.UC_X86_REG_SS) & 0xFFFF, fp_addr,
                                  saved_mask & 0xFFFFFFFF, cr2)
        assert len(sigcontext) == SIGCONTEXT_SIZE
        alt_flags = 1 if on_alt else (2 if not alt.enabled else 0)
        ucontext = struct.pack("<IIIiI", 0, 0, alt.sp, alt_flags, alt.size) + sigcontext
        ucontext += struct.pack("<Q", saved_mask)
        siginfo = pack_siginfo(4, info.signo, info.code, info.errno, pid=info.pid,
                               uid=info.uid, addr=info.addr, status=info.status,
                               timerid=info.timerid, overrun=info.overrun, value=info.value)
        # Without SA_RESTORER the kernel returns through the vDSO; elftrace has none, so
        # the handler returns to the retcode in the frame (what kernels without a vDSO did).
        restorer = action.restorer if action.flags & SA_RESTORER else uc_addr + UCONTEXT_SIZE
        head = struct.pack("<IiII", restorer, info.signo, info_addr, uc_addr)
        mem.write(frame, head + siginfo + ucontext + RETCODE)
        cpu.set_regs({X.UC_X86_REG_EAX: info.signo, X.UC_X86_REG_EDX: info_addr,
                      X.UC_X86_REG_ECX: uc_addr, X.UC_X86_REG_ESP: frame,
                      X.UC_X86_REG_EIP: action.handler,
                      X.UC_X86_REG_EFLAGS: eflags & ~(0x100 | 0x400 | 0x40000)})

    def restore_signal_frame(self, cpu: Cpu, mem: GuestMemory, task: Task) -> int:
        # The handler's `ret` popped pretcode: the frame starts 4 bytes below ESP.
        frame = cpu.sp - 4
        uc_addr = frame + 16 + SIGINFO_SIZE
        raw = mem.read(uc_addr, UCONTEXT_SIZE)
        sc = 20
        gs = struct.unpack_from("<I", raw, sc)[0] & 0xFFFF
        gprs = struct.unpack_from("<8I", raw, sc + 16)
        _trapno, _err, eip, _cs, eflags, _sp_at_signal, _ss, fp_addr, _oldmask, _cr2 = (
            struct.unpack_from("<10I", raw, sc + 48))
        mask = struct.unpack_from("<Q", raw, sc + SIGCONTEXT_SIZE)[0]
        values = dict(zip(SIGCONTEXT_GPRS, gprs, strict=True))
        values[X.UC_X86_REG_EIP] = eip
        old_flags = cpu.reg(X.UC_X86_REG_EFLAGS)
        values[X.UC_X86_REG_EFLAGS] = (old_flags & ~FIX_EFLAGS) | (eflags & FIX_EFLAGS)
        if gs != cpu.reg(X.UC_X86_REG_GS) & 0xFFFF:
            values[X.UC_X86_REG_GS] = gs
        cpu.set_regs(values)
        if fp_addr:
            fxrstor(cpu, mem.read(fp_addr + FSAVE_HEADER_SIZE, FXSAVE_SIZE), XMM_REGS)
        return int(mask)

    def fault_trapno(self, write: bool, fetch: bool) -> tuple[int, int]:
        # Page-fault error code: bit 1 write, bit 2 user mode, bit 4 instruction fetch.
        return X86_TRAP_PF, 0x4 | (0x2 if write else 0) | (0x10 if fetch else 0)

"""x86-64: SYSCALL, FS-base TLS, and the rt_sigframe of arch/x86/kernel/signal_64.c.

Syscall ABI (arch/x86/entry/entry_64.S): number in rax, arguments in rdi, rsi, rdx,
r10, r8, r9, result in rax. Unicorn runs the SYSCALL hook with RIP still at the
instruction and adds its length (2) afterwards. Signal frame (x86_64_setup_rt_frame):
below the 128-byte red zone (or at the top of the alternate stack) an fxsave area,
then ``struct rt_sigframe { char *pretcode; struct ucontext uc; struct siginfo info; }``
with RSP 16-byte aligned minus 8, as if the handler had been called.
"""

from __future__ import annotations

import ctypes
import struct
from typing import TYPE_CHECKING

from unicorn import UC_ARCH_X86, UC_HOOK_INSN, UC_HOOK_INTR, UC_MODE_64, Uc
from unicorn import x86_const as X
from unicorn.unicorn_py3.unicorn import HOOK_INTR_CFUNC, uc_engine

from emulator.arch.base import Arch, Layout, UnwindParams
from emulator.arch.fxsave import FXSAVE_SIZE, fxrstor, fxsave
from emulator.cpu import Trap
from loader.elf import ElfClass, Machine
from loader.sysroot import SysrootDefault
from syscalls.abi import SA_ONSTACK, SA_RESTORER, X86_64
from syscalls.kernel.signals import SigAction, SigInfo
from syscalls.structs import pack_siginfo

if TYPE_CHECKING:
    from emulator.cpu import Cpu
    from syscalls.kernel.memory import GuestMemory
    from syscalls.kernel.task import Task

# The order of the general registers in struct sigcontext (arch/x86/include/uapi/asm/sigcontext.h).
SIGCONTEXT_GPRS = (X.UC_X86_REG_R8, X.UC_X86_REG_R9, X.UC_X86_REG_R10, X.UC_X86_REG_R11,
                   X.UC_X86_REG_R12, X.UC_X86_REG_R13, X.UC_X86_REG_R14, X.UC_X86_REG_R15,
                   X.UC_X86_REG_RDI, X.UC_X86_REG_RSI, X.UC_X86_REG_RBP, X.UC_X86_REG_RBX,
                   X.UC_X86_REG_RDX, X.UC_X86_REG_RAX, X.UC_X86_REG_RCX, X.UC_X86_REG_RSP,
                   X.UC_X86_REG_RIP, X.UC_X86_REG_EFLAGS)
XMM_REGS = tuple(getattr(X, f"UC_X86_REG_XMM{i}") for i in range(16))

HOOK_INSN_SYSCALL_CFUNC = ctypes.CFUNCTYPE(None, uc_engine, ctypes.c_void_p)
UCONTEXT_SIZE = 304  # uc_flags, uc_link, uc_stack (24), uc_mcontext (256), uc_sigmask (8)
RT_SIGFRAME_SIZE = 8 + UCONTEXT_SIZE + 128
REDZONE = 128
UC_SIGCONTEXT_SS = 0x2
UC_STRICT_RESTORE_SS = 0x4
USER_CS = 0x33
USER_DS = 0x2B
# EFLAGS bits a signal return may restore (arch/x86/kernel/signal.c: FIX_EFLAGS).
FIX_EFLAGS = 0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x100 | 0x400 | 0x800 | 0x10000 | 0x40000
X86_TRAP_DE = 0
X86_TRAP_DB = 1
X86_TRAP_BP = 3
X86_TRAP_OF = 4
X86_TRAP_UD = 6
X86_TRAP_GP = 13
X86_TRAP_PF = 14
X86_TRAP_MF = 16
X86_TRAP_AC = 17
X86_TRAP_XF = 19
# CPUID.1:EDX of a baseline x86-64 CPU (fpu ... sse2), what AT_HWCAP carries on x86.
HWCAP_BASELINE = 0x178BFBFF
AT_MINSIGSTKSZ_VALUE = 2048

TRAP_KINDS = {
    X86_TRAP_DE: "divide",
    X86_TRAP_DB: "debug",
    X86_TRAP_BP: "breakpoint",
    X86_TRAP_OF: "overflow",
    X86_TRAP_UD: "illegal",
    X86_TRAP_GP: "segv",
    X86_TRAP_MF: "fpe",
    X86_TRAP_AC: "bus",
    X86_TRAP_XF: "fpe",
}


class X86_64(Arch):
    name = "x86_64"
    machine = Machine.X86_64
    elf_class = ElfClass.ELF64
    abi = X86_64
    sysroot = SysrootDefault(native_machines=("x86_64",),
                             cross_root="/usr/x86_64-linux-gnu", package="libc6-amd64-cross")
    layout = Layout(
        task_size=0x7FFFFFFFF000,
        stack_top=0x7FFFFFFFF000,
        stack_size=8 << 20,
        # mmap_base = TASK_SIZE - rlimit stack gap (128 MiB minimum) below the stack.
        mmap_base=0x7FFFF7FFF000,
        # ELF_ET_DYN_BASE = 2/3 of the 47-bit address space (arch/x86/include/asm/elf.h).
        dyn_base=0x555555554AAA,
    )
    unwind = UnwindParams(uses_lr=False, ptr_size=8, min_frame=0)
    pc_reg = X.UC_X86_REG_RIP
    sp_reg = X.UC_X86_REG_RSP
    ret_reg = X.UC_X86_REG_RAX
    call_arg_regs = (X.UC_X86_REG_RDI, X.UC_X86_REG_RSI, X.UC_X86_REG_RDX, X.UC_X86_REG_RCX,
                     X.UC_X86_REG_R8, X.UC_X86_REG_R9)
    """psABI §3.2.3: the first six integer arguments of a function call."""
    syscall_regs = (X.UC_X86_REG_RAX, X.UC_X86_REG_RDI, X.UC_X86_REG_RSI, X.UC_X86_REG_RDX,
                    X.UC_X86_REG_R10, X.UC_X86_REG_R8, X.UC_X86_REG_R9)

    capstone_mode = ("CS_ARCH_X86", "CS_MODE_64")

    # Non-canonical: no instruction can ever be fetched from it.
    never_address = 0xFFFF800000000000
    platform = b"x86_64"
    hook_pc_lag = 2

    def create_uc(self) -> Uc:
        return Uc(UC_ARCH_X86, UC_MODE_64)

    def install_hooks(self, cpu: Cpu) -> None:
        def on_syscall() -> None:
            cpu.on_syscall()

        def on_interrupt(intno: int) -> None:
            kind = TRAP_KINDS.get(intno, "segv")
            cpu.trap = Trap(kind, cpu.pc, intno)
            cpu.stop()

        cpu.add_syscall_hook(UC_HOOK_INSN, HOOK_INSN_SYSCALL_CFUNC, on_syscall, 1, 0,
                             X.UC_X86_INS_SYSCALL)
        cpu.add_hook(UC_HOOK_INTR, HOOK_INTR_CFUNC, on_interrupt)

    def resume_address(self, cpu: Cpu) -> int:
        return cpu.pc

    def syscall_insn_size(self, cpu: Cpu) -> int:
        return 2

    def initial_registers(self, cpu: Cpu, entry: int, sp: int) -> None:
        # start_thread(): everything zero but RIP and RSP; ELF_PLAT_INIT clears RDX too.
        cpu.set_regs({X.UC_X86_REG_RSP: sp, X.UC_X86_REG_RIP: entry, X.UC_X86_REG_RDX: 0})

    def set_tls(self, cpu: Cpu, value: int) -> None:
        cpu.set_reg(X.UC_X86_REG_FS_BASE, value)

    def get_tls(self, cpu: Cpu) -> int:
        return cpu.reg(X.UC_X86_REG_FS_BASE)

    def go_g_address(self, cpu: Cpu) -> tuple[str, int]:
        # linux/amd64 keeps g in the thread-local slot at -8 from the FS base
        # (runtime.tlsg; R14 holds it only inside ABIInternal code).
        return ("mem", cpu.reg(X.UC_X86_REG_FS_BASE) - 8)

    def auxv_extras(self) -> list[tuple[int, int | bytes]]:
        from loader.stack import AT

        return [(AT.MINSIGSTKSZ, AT_MINSIGSTKSZ_VALUE), (AT.HWCAP, HWCAP_BASELINE),
                (AT.HWCAP2, 0), (AT.PLATFORM, self.platform)]

    # Signals -----------------------------------------------------------------------------

    def setup_signal_frame(self, cpu: Cpu, mem: GuestMemory, task: Task, info: SigInfo,
                           action: SigAction, saved_mask: int) -> None:
        gprs = [cpu.reg(r) for r in SIGCONTEXT_GPRS]
        rsp = gprs[15]
        alt = task.altstack
        on_alt = alt.contains(rsp)
        sp = rsp - REDZONE
        if action.flags & SA_ONSTACK and alt.enabled and not on_alt:
            sp = alt.sp + alt.size
        fp_addr = (sp - FXSAVE_SIZE) & ~63
        frame = ((fp_addr - RT_SIGFRAME_SIZE) & ~15) - 8
        uc_addr = frame + 8
        info_addr = uc_addr + UCONTEXT_SIZE
        mem.write(fp_addr, fxsave(cpu, XMM_REGS))
        trapno = info.trapno
        err = info.error_code
        cr2 = info.addr if info.addr is not None and info.signo in (11, 7) else 0
        alt_flags = 1 if on_alt else (2 if not alt.enabled else 0)
        sigcontext = struct.pack("<18Q", *gprs) + struct.pack(
            "<HHHHQQQQQ", USER_CS, 0, 0, USER_DS, err, trapno, saved_mask & 0xFFFFFFFF, cr2,
            fp_addr) + bytes(64)
        ucontext = struct.pack("<QQQi4xQ", UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS, 0, alt.sp,
                               alt_flags, alt.size) + sigcontext + struct.pack("<Q", saved_mask)
        assert len(ucontext) == UCONTEXT_SIZE
        siginfo = pack_siginfo(8, info.signo, info.code, info.errno, pid=info.pid,
                               uid=info.uid, addr=info.addr, status=info.status,
                               timerid=info.timerid, overrun=info.overrun, value=info.value)
        restorer = action.restorer if action.flags & SA_RESTORER else 0
        mem.write(frame, struct.pack("<Q", restorer) + ucontext + siginfo)
        eflags = gprs[17] & ~(0x100 | 0x400 | 0x40000)  # clear TF, DF, AC as the kernel does
        cpu.set_regs({X.UC_X86_REG_RDI: info.signo, X.UC_X86_REG_RSI: info_addr,
                      X.UC_X86_REG_RDX: uc_addr, X.UC_X86_REG_RAX: 0,
                      X.UC_X86_REG_RSP: frame, X.UC_X86_REG_RIP: action.handler,
                      X.UC_X86_REG_EFLAGS: eflags})

    def restore_signal_frame(self, cpu: Cpu, mem: GuestMemory, task: Task) -> int:
        frame = cpu.sp - 8
        uc_addr = frame + 8
        raw = mem.read(uc_addr, UCONTEXT_SIZE)
        gprs = struct.unpack_from("<18Q", raw, 40)
        err_trap = struct.unpack_from("<HHHHQQQQQ", raw, 40 + 18 * 8)
        fp_addr = err_trap[8]
        mask = struct.unpack_from("<Q", raw, 296)[0]
        old_flags = cpu.reg(X.UC_X86_REG_EFLAGS)
        values = dict(zip(SIGCONTEXT_GPRS, gprs, strict=True))
        values[X.UC_X86_REG_EFLAGS] = (old_flags & ~FIX_EFLAGS) | (gprs[17] & FIX_EFLAGS)
        cpu.set_regs(values)
        if fp_addr:
            fxrstor(cpu, mem.read(fp_addr, FXSAVE_SIZE), XMM_REGS)
        return int(mask)

    def fault_trapno(self, write: bool, fetch: bool) -> tuple[int, int]:
        # Page-fault error code: bit 1 write, bit 2 user mode, bit 4 instruction fetch.
        return X86_TRAP_PF, 0x4 | (0x2 if write else 0) | (0x10 if fetch else 0)


"""What an architecture is to the emulator: one object that owns everything that differs.

Each concrete Arch (x86_64.py, arm.py) supplies the Unicorn and Capstone modes, the
register ids (pc, sp, return value, syscall number and arguments), where the PC
stands when the syscall hook runs and how to rewind it for a restart, TLS, the
initial registers and auxv entries, special pages (ARM's kernel helpers), the Linux
signal frame layout, the memory layout defaults (Linux's ELF_ET_DYN_BASE, stack top,
mmap base), its relocation table (in loader.relocations) and its syscall ABI data
(syscalls.abi). Generic code asks the Arch; it never tests which one it has.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loader.elf import PF_X
from loader.sysroot import SysrootDefault
from syscalls.abi import LinuxAbi

if TYPE_CHECKING:
    from unicorn import Uc

    from emulator.cpu import Cpu
    from syscalls.kernel.memory import GuestMemory
    from syscalls.kernel.signals import SigAction, SigInfo
    from syscalls.kernel.task import Task
    from syscalls.kernel.vm import AddressSpace


@dataclass(frozen=True, slots=True)
class Layout:
    """Address-space defaults, as Linux lays out a process without ASLR."""

    task_size: int
    stack_top: int
    stack_size: int
    mmap_base: int
    dyn_base: int
    """ELF_ET_DYN_BASE: where an ET_DYN program is placed."""
    mmap_min: int = 0x10000


@dataclass(frozen=True, slots=True)
class UnwindParams:
    """What the Go unwinder needs to know (runtime/traceback.go's usesLR and friends)."""

    uses_lr: bool
    ptr_size: int
    min_frame: int
    pushed_lr_size: int = 0
    """Bytes runtime.sigctxt.pushCall moves SP down to save LR (LR machines), when it
    differs from max(min_frame, ptr_size): 16 on arm64, which keeps SP 16-byte aligned."""


class Arch(ABC):
    name: str
    machine: int
    """e_machine this Arch runs."""
    elf_class: int
    """1 for ELFCLASS32, 2 for ELFCLASS64."""
    abi: LinuxAbi
    layout: Layout
    sysroot: SysrootDefault
    """The guest root for dynamically linked programs when --sysroot is not given."""
    unwind: UnwindParams
    pc_reg: int
    sp_reg: int
    lr_reg: int | None = None
    """The link register, on architectures that have one."""
    ret_reg: int
    call_arg_regs: tuple[int, ...] = ()
    """The registers holding a C function's first integer arguments (--ltrace)."""
    syscall_regs: tuple[int, ...]
    """The syscall number register, then the argument registers in order."""
    syscall_trap: int = 0
    """The interrupt number syscalls arrive with through the interrupt hook (0: they have
    an instruction hook of their own, x86-64's SYSCALL)."""

    capstone_mode: tuple[str, str]
    """Capstone's names for this architecture and mode (CS_ARCH_*, CS_MODE_*)."""

    def disassembler(self) -> Any:
        """A capstone disassembler for guest code; capstone is imported only when asked
        (~25-50 ms of start-up nobody else needs)."""
        import capstone

        arch, mode = self.capstone_mode
        return capstone.Cs(getattr(capstone, arch), getattr(capstone, mode))

    never_address: int
    """An address guest code cannot reach, given to emu_start as its stop address."""
    platform: bytes
    """AT_PLATFORM."""

    @property
    def word_size(self) -> int:
        return self.abi.word_size

    # CPU ---------------------------------------------------------------------------------

    @abstractmethod
    def create_uc(self) -> Uc:
        """A Unicorn engine in the state a user-mode Linux process starts in."""

    @abstractmethod
    def install_hooks(self, cpu: Cpu) -> None:
        """Install the syscall trap and the architecture's trap hooks on ``cpu``."""

    @abstractmethod
    def resume_address(self, cpu: Cpu) -> int:
        """The address to give emu_start to continue the current thread (Thumb bit on ARM)."""

    @abstractmethod
    def syscall_insn_size(self, cpu: Cpu) -> int:
        """Bytes to rewind the PC by to re-execute the syscall instruction just trapped."""

    hook_pc_lag: int = 0
    """How far the PC seen inside the syscall hook is *before* where the thread resumes
    (x86-64: the hook runs at the SYSCALL instruction, Unicorn then adds 2)."""

    @abstractmethod
    def initial_registers(self, cpu: Cpu, entry: int, sp: int) -> None:
        """Set up registers for the program's entry point, as the kernel's start_thread."""

    @abstractmethod
    def set_tls(self, cpu: Cpu, value: int) -> None: ...

    @abstractmethod
    def get_tls(self, cpu: Cpu) -> int: ...

    def set_tls_entry(self, cpu: Cpu, entry: int, descriptor: int) -> None:
        """Install a TLS segment descriptor (i386's set_thread_area); others have none."""
        raise NotImplementedError(f"{self.name} has no TLS segment descriptors")

    def get_tls_entry(self, cpu: Cpu, entry: int) -> int:
        raise NotImplementedError(f"{self.name} has no TLS segment descriptors")

    def pc_value(self, cpu: Cpu, pc: int) -> int:
        """The value to write to the PC register to continue at ``pc`` in the current mode."""
        return pc

    def clone_registers(self, cpu: Cpu, child_pc: int, stack: int, tls: int | None
                        ) -> dict[int, int]:
        """Registers a new thread starts with, on top of a copy of its parent's."""
        regs = {self.pc_reg: self.pc_value(cpu, child_pc), self.ret_reg: 0}
        if stack:
            regs[self.sp_reg] = stack
        return regs

    def go_g_address(self, cpu: Cpu) -> tuple[str, int]:
        """Where the Go runtime keeps the current g: ("reg", value) or ("mem", address)."""
        return ("reg", 0)

    # Process set-up ----------------------------------------------------------------------

    @abstractmethod
    def auxv_extras(self) -> list[tuple[int, int | bytes]]:
        """AT_HWCAP, AT_HWCAP2, AT_PLATFORM and the like."""

    def stack_is_executable(self, gnu_stack_flags: int | None) -> bool:
        """Whether the initial stack gets PROT_EXEC, from PT_GNU_STACK's flags (None: the
        header is absent). x86-64 (since Linux 5.8): only when the header asks for it."""
        return gnu_stack_flags is not None and bool(gnu_stack_flags & PF_X)

    def map_special_pages(self, vm: AddressSpace, mem: GuestMemory) -> None:  # noqa: B027
        """Map pages the kernel provides to every process (ARM's kuser helpers); most
        architectures have none."""

    # Signals -----------------------------------------------------------------------------

    @abstractmethod
    def setup_signal_frame(self, cpu: Cpu, mem: GuestMemory, task: Task, info: SigInfo,
                           action: SigAction, saved_mask: int) -> None:
        """Write the kernel's rt_sigframe and point the registers at the handler."""

    @abstractmethod
    def restore_signal_frame(self, cpu: Cpu, mem: GuestMemory, task: Task) -> int:
        """rt_sigreturn: restore registers and mask from the frame; return the mask."""

    # Faults ------------------------------------------------------------------------------

    def fault_trapno(self, write: bool, fetch: bool) -> tuple[int, int]:
        """(trap number, error code) the CPU would report for a page fault."""
        return 0, 0

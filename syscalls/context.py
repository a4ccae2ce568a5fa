"""What a syscall handler may touch: :class:`SyscallContext`, one per guest thread.

Handlers reach the thread and its process, guest memory, the fd table and address
space, the kernel-wide services (scheduler, futexes, clock, signals) and, through the
narrow :class:`CpuServices` protocol, the few things only the CPU emulator can do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from syscalls.abi import LinuxAbi
    from syscalls.kernel.core import Kernel
    from syscalls.kernel.files import FdTable
    from syscalls.kernel.memory import GuestMemory
    from syscalls.kernel.task import Process, Task
    from syscalls.kernel.vm import AddressSpace


class CpuServices(Protocol):
    """CPU-side operations a handler can request for the calling thread."""

    def clone_thread(self, child: Task, stack: int, tls: int | None) -> None:
        """Give ``child`` a copy of the caller's registers, returning 0 on ``stack``."""

    def set_tls(self, value: int) -> None:
        """Set the caller's thread pointer (FS base on x86-64, TPIDRURO on ARM)."""

    def get_tls(self) -> int: ...

    def set_tls_entry(self, entry: int, descriptor: int) -> None:
        """Install a segment descriptor in one of the caller's GDT TLS slots (i386)."""

    def get_tls_entry(self, entry: int) -> int: ...

    def sigreturn(self, task: Task) -> None:
        """Restore the registers and signal mask saved in the signal frame at the stack."""

    def end_slice(self) -> None:
        """Return to the run loop when this call completes (registers or mask changed)."""


class SyscallContext:
    __slots__ = ("abi", "cpu", "fds", "kernel", "mem", "process", "task", "vm")

    def __init__(self, kernel: Kernel, task: Task, cpu: CpuServices) -> None:
        self.kernel = kernel
        self.task = task
        self.process: Process = task.process
        self.mem: GuestMemory = kernel.mem
        self.abi: LinuxAbi = kernel.abi
        self.fds: FdTable = task.process.fds
        self.vm: AddressSpace = task.process.vm
        self.cpu = cpu

"""Events the run loop and the dispatcher publish, and the bus observers subscribe on.

Events are delivered synchronously while the guest thread is stopped, so an observer
may read guest memory and registers (out-buffers at exit, a backtrace at entry).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from syscalls.kernel.signals import SigInfo
    from syscalls.spec import SyscallSpec


@dataclass(frozen=True, slots=True)
class SyscallEnter:
    tid: int
    number: int
    name: str
    spec: SyscallSpec
    args: tuple[int, ...]
    time: float


@dataclass(frozen=True, slots=True)
class SyscallExit:
    tid: int
    number: int
    name: str
    spec: SyscallSpec
    args: tuple[int, ...]
    result: int | None
    """The value returned (negative: -errno); None for calls that do not return."""
    time: float
    restarted: bool = False
    """Interrupted by a signal and to be restarted (strace: ``= ? ERESTARTSYS``)."""
    note: str = ""
    """Why elftrace failed the call, when it is a limitation of the emulation."""


@dataclass(frozen=True, slots=True)
class UnsupportedSyscall:
    """A number with no handler: the guest got ENOSYS (qemu-user's 'Unsupported syscall')."""

    tid: int
    number: int
    name: str | None
    args: tuple[int, ...]
    time: float


@dataclass(frozen=True, slots=True)
class SignalDelivered:
    tid: int
    info: SigInfo
    handler: int
    time: float


@dataclass(frozen=True, slots=True)
class ThreadCreated:
    parent: int
    child: int
    time: float


@dataclass(frozen=True, slots=True)
class ThreadExited:
    tid: int
    code: int
    time: float


@dataclass(frozen=True, slots=True)
class ProcessExited:
    status: int
    """A wait status: ``code << 8`` for an exit, the signal number (| 0x80 core) for a kill."""
    time: float


@dataclass(frozen=True, slots=True)
class GuestKilled:
    """The guest died of a signal; ``pc`` is where its thread was."""

    tid: int
    info: SigInfo
    pc: int
    core: bool
    time: float


E = TypeVar("E")


class EventBus:
    def __init__(self) -> None:
        self._subscribers: dict[type, list[Callable[[Any], None]]] = {}

    def subscribe(self, kind: type[E], callback: Callable[[E], None]) -> None:
        self._subscribers.setdefault(kind, []).append(callback)

    def wants(self, kind: type) -> bool:
        return bool(self._subscribers.get(kind))

    def publish(self, event: object) -> None:
        for callback in self._subscribers.get(type(event), ()):
            callback(event)


@dataclass(frozen=True, slots=True)
class LibraryCall:
    """The program called a shared library's function through its PLT (--ltrace)."""

    tid: int
    name: str
    library: str
    args: tuple[int, ...]
    """The first integer argument registers, raw (elftrace has no prototypes)."""
    caller: int
    time: float

"""Events the run loop and the dispatcher publish, and the bus observers subscribe on.

Events are delivered synchronously while the guest thread is stopped, so an observer
may read guest memory and registers (out-buffers at exit, a backtrace at entry).

Events are read-only records. They are plain ``__slots__`` classes, not dataclasses:
a traced syscall builds two of them (a frozen dataclass's ``__init__`` costs ~2 us for
six fields, this one ~0.4 us), and each dataclass costs ~0.7 ms of start-up to build.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from syscalls.kernel.signals import SigInfo
    from syscalls.spec import SyscallSpec


class _Event:
    __slots__: tuple[str, ...] = ()

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self._values()))

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"


class SyscallEnter(_Event):
    __slots__ = ("args", "name", "number", "spec", "tid", "time")

    def __init__(self, tid: int, number: int, name: str, spec: SyscallSpec,
                 args: tuple[int, ...], time: float) -> None:
        self.tid = tid
        self.number = number
        self.name = name
        self.spec = spec
        self.args = args
        self.time = time


class SyscallExit(_Event):
    __slots__ = ("args", "name", "note", "number", "restarted", "result", "spec", "tid", "time")

    def __init__(self, tid: int, number: int, name: str, spec: SyscallSpec,
                 args: tuple[int, ...], result: int | None, time: float,
                 restarted: bool = False, note: str = "") -> None:
        self.tid = tid
        self.number = number
        self.name = name
        self.spec = spec
        self.args = args
        self.result = result
        """The value returned (negative: -errno); None for calls that do not return."""
        self.time = time
        self.restarted = restarted
        """Interrupted by a signal and to be restarted (strace: ``= ? ERESTARTSYS``)."""
        self.note = note
        """Why elftrace failed the call, when it is a limitation of the emulation."""


class WritesAnswered(_Event):
    """Traced ``write`` calls the syscall gate made natively (its write lane), each
    ``(args, result, data)`` with ``data`` the buffer's first bytes as they were written.
    Published in order before any later event, so an observer sees the same sequence,
    only in a batch; only observers that took batches (:meth:`EventBus.take_write_batches`)
    ever let a traced write go that way."""

    __slots__ = ("calls", "name", "number", "spec", "tid", "time")

    def __init__(self, tid: int, number: int, name: str, spec: SyscallSpec,
                 calls: list[tuple[tuple[int, int, int], int, bytes]], time: float) -> None:
        self.tid = tid
        self.number = number
        self.name = name
        self.spec = spec
        self.calls = calls
        self.time = time


class UnsupportedSyscall(_Event):
    """A number with no handler: the guest got ENOSYS (qemu-user's 'Unsupported syscall')."""

    __slots__ = ("args", "name", "number", "tid", "time")

    def __init__(self, tid: int, number: int, name: str | None, args: tuple[int, ...],
                 time: float) -> None:
        self.tid = tid
        self.number = number
        self.name = name
        self.args = args
        self.time = time


class SignalDelivered(_Event):
    __slots__ = ("handler", "info", "tid", "time")

    def __init__(self, tid: int, info: SigInfo, handler: int, time: float) -> None:
        self.tid = tid
        self.info = info
        self.handler = handler
        self.time = time


class ThreadCreated(_Event):
    __slots__ = ("child", "parent", "time")

    def __init__(self, parent: int, child: int, time: float) -> None:
        self.parent = parent
        self.child = child
        self.time = time


class ThreadExited(_Event):
    __slots__ = ("code", "tid", "time")

    def __init__(self, tid: int, code: int, time: float) -> None:
        self.tid = tid
        self.code = code
        self.time = time


class ProcessExited(_Event):
    __slots__ = ("status", "time")

    def __init__(self, status: int, time: float) -> None:
        self.status = status
        """A wait status: ``code << 8`` for an exit, the signal number (| 0x80 core) for a
        kill."""
        self.time = time


class GuestKilled(_Event):
    """The guest died of a signal; ``pc`` is where its thread was."""

    __slots__ = ("core", "info", "pc", "tid", "time")

    def __init__(self, tid: int, info: SigInfo, pc: int, core: bool, time: float) -> None:
        self.tid = tid
        self.info = info
        self.pc = pc
        self.core = core
        self.time = time


E = TypeVar("E")


WriteCapture = Callable[[int], "int | None"]
"""An observer's answer to "may writes to this host fd reach you late, in batches?":
how many bytes of each it shows, or None for no."""


class EventBus:
    def __init__(self) -> None:
        self._subscribers: dict[type, list[Callable[[Any], None]]] = {}
        self._batchers: list[tuple[object, WriteCapture]] = []

    def subscribe(self, kind: type[E], callback: Callable[[E], None]) -> None:
        self._subscribers.setdefault(kind, []).append(callback)

    def take_write_batches(self, observer: object, callback: Callable[[WritesAnswered], None],
                           capture: WriteCapture) -> None:
        """``observer`` also takes traced writes in WritesAnswered batches, for the host fds
        ``capture`` accepts."""
        self.subscribe(WritesAnswered, callback)
        self._batchers.append((observer, capture))

    def write_capture(self, host_fd: int) -> int | None:
        """Whether traced writes to ``host_fd`` may be reported in batches, and if so how
        many bytes of each to keep: only if every observer of single calls takes batches
        and accepts that fd (an observer that times calls, or prints to the same file as
        the program, does not)."""
        if not self._batchers:
            return None
        takers = {id(observer) for observer, _ in self._batchers}
        for kind in (SyscallEnter, SyscallExit, UnsupportedSyscall, LibraryCall):
            for callback in self._subscribers.get(kind, ()):
                if id(getattr(callback, "__self__", callback)) not in takers:
                    return None
        largest = 0
        for _, capture in self._batchers:
            size = capture(host_fd)
            if size is None:
                return None
            largest = max(largest, size)
        return largest

    def wants(self, kind: type) -> bool:
        return bool(self._subscribers.get(kind))

    def clear(self) -> None:
        """Nobody observes any more (a forked child's run)."""
        self._subscribers.clear()
        self._batchers.clear()

    def publish(self, event: object) -> None:
        for callback in self._subscribers.get(type(event), ()):
            callback(event)


class LibraryCall(_Event):
    """The program called a shared library's function through its PLT (--ltrace)."""

    __slots__ = ("args", "caller", "library", "name", "tid", "time")

    def __init__(self, tid: int, name: str, library: str, args: tuple[int, ...], caller: int,
                 time: float) -> None:
        self.tid = tid
        self.name = name
        self.library = library
        self.args = args
        """The first integer argument registers, raw (elftrace has no prototypes)."""
        self.caller = caller
        self.time = time

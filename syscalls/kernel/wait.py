"""Blocking: wait queues and the Block outcome a handler returns instead of a value.

A handler that cannot complete now returns a :class:`Block` naming what it waits
for (wait queues, a deadline, host file descriptors for the idle ``select``) and a
``retry`` callable. The scheduler parks the task; when a queue is notified or the
deadline passes, ``retry`` runs in the task's context and returns the call's result
or another Block. Signals are not the handler's business: the dispatcher cancels the
wait and applies the spec's restart rule (EINTR or restart), as Linux does with its
-ERESTART* codes.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from syscalls.kernel.task import Task


class WakeReason(Enum):
    NOTIFIED = "notified"
    TIMEOUT = "timeout"
    HOST_READY = "host-ready"
    INTERRUPTED = "interrupted"
    """A signal is to be delivered: the dispatcher finishes the call, not ``retry``."""


class Waker(Protocol):
    def wake(self, block: Block, reason: WakeReason) -> None: ...


class Block:
    """Outcome: park the calling task until notified, timed out or interrupted."""

    __slots__ = ("data", "deadline", "host_fds", "interruptible", "notified", "queues", "retry",
                 "task", "waker")

    def __init__(self, retry: Callable[[WakeReason], int | Block], *,
                 queues: tuple[WaitQueue, ...] = (), deadline: float | None = None,
                 host_fds: tuple[tuple[int, int], ...] = (), data: Any = None,
                 interruptible: bool = True) -> None:
        self.retry = retry
        self.interruptible = interruptible
        """False: signals wait until the call completes (a vfork parent's wait, like
        Linux's killable-only wait_for_vfork_done)."""
        self.queues = queues
        self.deadline = deadline
        """Absolute time on the kernel's monotonic clock, in seconds."""
        self.host_fds = host_fds
        """(host fd, POLLIN/POLLOUT) pairs the idle loop selects on."""
        self.data = data
        self.task: Task | None = None
        self.waker: Waker | None = None
        self.notified = False

    def attach(self, task: Task, waker: Waker) -> None:
        self.task = task
        self.waker = waker
        for q in self.queues:
            q.waiters.append(self)

    def detach(self) -> None:
        for q in self.queues:
            if self in q.waiters:
                q.waiters.remove(self)

    def wake(self, reason: WakeReason) -> None:
        if reason is WakeReason.NOTIFIED:
            self.notified = True
        self.detach()
        if self.waker is not None:
            self.waker.wake(self, reason)


class WaitQueue:
    """Tasks waiting for one condition (data in a pipe, a futex word, an epoll instance)."""

    __slots__ = ("listeners", "waiters")

    def __init__(self) -> None:
        self.waiters: list[Block] = []
        self.listeners: list[Callable[[], None]] = []
        """Callbacks run on every notify (an epoll instance watching this file)."""

    def notify_all(self) -> int:
        woken = list(self.waiters)
        for block in woken:
            block.wake(WakeReason.NOTIFIED)
        for listener in list(self.listeners):
            listener()
        return len(woken)

    def notify(self, block: Block) -> None:
        block.wake(WakeReason.NOTIFIED)

    def __len__(self) -> int:
        return len(self.waiters)

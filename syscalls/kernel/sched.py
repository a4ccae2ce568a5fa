"""Which guest thread runs next, and waiting when none can.

Runnable threads take turns (round robin); the emulator's run loop gives each a time
slice and comes back here when the slice ends or the thread blocks. When no thread
is runnable the scheduler sleeps in ``select`` on the host descriptors blocked
threads wait for (stdin, inherited pipes), until the earliest timeout, or until a
host signal arrives for the guest. If nothing can ever wake a thread, that is a
deadlock and a clear error rather than a hang.
"""

from __future__ import annotations

import heapq
import itertools
import select
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from syscalls.kernel.task import Task, TaskState
from syscalls.kernel.wait import Block, WakeReason

if TYPE_CHECKING:
    from syscalls.kernel.clock import Clock

POLLIN = 0x001
POLLOUT = 0x004
VIRTUAL_HOST_GRACE = 0.05
"""Seconds of real time a virtual-clock idle waits for host events before jumping."""


class Alarms(Protocol):
    def next_deadline(self) -> float | None: ...

    def fire_wall(self) -> None: ...


class Deadlock(Exception):
    """Every guest thread is blocked and nothing can ever wake one."""


class Scheduler:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.runq: deque[Task] = deque()
        self.blocked: dict[Block, Task] = {}
        self._timers: list[tuple[float, int, Block]] = []
        self._seq = itertools.count()
        self.wakeup_fd: int | None = None
        """A host fd that becomes readable when a host signal arrives for the guest."""
        self.external_wakeup: Callable[[], bool] = lambda: False
        """True when something outside the guest (a host signal) may still wake a thread."""
        self.alarms: Alarms | None = None
        """Wall-clock timers that signal the process (setitimer, timer_create): their
        deadlines bound idle sleeps, and they fire when deadlines are checked."""

    # Run queue ---------------------------------------------------------------------------

    def add(self, task: Task) -> None:
        task.state = TaskState.RUNNABLE
        self.runq.append(task)

    def remove(self, task: Task) -> None:
        if task in self.runq:
            self.runq.remove(task)
        if task.blocked is not None:
            block = task.blocked.block
            block.detach()
            self.blocked.pop(block, None)

    def next(self) -> Task | None:
        while self.runq:
            task = self.runq.popleft()
            if task.state is TaskState.RUNNABLE:
                return task
        return None

    def has_runnable(self) -> bool:
        return any(t.state is TaskState.RUNNABLE for t in self.runq)

    # Blocking ----------------------------------------------------------------------------

    def block(self, task: Task, block: Block) -> None:
        task.state = TaskState.BLOCKED
        block.attach(task, self)
        self.blocked[block] = task
        if block.deadline is not None:
            heapq.heappush(self._timers, (block.deadline, next(self._seq), block))

    def wake(self, block: Block, reason: WakeReason) -> None:
        task = self.blocked.pop(block, None)
        if task is None or task.state is not TaskState.BLOCKED:
            return
        block.detach()
        task.state = TaskState.RUNNABLE
        if task.blocked is not None:
            task.blocked.reason = reason
        self.runq.append(task)

    def interrupt(self, task: Task) -> bool:
        """Take a blocked task off its wait so a signal can be delivered; True if it was."""
        if task.state is not TaskState.BLOCKED or task.blocked is None:
            return False
        block = task.blocked.block
        if not block.interruptible:
            return False
        block.detach()
        self.blocked.pop(block, None)
        task.state = TaskState.RUNNABLE
        task.blocked.reason = WakeReason.INTERRUPTED
        self.runq.append(task)
        return True

    def expire_timers(self) -> None:
        if self.alarms is not None:
            self.alarms.fire_wall()
        now = self.clock.monotonic()
        while self._timers and self._timers[0][0] <= now:
            _, _, block = heapq.heappop(self._timers)
            if block in self.blocked:
                block.wake(WakeReason.TIMEOUT)

    def next_deadline(self) -> float | None:
        while self._timers and self._timers[0][2] not in self.blocked:
            heapq.heappop(self._timers)
        earliest = self._timers[0][0] if self._timers else None
        alarm = self.alarms.next_deadline() if self.alarms is not None else None
        if alarm is not None and (earliest is None or alarm < earliest):
            return alarm
        return earliest

    # Idle --------------------------------------------------------------------------------

    def _host_waits(self) -> tuple[dict[int, list[Block]], dict[int, list[Block]]]:
        readers: dict[int, list[Block]] = {}
        writers: dict[int, list[Block]] = {}
        for block in self.blocked:
            for fd, events in block.host_fds:
                if events & POLLIN:
                    readers.setdefault(fd, []).append(block)
                if events & POLLOUT:
                    writers.setdefault(fd, []).append(block)
        return readers, writers

    def poll_host(self) -> None:
        """Wake blocked threads whose host files are ready now, without waiting.

        Called between time slices: a thread waiting for a socket must not wait for every
        other thread to block before the host's news reaches it. Virtual time leaves host
        readiness to idle(), so the schedule does not depend on host timing."""
        if self.clock.virtual or not self.blocked:
            return
        readers, writers = self._host_waits()
        if not readers and not writers:
            return
        try:
            r, w, _ = select.select(list(readers), list(writers), [], 0)
        except (InterruptedError, OSError, ValueError):
            return
        self._wake_ready(readers, writers, r, w)

    def _wake_ready(self, readers: dict[int, list[Block]], writers: dict[int, list[Block]],
                    r: list[int], w: list[int]) -> None:
        for fd in r:
            for block in readers.get(fd, []):
                block.wake(WakeReason.HOST_READY)
        for fd in w:
            for block in writers.get(fd, []):
                block.wake(WakeReason.HOST_READY)

    def idle(self) -> None:
        """Sleep until some blocked thread can make progress."""
        deadline = self.next_deadline()
        readers, writers = self._host_waits()
        waits_for_signal = any(block.data == "signal" for block in self.blocked)
        if (deadline is None and not readers and not writers and not waits_for_signal
                and not self.external_wakeup()):
            raise Deadlock(self._describe())
        timeout = None if deadline is None else max(0.0, deadline - self.clock.monotonic())
        watch = list(readers)
        if self.wakeup_fd is not None:
            watch.append(self.wakeup_fd)
        r, w = self._select(watch, list(writers), timeout, bool(readers or writers))
        if self.clock.virtual and not r and not w and timeout is not None and timeout > 0:
            # Virtual time: nothing from the host, so the earliest deadline comes at once.
            self.clock.advance(timeout)
        self._wake_ready(readers, writers, r, w)
        self.expire_timers()

    def _select(self, readers: list[int], writers: list[int], timeout: float | None,
                host_waits: bool) -> tuple[list[int], list[int]]:
        if self.clock.virtual and timeout is not None:
            # Host events (loopback sockets finishing a handshake) get a short real grace
            # period before virtual time jumps past them.
            timeout = VIRTUAL_HOST_GRACE if host_waits else 0.0
        try:
            r, w, _ = select.select(readers, writers, [], timeout)
        except InterruptedError:
            return [], []
        return r, w

    def _describe(self) -> str:
        parts = []
        for block, task in self.blocked.items():
            call = task.blocked.name if task.blocked is not None else "?"
            parts.append(f"{task.tid} in {call}")
            del block
        return "all guest threads are blocked forever (" + ", ".join(sorted(parts)) + ")"

"""Timers that send signals: setitimer/alarm's interval timers and POSIX timers.

Linux (kernel/time/itimer.c, posix-timers.c, posix-cpu-timers.c): ITIMER_REAL counts
CLOCK_MONOTONIC and sends SIGALRM; ITIMER_VIRTUAL and ITIMER_PROF count the process's CPU
time and send SIGVTALRM and SIGPROF; all three signal the process, with si_code
SI_KERNEL. A POSIX timer (timer_create) counts one clock — wall, monotonic, boot time,
the process's CPU time or its creating thread's — and sends its sigevent's signal
(SI_TIMER, with the timer's id, overrun count and sigev_value) to the process or, with
SIGEV_THREAD_ID, to one thread. Go's CPU profiler uses both: setitimer(ITIMER_PROF) and,
since Go 1.18, one CLOCK_THREAD_CPUTIME_ID timer per thread signalling that thread.

CPU time is what each guest thread used of the emulating host thread (for deterministic
runs, of the virtual clock's work count): the run loop charges every time slice to the
thread that ran it (:class:`CpuAccounting`) and then fires the CPU-time timers that time
passed, so they are exact to a slice. Wall-clock timers fire when the scheduler looks at
its deadlines; it never sleeps past the earliest of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from syscalls.errno import Errno, SyscallError
from syscalls.kernel.clock import (
    CLOCK_BOOTTIME,
    CLOCK_MONOTONIC,
    CLOCK_PROCESS_CPUTIME_ID,
    CLOCK_REALTIME,
    CLOCK_TAI,
    CLOCK_THREAD_CPUTIME_ID,
    NS,
)
from syscalls.kernel.signals import NSIG, SI_KERNEL, SI_TIMER, Sig, SigInfo
from syscalls.kernel.task import TaskState

if TYPE_CHECKING:
    from syscalls.kernel.clock import Clock
    from syscalls.kernel.core import Kernel
    from syscalls.kernel.task import Task

ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF = 0, 1, 2
SIGEV_SIGNAL, SIGEV_NONE, SIGEV_THREAD, SIGEV_THREAD_ID = 0, 1, 2, 4

TIMER_CLOCKS = frozenset({CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID,
                          CLOCK_THREAD_CPUTIME_ID, CLOCK_BOOTTIME, CLOCK_TAI})
"""Clocks timer_create accepts; the other valid clock ids (MONOTONIC_RAW, the COARSE
ones) have no timers in Linux: EOPNOTSUPP."""
CPU_CLOCKS = frozenset({CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID})
INT_MAX = 0x7FFFFFFF


class CpuAccounting:
    """CPU time per guest thread and for the whole process, in nanoseconds."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.process_ns = 0
        self.running: Task | None = None
        self.since = 0

    def begin(self, task: Task) -> None:
        """``task`` starts a time slice."""
        self.running = task
        self.since = self.clock.cpu_ns()

    def end(self) -> None:
        """The slice ended: charge it to the thread that ran it."""
        task = self.running
        if task is None:
            return
        used = max(0, self.clock.cpu_ns() - self.since)
        task.cpu_ns += used
        self.process_ns += used
        self.running = None

    def _partial(self, task: Task | None) -> int:
        if self.running is None or (task is not None and task is not self.running):
            return 0
        return max(0, self.clock.cpu_ns() - self.since)

    def thread_ns(self, task: Task) -> int:
        return task.cpu_ns + self._partial(task)

    def process_total_ns(self) -> int:
        return self.process_ns + self._partial(None)


@dataclass(slots=True, eq=False)
class Timer:
    clock_id: int
    signo: int
    notify: int = SIGEV_SIGNAL
    target: Task | None = None
    """The thread a SIGEV_THREAD_ID timer signals."""
    owner: Task | None = None
    """The thread whose CPU time a CLOCK_THREAD_CPUTIME_ID timer counts (its creator)."""
    sigval: int = 0
    timer_id: int | None = None
    """None for setitimer's timers."""
    expires_ns: int = 0
    """When it next expires, on its clock; 0 while disarmed."""
    interval_ns: int = 0
    overrun: int = 0
    """Expiries while its signal was still queued, reported with the next signal."""
    last_overrun: int = 0
    """The overrun count of the last signal sent (timer_getoverrun)."""

    @property
    def armed(self) -> bool:
        return self.expires_ns != 0

    @property
    def counts_cpu(self) -> bool:
        return self.clock_id in CPU_CLOCKS


class Timers:
    """The process's interval timers and POSIX timers."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.cpu = CpuAccounting(kernel.clock)
        self.itimers = {
            ITIMER_REAL: Timer(CLOCK_MONOTONIC, Sig.SIGALRM),
            ITIMER_VIRTUAL: Timer(CLOCK_PROCESS_CPUTIME_ID, Sig.SIGVTALRM),
            ITIMER_PROF: Timer(CLOCK_PROCESS_CPUTIME_ID, Sig.SIGPROF),
        }
        self.posix: dict[int, Timer] = {}
        self._next_id = 0
        self._armed: set[Timer] = set()

    # Clocks ------------------------------------------------------------------------------

    def now_ns(self, timer: Timer) -> int:
        if timer.clock_id == CLOCK_THREAD_CPUTIME_ID:
            assert timer.owner is not None
            return self.cpu.thread_ns(timer.owner)
        if timer.clock_id == CLOCK_PROCESS_CPUTIME_ID:
            return self.cpu.process_total_ns()
        return self.kernel.clock.now_ns(timer.clock_id)

    # Setting and reading -----------------------------------------------------------------

    def arm(self, timer: Timer, value_ns: int, interval_ns: int, absolute: bool = False) -> None:
        """Start ``timer`` (``value_ns`` from now, or at ``value_ns`` on its clock when
        ``absolute``); a zero value disarms it."""
        timer.interval_ns = interval_ns
        timer.overrun = 0
        if value_ns == 0:
            timer.expires_ns = 0
            self._armed.discard(timer)
            return
        timer.expires_ns = max(1, value_ns if absolute else self.now_ns(timer) + value_ns)
        self._armed.add(timer)

    def remaining(self, timer: Timer) -> tuple[int, int]:
        """(time to the next expiry, interval) in nanoseconds; an armed timer whose expiry
        is due but not yet processed reports 1 ns, as Linux does."""
        if not timer.armed:
            return 0, timer.interval_ns
        return max(1, timer.expires_ns - self.now_ns(timer)), timer.interval_ns

    def create(self, clock_id: int, creator: Task, notify: int, signo: int, target_tid: int,
               sigval: int | None) -> Timer:
        """timer_create: the id is taken before the sigevent is checked (Linux allocates it
        first, so a refused sigevent still uses up an id)."""
        if clock_id not in TIMER_CLOCKS:
            raise SyscallError(Errno.EOPNOTSUPP if self.kernel.clock.valid(clock_id)
                               else Errno.EINVAL)
        timer_id = self._next_id
        self._next_id = (self._next_id + 1) & INT_MAX
        target = None
        if notify == SIGEV_THREAD_ID:
            target = self.kernel.task(target_tid)
            if target is None:
                raise SyscallError(Errno.EINVAL)
        if notify in (SIGEV_SIGNAL, SIGEV_THREAD, SIGEV_THREAD_ID):
            if not 1 <= signo <= NSIG:
                raise SyscallError(Errno.EINVAL)
        elif notify != SIGEV_NONE:
            raise SyscallError(Errno.EINVAL)
        timer = Timer(clock_id, signo, notify, target,
                      creator if clock_id == CLOCK_THREAD_CPUTIME_ID else None,
                      timer_id if sigval is None else sigval, timer_id)
        self.posix[timer_id] = timer
        return timer

    def get(self, timer_id: int) -> Timer:
        timer = self.posix.get(timer_id)
        if timer is None:
            raise SyscallError(Errno.EINVAL)
        return timer

    def delete(self, timer_id: int) -> None:
        timer = self.get(timer_id)
        self._armed.discard(timer)
        del self.posix[timer_id]

    # Expiry ------------------------------------------------------------------------------

    @property
    def cpu_armed(self) -> bool:
        """Whether a CPU-time timer runs: a lone spinning thread must still be sliced."""
        return any(t.counts_cpu for t in self._armed)

    def next_deadline(self) -> float | None:
        """The earliest wall-clock expiry, on the scheduler's monotonic time (seconds)."""
        clock = self.kernel.clock
        earliest: float | None = None
        for timer in self._armed:
            if timer.counts_cpu:
                continue
            due = clock.monotonic() + (timer.expires_ns - clock.now_ns(timer.clock_id)) / NS
            if earliest is None or due < earliest:
                earliest = due
        return earliest

    def fire_wall(self) -> None:
        """Send the signals of wall-clock timers that have expired."""
        for timer in [t for t in self._armed if not t.counts_cpu]:
            now = self.kernel.clock.now_ns(timer.clock_id)
            if now >= timer.expires_ns:
                self._expire(timer, now, None)

    def charge(self) -> Task | None:
        """End the running slice's accounting and fire the CPU-time timers it made
        expire; the thread that ran if any timer fired (it takes process signals first)."""
        task = self.cpu.running
        self.cpu.end()
        if task is None or not self._armed:
            return None
        fired = False
        for timer in [t for t in self._armed if t.counts_cpu]:
            if timer.owner is not None and timer.owner.state is TaskState.EXITED:
                continue  # its thread's clock stopped with the thread
            now = self.now_ns(timer)
            if now >= timer.expires_ns:
                self._expire(timer, now, task)
                fired = True
        return task if fired else None

    def _expire(self, timer: Timer, now: int, running: Task | None) -> None:
        missed = 0
        if timer.interval_ns:
            missed = (now - timer.expires_ns) // timer.interval_ns
            timer.expires_ns += (missed + 1) * timer.interval_ns
        else:
            timer.expires_ns = 0
            self._armed.discard(timer)
        if timer.timer_id is None:
            self.kernel.signal_process(SigInfo(timer.signo, SI_KERNEL), prefer=running)
            return
        if timer.notify == SIGEV_NONE:
            return
        if self._still_queued(timer):
            timer.overrun = min(INT_MAX, timer.overrun + 1 + missed)
            return
        overrun = min(INT_MAX, timer.overrun + missed)
        timer.overrun = 0
        timer.last_overrun = overrun
        info = SigInfo(timer.signo, SI_TIMER, timerid=timer.timer_id, overrun=overrun,
                       value=timer.sigval)
        if timer.notify == SIGEV_THREAD_ID:
            target = timer.target
            if target is not None and target.state is not TaskState.EXITED:
                self.kernel.signal_task(target, info)
        else:
            self.kernel.signal_process(info, prefer=running)

    def _still_queued(self, timer: Timer) -> bool:
        """Linux queues one preallocated signal per timer: while it is pending, further
        expiries only count as overruns."""
        process = self.kernel.proc
        queues = [process.pending.queue] + [t.pending.queue for t in process.live_tasks()]
        return any(info.code == SI_TIMER and info.timerid == timer.timer_id
                   for queue in queues for info in queue)

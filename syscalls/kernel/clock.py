"""The guest's clocks: the host's, or a virtual clock for deterministic runs."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

CLOCK_REALTIME = 0
CLOCK_MONOTONIC = 1
CLOCK_PROCESS_CPUTIME_ID = 2
CLOCK_THREAD_CPUTIME_ID = 3
CLOCK_MONOTONIC_RAW = 4
CLOCK_REALTIME_COARSE = 5
CLOCK_MONOTONIC_COARSE = 6
CLOCK_BOOTTIME = 7
CLOCK_TAI = 11

_HOST_IDS = {
    CLOCK_REALTIME: time.CLOCK_REALTIME,
    CLOCK_MONOTONIC: time.CLOCK_MONOTONIC,
    CLOCK_PROCESS_CPUTIME_ID: time.CLOCK_PROCESS_CPUTIME_ID,
    CLOCK_THREAD_CPUTIME_ID: time.CLOCK_THREAD_CPUTIME_ID,
    CLOCK_MONOTONIC_RAW: getattr(time, "CLOCK_MONOTONIC_RAW", time.CLOCK_MONOTONIC),
    CLOCK_REALTIME_COARSE: CLOCK_REALTIME_COARSE,
    CLOCK_MONOTONIC_COARSE: CLOCK_MONOTONIC_COARSE,
    CLOCK_BOOTTIME: getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC),
    CLOCK_TAI: getattr(time, "CLOCK_TAI", time.CLOCK_REALTIME),
}


class Clock:
    """Host time. ``monotonic()`` is what deadlines are measured in (seconds)."""

    virtual = False

    def monotonic(self) -> float:
        return time.monotonic()

    def now_ns(self, clock_id: int) -> int:
        """clock_gettime(2) for a Linux clock id; KeyError for an unknown id."""
        return time.clock_gettime_ns(_HOST_IDS[clock_id])

    def resolution_ns(self, clock_id: int) -> int:
        host = _HOST_IDS[clock_id]
        return max(1, int(time.clock_getres(host) * 1e9))

    def advance(self, seconds: float) -> None:
        raise NotImplementedError("only a virtual clock can be advanced")

    def cpu_ns(self) -> int:
        """CPU time of the host thread that emulates the guest: what guest threads use,
        slice by slice (syscalls.kernel.timers.CpuAccounting)."""
        return time.thread_time_ns()

    def valid(self, clock_id: int) -> bool:
        return clock_id in _HOST_IDS

    def wall(self) -> float:
        """The time of day events are stamped with (trace -tt, -T), in seconds."""
        return time.time()


NS = 1_000_000_000
_REALTIME_IDS = frozenset({CLOCK_REALTIME, CLOCK_REALTIME_COARSE, CLOCK_TAI})
_CPU_IDS = frozenset({CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID})


class VirtualClock(Clock):
    """Time for deterministic runs: a function of the guest work done, not of the host.

    ``work()`` counts executed translation blocks (a native counter, see
    emulator/slicer.py); each is worth ``ns_per_unit`` nanoseconds. When every guest
    thread waits for a deadline, the scheduler ``advance``s the clock to the earliest one
    instead of sleeping. CLOCK_REALTIME starts at ``REALTIME_START`` (a fixed date),
    CLOCK_MONOTONIC and CLOCK_BOOTTIME at ``MONOTONIC_START`` (a plausible uptime); the
    CPU-time clocks count from zero.
    """

    virtual = True
    REALTIME_START = 1_700_000_000 * NS  # 2023-11-14 22:13:20 UTC
    MONOTONIC_START = 1_000 * NS

    def __init__(self, work: Callable[[], int], ns_per_unit: int) -> None:
        self.work = work
        self.ns_per_unit = ns_per_unit
        self.jumped_ns = 0

    def elapsed_ns(self) -> int:
        return self.work() * self.ns_per_unit + self.jumped_ns

    def monotonic(self) -> float:
        return (self.MONOTONIC_START + self.elapsed_ns()) / NS

    def now_ns(self, clock_id: int) -> int:
        if clock_id not in _HOST_IDS:
            raise KeyError(clock_id)
        elapsed = self.elapsed_ns()
        if clock_id in _REALTIME_IDS:
            return self.REALTIME_START + elapsed
        if clock_id in _CPU_IDS:
            return elapsed
        return self.MONOTONIC_START + elapsed

    def resolution_ns(self, clock_id: int) -> int:
        if clock_id not in _HOST_IDS:
            raise KeyError(clock_id)
        return 1

    def advance(self, seconds: float) -> None:
        self.jumped_ns += max(1, math.ceil(seconds * NS))

    def cpu_ns(self) -> int:
        return self.work() * self.ns_per_unit

    def wall(self) -> float:
        return (self.REALTIME_START + self.elapsed_ns()) / NS

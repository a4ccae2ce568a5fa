"""The guest's clocks: the host's, or a virtual clock for deterministic runs."""

from __future__ import annotations

import time

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

    def valid(self, clock_id: int) -> bool:
        return clock_id in _HOST_IDS

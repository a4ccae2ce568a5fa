"""Clocks, sleeping and timers: clock_gettime(64), clock_getres, gettimeofday, time,
nanosleep, clock_nanosleep(64); setitimer, getitimer, alarm; timer_create,
timer_settime(64), timer_gettime(64), timer_getoverrun, timer_delete.

There is no vDSO: every clock read is a syscall, as under qemu-user, so the trace shows
them. A sleep interrupted by a signal handler returns EINTR and, for nanosleep, writes
the time that remained. The CPU-time clocks count what guest threads used (see
syscalls/kernel/timers.py, which also keeps the timers).
"""

from __future__ import annotations

import struct

from syscalls.context import SyscallContext
from syscalls.errno import Errno, SyscallError
from syscalls.kernel.clock import CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID
from syscalls.kernel.timers import (
    ITIMER_REAL,
    SIGEV_SIGNAL,
    Timer,
)
from syscalls.kernel.wait import Block, WakeReason
from syscalls.spec import (
    CLOCK,
    Enum_,
    Flags,
    Int,
    Ptr,
    Restart,
    Struct,
    UInt,
    out,
    spec,
)
from syscalls.structs import (
    NS,
    pack_timespec,
    pack_timeval,
    timespec_size,
    unpack_timespec,
)

TIMER_ABSTIME = 1


def _clock_now(ctx: SyscallContext, clock_id: int) -> int:
    if clock_id == CLOCK_THREAD_CPUTIME_ID:
        return ctx.kernel.timers.cpu.thread_ns(ctx.task)
    if clock_id == CLOCK_PROCESS_CPUTIME_ID:
        return ctx.kernel.timers.cpu.process_total_ns()
    if not ctx.kernel.clock.valid(clock_id):
        raise SyscallError(Errno.EINVAL)
    return ctx.kernel.clock.now_ns(clock_id)


def do_clock_gettime(ctx: SyscallContext, clock_id: int, tp: int, bits: int) -> int:
    ctx.mem.write(tp, pack_timespec(_clock_now(ctx, clock_id), bits))
    return 0


def sys_clock_gettime(ctx: SyscallContext, clock_id: int, tp: int) -> int:
    return do_clock_gettime(ctx, clock_id, tp, ctx.abi.time_bits)


def sys_clock_gettime64(ctx: SyscallContext, clock_id: int, tp: int) -> int:
    return do_clock_gettime(ctx, clock_id, tp, 64)


def do_clock_getres(ctx: SyscallContext, clock_id: int, res: int, bits: int) -> int:
    if not ctx.kernel.clock.valid(clock_id):
        raise SyscallError(Errno.EINVAL)
    if res:
        ctx.mem.write(res, pack_timespec(ctx.kernel.clock.resolution_ns(clock_id), bits))
    return 0


def sys_clock_getres(ctx: SyscallContext, clock_id: int, res: int) -> int:
    return do_clock_getres(ctx, clock_id, res, ctx.abi.time_bits)


def sys_clock_getres_time64(ctx: SyscallContext, clock_id: int, res: int) -> int:
    return do_clock_getres(ctx, clock_id, res, 64)


def sys_gettimeofday(ctx: SyscallContext, tv: int, tz: int) -> int:
    if tv:
        ctx.mem.write(tv, pack_timeval(ctx.kernel.clock.now_ns(0), ctx.abi.time_bits))
    if tz:
        ctx.mem.write(tz, bytes(8))
    return 0


def sys_time(ctx: SyscallContext, tloc: int) -> int:
    now = ctx.kernel.clock.now_ns(0) // NS
    if tloc:
        ctx.mem.write_word(tloc, now)
    return now


def _sleep(ctx: SyscallContext, deadline: float, rem: int, bits: int) -> int | Block:
    clock = ctx.kernel.clock
    if deadline <= clock.monotonic():
        return 0

    def retry(reason: WakeReason) -> int | Block:
        if clock.monotonic() < deadline and reason is not WakeReason.TIMEOUT:
            return Block(retry, deadline=deadline)
        return 0

    block = Block(retry, deadline=deadline)
    if rem:
        # Written by the dispatcher if a signal handler interrupts the sleep.
        block.data = ("remaining", rem, bits, deadline)
    return block


def _read_request(ctx: SyscallContext, req: int, bits: int) -> int:
    sec, nsec = unpack_timespec(ctx.mem.read(req, timespec_size(bits)), bits)
    if sec < 0 or not 0 <= nsec < NS:
        raise SyscallError(Errno.EINVAL)
    return sec * NS + nsec


def do_nanosleep(ctx: SyscallContext, req: int, rem: int, bits: int) -> int | Block:
    ns = _read_request(ctx, req, bits)
    return _sleep(ctx, ctx.kernel.clock.monotonic() + ns / NS, rem, bits)


def sys_nanosleep(ctx: SyscallContext, req: int, rem: int) -> int | Block:
    return do_nanosleep(ctx, req, rem, ctx.abi.time_bits)


def do_clock_nanosleep(ctx: SyscallContext, clock_id: int, flags: int, req: int, rem: int,
                       bits: int) -> int | Block:
    if clock_id in (2, 3):  # CPU-time clocks cannot be slept on here.
        raise SyscallError(Errno.EINVAL if clock_id == 3 else Errno.EOPNOTSUPP)
    if not ctx.kernel.clock.valid(clock_id):
        raise SyscallError(Errno.EINVAL)
    ns = _read_request(ctx, req, bits)
    clock = ctx.kernel.clock
    if flags & TIMER_ABSTIME:
        deadline = clock.monotonic() + (ns - clock.now_ns(clock_id)) / NS
        return _sleep(ctx, deadline, 0, bits)
    return _sleep(ctx, clock.monotonic() + ns / NS, rem, bits)


def sys_clock_nanosleep(ctx: SyscallContext, clock_id: int, flags: int, req: int,
                        rem: int) -> int | Block:
    return do_clock_nanosleep(ctx, clock_id, flags, req, rem, ctx.abi.time_bits)


def sys_clock_nanosleep_time64(ctx: SyscallContext, clock_id: int, flags: int, req: int,
                               rem: int) -> int | Block:
    return do_clock_nanosleep(ctx, clock_id, flags, req, rem, 64)


def write_remaining(ctx: SyscallContext, block: Block) -> None:
    """After an interrupted sleep: store the time left in the caller's ``rem``."""
    if not isinstance(block.data, tuple) or block.data[0] != "remaining":
        return
    _, rem, bits, deadline = block.data
    left = max(0.0, deadline - ctx.kernel.clock.monotonic())
    ctx.mem.write(rem, pack_timespec(int(left * NS), bits))


# Interval timers ---------------------------------------------------------------------------

US = 1000


def _itimer(ctx: SyscallContext, which: int) -> Timer:
    timer = ctx.kernel.timers.itimers.get(which)
    if timer is None:
        raise SyscallError(Errno.EINVAL)
    return timer


def _pack_itimerval(ctx: SyscallContext, timer: Timer) -> bytes:
    """struct itimerval {it_interval, it_value}: timevals, truncated to microseconds."""
    value, interval = ctx.kernel.timers.remaining(timer)
    bits = ctx.abi.time_bits
    return pack_timeval(interval, bits) + pack_timeval(value, bits)


def _timeval_ns(sec: int, usec: int) -> int:
    if sec < 0 or not 0 <= usec < 1_000_000:
        raise SyscallError(Errno.EINVAL)
    return sec * NS + usec * US


def sys_setitimer(ctx: SyscallContext, which: int, new: int, old: int) -> int:
    timer = _itimer(ctx, which)
    bits = ctx.abi.time_bits
    # A NULL new value disarms, as Linux still accepts (with a warning in its log).
    interval_ns = value_ns = 0
    if new:
        size = timespec_size(bits)
        raw = ctx.mem.read(new, 2 * size)
        interval_ns = _timeval_ns(*unpack_timespec(raw[:size], bits))
        value_ns = _timeval_ns(*unpack_timespec(raw[size:], bits))
    if old:
        ctx.mem.write(old, _pack_itimerval(ctx, timer))
    _arm(ctx, timer, value_ns, interval_ns)
    return 0


def _arm(ctx: SyscallContext, timer: Timer, value_ns: int, interval_ns: int,
         absolute: bool = False) -> None:
    ctx.kernel.timers.arm(timer, value_ns, interval_ns, absolute)
    if timer.armed:
        # The running slice began with no timer to watch and may never end by itself (a
        # lone thread spinning until SIGPROF or SIGALRM): end it; the next one is timed.
        ctx.cpu.end_slice()


def sys_getitimer(ctx: SyscallContext, which: int, value: int) -> int:
    ctx.mem.write(value, _pack_itimerval(ctx, _itimer(ctx, which)))
    return 0


def sys_alarm(ctx: SyscallContext, seconds: int) -> int:
    """ITIMER_REAL in whole seconds; returns the seconds that were left, rounded to the
    nearest (never 0 for a pending alarm), as Linux's alarm_setitimer does."""
    timers = ctx.kernel.timers
    timer = timers.itimers[ITIMER_REAL]
    left, _ = timers.remaining(timer)
    _arm(ctx, timer, (seconds & 0xFFFFFFFF) * NS, 0)
    sec, rest = divmod(left // US, 1_000_000)
    if (sec == 0 and rest) or rest >= 500_000:
        sec += 1
    return sec


# POSIX timers ------------------------------------------------------------------------------

def sys_timer_create(ctx: SyscallContext, clock_id: int, sevp: int, timerid: int) -> int:
    timers = ctx.kernel.timers
    if sevp:
        word = ctx.abi.word_size
        raw = ctx.mem.read(sevp, word + 12)
        sigval = int.from_bytes(raw[:word], "little")
        signo, notify, tid = struct.unpack_from("<iii", raw, word)
        timer = timers.create(clock_id, ctx.task, notify, signo, tid, sigval)
    else:
        # No sigevent: SIGALRM to the process, with the timer's id as its value.
        timer = timers.create(clock_id, ctx.task, SIGEV_SIGNAL, 14, 0, None)
    assert timer.timer_id is not None
    try:
        ctx.mem.write(timerid, struct.pack("<i", timer.timer_id))
    except SyscallError:
        timers.delete(timer.timer_id)
        raise
    return 0


def _pack_itimerspec(ctx: SyscallContext, timer: Timer, bits: int) -> bytes:
    value, interval = ctx.kernel.timers.remaining(timer)
    return pack_timespec(interval, bits) + pack_timespec(value, bits)


def do_timer_settime(ctx: SyscallContext, timer_id: int, flags: int, new: int, old: int,
                     bits: int) -> int:
    timers = ctx.kernel.timers
    timer = timers.get(timer_id)
    if not new:
        raise SyscallError(Errno.EINVAL)
    size = timespec_size(bits)
    raw = ctx.mem.read(new, 2 * size)
    interval = unpack_timespec(raw[:size], bits)
    value = unpack_timespec(raw[size:], bits)
    for sec, nsec in (interval, value):
        if sec < 0 or not 0 <= nsec < NS:
            raise SyscallError(Errno.EINVAL)
    if old:
        ctx.mem.write(old, _pack_itimerspec(ctx, timer, bits))
    _arm(ctx, timer, value[0] * NS + value[1], interval[0] * NS + interval[1],
         absolute=bool(flags & TIMER_ABSTIME))
    return 0


def sys_timer_settime(ctx: SyscallContext, timer_id: int, flags: int, new: int,
                      old: int) -> int:
    return do_timer_settime(ctx, timer_id, flags, new, old, ctx.abi.time_bits)


def sys_timer_settime64(ctx: SyscallContext, timer_id: int, flags: int, new: int,
                        old: int) -> int:
    return do_timer_settime(ctx, timer_id, flags, new, old, 64)


def do_timer_gettime(ctx: SyscallContext, timer_id: int, cur: int, bits: int) -> int:
    timer = ctx.kernel.timers.get(timer_id)
    ctx.mem.write(cur, _pack_itimerspec(ctx, timer, bits))
    return 0


def sys_timer_gettime(ctx: SyscallContext, timer_id: int, cur: int) -> int:
    return do_timer_gettime(ctx, timer_id, cur, ctx.abi.time_bits)


def sys_timer_gettime64(ctx: SyscallContext, timer_id: int, cur: int) -> int:
    return do_timer_gettime(ctx, timer_id, cur, 64)


def sys_timer_getoverrun(ctx: SyscallContext, timer_id: int) -> int:
    return ctx.kernel.timers.get(timer_id).last_overrun


def sys_timer_delete(ctx: SyscallContext, timer_id: int) -> int:
    ctx.kernel.timers.delete(timer_id)
    return 0


TS = Struct(name="timespec")
TS64 = Struct(name="timespec64")

SPECS = (
    spec("clock_gettime", sys_clock_gettime, Enum_(table="clock"), out(TS), classes=(CLOCK,)),
    spec("clock_gettime64", sys_clock_gettime64, Enum_(table="clock"), out(TS64),
         classes=(CLOCK,)),
    spec("clock_getres", sys_clock_getres, Enum_(table="clock"), out(TS), classes=(CLOCK,)),
    spec("clock_getres_time64", sys_clock_getres_time64, Enum_(table="clock"), out(TS64),
         classes=(CLOCK,)),
    spec("gettimeofday", sys_gettimeofday, out(Struct(name="timeval")), Ptr(),
         classes=(CLOCK,)),
    spec("time", sys_time, Ptr(), classes=(CLOCK,)),
    spec("nanosleep", sys_nanosleep, TS, out(TS), restart=Restart.BLOCK),
    spec("clock_nanosleep", sys_clock_nanosleep, Enum_(table="clock"),
         Flags(table="timer_flags"), TS, out(TS), restart=Restart.BLOCK, classes=(CLOCK,)),
    spec("clock_nanosleep_time64", sys_clock_nanosleep_time64, Enum_(table="clock"),
         Flags(table="timer_flags"), TS64, out(TS64), restart=Restart.BLOCK,
         classes=(CLOCK,)),
    spec("setitimer", sys_setitimer, Enum_(table="itimer_which"), Struct(name="itimerval"),
         out(Struct(name="itimerval"))),
    spec("getitimer", sys_getitimer, Enum_(table="itimer_which"),
         out(Struct(name="itimerval"))),
    spec("alarm", sys_alarm, UInt()),
    spec("timer_create", sys_timer_create, Enum_(table="clock"), Struct(name="sigevent"),
         out(Struct(name="timerid"))),
    spec("timer_settime", sys_timer_settime, Int(), Flags(table="timer_flags"),
         Struct(name="itimerspec"), out(Struct(name="itimerspec"))),
    spec("timer_settime64", sys_timer_settime64, Int(), Flags(table="timer_flags"),
         Struct(name="itimerspec64"), out(Struct(name="itimerspec64"))),
    spec("timer_gettime", sys_timer_gettime, Int(), out(Struct(name="itimerspec"))),
    spec("timer_gettime64", sys_timer_gettime64, Int(), out(Struct(name="itimerspec64"))),
    spec("timer_getoverrun", sys_timer_getoverrun, Int()),
    spec("timer_delete", sys_timer_delete, Int()),
)

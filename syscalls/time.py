"""Clocks and sleeping: clock_gettime(64), clock_getres, gettimeofday, time, nanosleep,
clock_nanosleep(64).

There is no vDSO: every clock read is a syscall, as under qemu-user, so the trace shows
them. A sleep interrupted by a signal handler returns EINTR and, for nanosleep, writes
the time that remained.
"""

from __future__ import annotations

from syscalls.context import SyscallContext
from syscalls.errno import Errno, SyscallError
from syscalls.kernel.wait import Block, WakeReason
from syscalls.spec import (
    CLOCK,
    Enum_,
    Flags,
    Ptr,
    Restart,
    Struct,
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
)

"""futex(2) and futex_time64: wait, wake, requeue, bitsets, wake-op (kernel/futex/).

Timeouts: FUTEX_WAIT takes a relative timeout; FUTEX_WAIT_BITSET an absolute one on
CLOCK_MONOTONIC (or CLOCK_REALTIME with FUTEX_CLOCK_REALTIME). A wait interrupted by
a signal restarts (SA_RESTART) or fails with EINTR, as the dispatcher decides.
"""

from __future__ import annotations

from syscalls import abi as A
from syscalls.context import SyscallContext
from syscalls.errno import Errno, SyscallError
from syscalls.kernel.futex import FUTEX_BITSET_MATCH_ANY
from syscalls.kernel.wait import Block, WakeReason
from syscalls.spec import Hex, Ptr, Restart, Support, spec
from syscalls.structs import timespec_size, unpack_timespec

FUTEX_WAIT = 0
FUTEX_WAKE = 1
FUTEX_REQUEUE = 3
FUTEX_CMP_REQUEUE = 4
FUTEX_WAKE_OP = 5
FUTEX_WAIT_BITSET = 9
FUTEX_WAKE_BITSET = 10
FUTEX_CMD_MASK = ~(A.FUTEX_PRIVATE_FLAG | A.FUTEX_CLOCK_REALTIME)
NS = 1_000_000_000


def _deadline(ctx: SyscallContext, timeout: int, absolute: bool, realtime: bool,
              bits: int) -> float | None:
    if timeout == 0:
        return None
    sec, nsec = unpack_timespec(ctx.mem.read(timeout, timespec_size(bits)), bits)
    if sec < 0 or not 0 <= nsec < NS:
        raise SyscallError(Errno.EINVAL)
    clock = ctx.kernel.clock
    now = clock.monotonic()
    if not absolute:
        return now + sec + nsec / NS
    target_ns = sec * NS + nsec
    current_ns = clock.now_ns(0 if realtime else 1)
    return now + (target_ns - current_ns) / NS


def _wait(ctx: SyscallContext, addr: int, val: int, deadline: float | None,
          bitset: int) -> int | Block:
    if addr % 4:
        raise SyscallError(Errno.EINVAL)
    if bitset == 0:
        raise SyscallError(Errno.EINVAL)
    if ctx.mem.read_u32(addr) != val & 0xFFFFFFFF:
        raise SyscallError(Errno.EAGAIN)
    if deadline is not None and deadline <= ctx.kernel.clock.monotonic():
        raise SyscallError(Errno.ETIMEDOUT)
    queue = ctx.kernel.futexes.queue(addr)

    def retry(reason: WakeReason) -> int:
        if reason is WakeReason.TIMEOUT:
            raise SyscallError(Errno.ETIMEDOUT)
        return 0

    return Block(retry, queues=(queue,), deadline=deadline, data=bitset)


def _wake_op(ctx: SyscallContext, uaddr: int, nr_wake: int, nr_wake2: int, uaddr2: int,
             encoded: int) -> int:
    op = (encoded >> 28) & 0x7
    cmp = (encoded >> 24) & 0xF
    oparg = (encoded >> 12) & 0xFFF
    cmparg = encoded & 0xFFF
    if encoded & (8 << 28):  # FUTEX_OP_OPARG_SHIFT
        oparg = 1 << (oparg & 31)
    old = ctx.mem.read_u32(uaddr2)
    new = {0: oparg, 1: old + oparg, 2: old | oparg, 3: old & ~oparg, 4: old ^ oparg}.get(op)
    if new is None:
        raise SyscallError(Errno.ENOSYS)
    ctx.mem.write_u32(uaddr2, new)
    woken = ctx.kernel.futexes.wake(uaddr, nr_wake)
    signed_old = old - (1 << 32) if old & 0x80000000 else old
    test = {0: signed_old == cmparg, 1: signed_old != cmparg, 2: signed_old < cmparg,
            3: signed_old <= cmparg, 4: signed_old > cmparg, 5: signed_old >= cmparg}.get(cmp)
    if test is None:
        raise SyscallError(Errno.ENOSYS)
    if test:
        woken += ctx.kernel.futexes.wake(uaddr2, nr_wake2)
    return woken


def do_futex(ctx: SyscallContext, uaddr: int, op: int, val: int, timeout: int, uaddr2: int,
             val3: int, bits: int) -> int | Block:
    cmd = op & FUTEX_CMD_MASK & 0x7F
    realtime = bool(op & A.FUTEX_CLOCK_REALTIME)
    futexes = ctx.kernel.futexes
    val &= 0xFFFFFFFF
    if realtime and cmd not in (FUTEX_WAIT_BITSET, 11, FUTEX_WAIT):
        raise SyscallError(Errno.ENOSYS)
    if cmd == FUTEX_WAIT:
        return _wait(ctx, uaddr, val, _deadline(ctx, timeout, False, realtime, bits),
                     FUTEX_BITSET_MATCH_ANY)
    if cmd == FUTEX_WAIT_BITSET:
        return _wait(ctx, uaddr, val, _deadline(ctx, timeout, True, realtime, bits),
                     val3 & 0xFFFFFFFF)
    if cmd == FUTEX_WAKE:
        return futexes.wake(uaddr, val)
    if cmd == FUTEX_WAKE_BITSET:
        if val3 & 0xFFFFFFFF == 0:
            raise SyscallError(Errno.EINVAL)
        return futexes.wake(uaddr, val, val3 & 0xFFFFFFFF)
    # For requeue operations the timeout argument carries val2 (the number to move).
    if cmd == FUTEX_REQUEUE:
        return futexes.requeue(uaddr, val, uaddr2, timeout & 0x7FFFFFFF)
    if cmd == FUTEX_CMP_REQUEUE:
        if ctx.mem.read_u32(uaddr) != val3 & 0xFFFFFFFF:
            raise SyscallError(Errno.EAGAIN)
        return futexes.requeue(uaddr, val, uaddr2, timeout & 0x7FFFFFFF)
    if cmd == FUTEX_WAKE_OP:
        return _wake_op(ctx, uaddr, val, timeout & 0x7FFFFFFF, uaddr2, val3 & 0xFFFFFFFF)
    raise SyscallError(Errno.ENOSYS, f"futex operation {cmd} (PI futexes) is not supported")


def sys_futex(ctx: SyscallContext, uaddr: int, op: int, val: int, timeout: int, uaddr2: int,
              val3: int) -> int | Block:
    return do_futex(ctx, uaddr, op, val, timeout, uaddr2, val3, ctx.abi.time_bits)


def sys_futex_time64(ctx: SyscallContext, uaddr: int, op: int, val: int, timeout: int,
                     uaddr2: int, val3: int) -> int | Block:
    return do_futex(ctx, uaddr, op, val, timeout, uaddr2, val3, 64)


_NOTE = "WAIT/WAKE (bitset, private), REQUEUE, CMP_REQUEUE, WAKE_OP; PI futexes are ENOSYS"
SPECS = (
    spec("futex", sys_futex, Ptr(), Hex(), Hex(), Ptr(), Ptr(), Hex(), restart=Restart.SYS,
         printer="futex", support=Support.PARTIAL, note=_NOTE),
    spec("futex_time64", sys_futex_time64, Ptr(), Hex(), Hex(), Ptr(), Ptr(), Hex(),
         restart=Restart.SYS, printer="futex64", support=Support.PARTIAL, note=_NOTE),
)

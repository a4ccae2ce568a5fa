"""Readiness: epoll, eventfd, poll/ppoll and pselect6 (fs/eventpoll.c, fs/select.c).

Go's netpoller needs epoll_create1, epoll_ctl, epoll_pwait and eventfd2 as soon as a
program uses a timer, a pipe or a socket. Waits park the thread on the wait queues
of every watched file and, for host-backed streams, on the host descriptor.
"""

from __future__ import annotations

import struct

from syscalls import abi as A
from syscalls.context import SyscallContext
from syscalls.errno import Errno, SyscallError
from syscalls.kernel.files import EPOLLERR, EPOLLHUP, Epoll, EventFd, File
from syscalls.kernel.signals import UNBLOCKABLE
from syscalls.kernel.wait import Block, WaitQueue, WakeReason
from syscalls.spec import (
    DESC,
    Enum_,
    Fd,
    Flags,
    Int,
    Ptr,
    Restart,
    SigSet,
    Size,
    Struct,
    UInt,
    out,
    spec,
)
from syscalls.structs import (
    NS,
    pack_epoll_event,
    pack_timespec,
    pack_timeval,
    timespec_size,
    unpack_epoll_event,
    unpack_timespec,
)

EPOLL_CTL_ADD = 1
EPOLL_CTL_DEL = 2
EPOLL_CTL_MOD = 3
EPOLL_MAX_EVENTS = 0x7FFFFFFF // 12
POLLIN = 0x001
POLLOUT = 0x004
POLLNVAL = 0x020


def sys_epoll_create1(ctx: SyscallContext, flags: int) -> int:
    if flags & ~A.O_CLOEXEC:
        raise SyscallError(Errno.EINVAL)
    return ctx.fds.install(Epoll(flags, ctx.kernel.new_inode()), cloexec=bool(flags & A.O_CLOEXEC))


def sys_epoll_create(ctx: SyscallContext, size: int) -> int:
    if size <= 0:
        raise SyscallError(Errno.EINVAL)
    return sys_epoll_create1(ctx, 0)


def _epoll(ctx: SyscallContext, epfd: int) -> Epoll:
    file = ctx.fds.get(epfd)
    if not isinstance(file, Epoll):
        raise SyscallError(Errno.EINVAL)
    return file


def sys_epoll_ctl(ctx: SyscallContext, epfd: int, op: int, fd: int, event: int) -> int:
    ep = _epoll(ctx, epfd)
    target = ctx.fds.get(fd)
    if fd == epfd:
        raise SyscallError(Errno.EINVAL)
    if op == EPOLL_CTL_DEL:
        ep.delete(fd)
        return 0
    if op not in (EPOLL_CTL_ADD, EPOLL_CTL_MOD):
        raise SyscallError(Errno.EINVAL)
    events, data = unpack_epoll_event(ctx.abi, ctx.mem.read(event, ctx.abi.epoll_event_size))
    if not target.pollable:
        raise SyscallError(Errno.EPERM)
    if op == EPOLL_CTL_ADD:
        ep.add(fd, target, events, data)
    else:
        ep.modify(fd, events, data)
    return 0


def _deadline_from_ms(ctx: SyscallContext, timeout_ms: int) -> float | None:
    if timeout_ms < 0:
        return None
    return ctx.kernel.clock.monotonic() + timeout_ms / 1000


def _set_wait_mask(ctx: SyscallContext, sigmask: int, sigsetsize: int) -> None:
    if not sigmask:
        return
    if sigsetsize != 8:
        raise SyscallError(Errno.EINVAL)
    task = ctx.task
    task.saved_sigmask = task.sigmask
    task.sigmask = ctx.mem.read_u64(sigmask) & ~UNBLOCKABLE


def do_epoll_wait(ctx: SyscallContext, epfd: int, events: int, maxevents: int,
                  deadline: float | None) -> int | Block:
    ep = _epoll(ctx, epfd)
    if maxevents <= 0 or maxevents > EPOLL_MAX_EVENTS:
        raise SyscallError(Errno.EINVAL)
    size = ctx.abi.epoll_event_size

    def attempt(reason: WakeReason | None) -> int | Block:
        ready = ep.collect(maxevents)
        if ready:
            ctx.mem.write(events, b"".join(pack_epoll_event(ctx.abi, ev, data)
                                           for ev, data in ready))
            return len(ready)
        if reason is WakeReason.TIMEOUT or (
                deadline is not None and deadline <= ctx.kernel.clock.monotonic()):
            return 0
        return Block(attempt, queues=(ep.readq,), deadline=deadline, host_fds=ep.host_waits())

    # Make sure the buffer is writable before waiting, as the kernel checks access first.
    ctx.mem.read(events, min(size, maxevents * size))
    return attempt(None)


def sys_epoll_wait(ctx: SyscallContext, epfd: int, events: int, maxevents: int,
                   timeout: int) -> int | Block:
    return do_epoll_wait(ctx, epfd, events, maxevents, _deadline_from_ms(ctx, timeout))


def sys_epoll_pwait(ctx: SyscallContext, epfd: int, events: int, maxevents: int,
                    timeout: int, sigmask: int, sigsetsize: int) -> int | Block:
    _set_wait_mask(ctx, sigmask, sigsetsize)
    return do_epoll_wait(ctx, epfd, events, maxevents, _deadline_from_ms(ctx, timeout))


def sys_epoll_pwait2(ctx: SyscallContext, epfd: int, events: int, maxevents: int,
                     timeout: int, sigmask: int, sigsetsize: int) -> int | Block:
    deadline = None
    if timeout:
        sec, nsec = unpack_timespec(ctx.mem.read(timeout, 16), 64)
        if sec < 0 or not 0 <= nsec < NS:
            raise SyscallError(Errno.EINVAL)
        deadline = ctx.kernel.clock.monotonic() + sec + nsec / NS
    _set_wait_mask(ctx, sigmask, sigsetsize)
    return do_epoll_wait(ctx, epfd, events, maxevents, deadline)


EFD_SEMAPHORE = 1


def sys_eventfd2(ctx: SyscallContext, initval: int, flags: int) -> int:
    if flags & ~(EFD_SEMAPHORE | A.O_NONBLOCK | A.O_CLOEXEC):
        raise SyscallError(Errno.EINVAL)
    efd = EventFd(initval & 0xFFFFFFFF, flags, bool(flags & EFD_SEMAPHORE),
                  ctx.kernel.new_inode())
    return ctx.fds.install(efd, cloexec=bool(flags & A.O_CLOEXEC))


def sys_eventfd(ctx: SyscallContext, initval: int) -> int:
    return sys_eventfd2(ctx, initval, 0)


def do_poll(ctx: SyscallContext, fds_ptr: int, nfds: int, deadline: float | None,
            timeout: tuple[int, int] | None = None) -> int | Block:
    """poll/ppoll; ``timeout`` (ppoll's address and time bits) gets the time left on
    return, as Linux stores it."""
    if nfds < 0 or nfds > ctx.fds.limit:
        raise SyscallError(Errno.EINVAL)
    raw = ctx.mem.read(fds_ptr, nfds * 8)
    entries = list(struct.iter_unpack("<ihh", raw))

    def attempt(reason: WakeReason | None) -> int | Block:
        out = bytearray()
        count = 0
        queues: list[WaitQueue] = []
        host: list[tuple[int, int]] = []
        for fd, _, _ in entries:
            entry = ctx.fds.entries.get(fd)
            if entry is not None:
                entry.file.sync_host()
        for fd, events, _ in entries:
            revents = 0
            if fd >= 0:
                entry = ctx.fds.entries.get(fd)
                if entry is None:
                    revents = POLLNVAL
                else:
                    file: File = entry.file
                    revents = file.poll() & ((events & 0xFFFF) | EPOLLERR | EPOLLHUP)
                    queues += (file.readq, file.writeq)
                    wait = file.host_wait(events & (POLLIN | POLLOUT))
                    if wait is not None:
                        host.append(wait)
            if revents:
                count += 1
            out += struct.pack("<ihh", fd, events, revents)
        if count or reason is WakeReason.TIMEOUT or (
                deadline is not None and deadline <= ctx.kernel.clock.monotonic()):
            ctx.mem.write(fds_ptr, bytes(out))
            if timeout is not None and deadline is not None:
                left = max(0, int((deadline - ctx.kernel.clock.monotonic()) * NS))
                ctx.mem.write(timeout[0], pack_timespec(left, timeout[1]))
            return count
        return Block(attempt, queues=tuple(queues), deadline=deadline, host_fds=tuple(host))

    return attempt(None)


def sys_poll(ctx: SyscallContext, fds_ptr: int, nfds: int, timeout: int) -> int | Block:
    return do_poll(ctx, fds_ptr, nfds, _deadline_from_ms(ctx, timeout))


def do_ppoll(ctx: SyscallContext, fds_ptr: int, nfds: int, tsp: int, sigmask: int,
             sigsetsize: int, bits: int) -> int | Block:
    deadline = None
    if tsp:
        sec, nsec = unpack_timespec(ctx.mem.read(tsp, timespec_size(bits)), bits)
        if sec < 0 or not 0 <= nsec < NS:
            raise SyscallError(Errno.EINVAL)
        deadline = ctx.kernel.clock.monotonic() + sec + nsec / NS
    _set_wait_mask(ctx, sigmask, sigsetsize)
    return do_poll(ctx, fds_ptr, nfds, deadline, (tsp, bits) if tsp else None)


def sys_ppoll(ctx: SyscallContext, fds_ptr: int, nfds: int, tsp: int, sigmask: int,
              sigsetsize: int) -> int | Block:
    return do_ppoll(ctx, fds_ptr, nfds, tsp, sigmask, sigsetsize, ctx.abi.time_bits)


def sys_ppoll_time64(ctx: SyscallContext, fds_ptr: int, nfds: int, tsp: int, sigmask: int,
                     sigsetsize: int) -> int | Block:
    return do_ppoll(ctx, fds_ptr, nfds, tsp, sigmask, sigsetsize, 64)


# select ---------------------------------------------------------------------------------------

# fs/select.c's POLLIN_SET, POLLOUT_SET and POLLEX_SET.
SELECT_IN = 0x001 | 0x040 | 0x080 | EPOLLHUP | EPOLLERR
SELECT_OUT = 0x004 | 0x100 | 0x200 | EPOLLERR
SELECT_EX = 0x002


def fdset_size(nfds: int, word_size: int) -> int:
    """Bytes of an fd_set covering ``nfds`` descriptors: whole longs, as the kernel copies."""
    bits = 8 * word_size
    return (nfds + bits - 1) // bits * word_size


def do_select(ctx: SyscallContext, nfds: int, sets: tuple[int, int, int],
              deadline: float | None, timeout: tuple[int, int, bool] | None) -> int | Block:
    """select/pselect6: ``timeout`` is (address, time bits, microseconds?) to store the time
    left in on return, as Linux does."""
    nfds = nfds - (1 << 32) if nfds & 0x80000000 and nfds < (1 << 32) else nfds
    if nfds < 0 or nfds > ctx.fds.limit:
        raise SyscallError(Errno.EINVAL)
    size = fdset_size(nfds, ctx.abi.word_size)
    wanted = [int.from_bytes(ctx.mem.read(addr, size), "little") & ((1 << nfds) - 1)
              if addr and size else 0 for addr in sets]
    watched = wanted[0] | wanted[1] | wanted[2]
    files: dict[int, File] = {}
    for fd in range(nfds):
        if watched >> fd & 1:
            entry = ctx.fds.entries.get(fd)
            if entry is None:
                raise SyscallError(Errno.EBADF)
            files[fd] = entry.file

    def finish(ready: list[int], count: int) -> int:
        for addr, bits in zip(sets, ready, strict=True):
            if addr and size:
                ctx.mem.write(addr, bits.to_bytes(size, "little"))
        if timeout is not None:
            addr, time_bits, micro = timeout
            left = 0 if deadline is None else max(0, int((deadline - ctx.kernel.clock.monotonic())
                                                         * NS))
            ctx.mem.write(addr, pack_timeval(left, time_bits) if micro
                          else pack_timespec(left, time_bits))
        return count

    def attempt(reason: WakeReason | None) -> int | Block:
        for file in files.values():
            file.sync_host()
        ready = [0, 0, 0]
        count = 0
        for fd, file in files.items():
            revents = file.poll()
            for i, mask in enumerate((SELECT_IN, SELECT_OUT, SELECT_EX)):
                if wanted[i] >> fd & 1 and revents & mask:
                    ready[i] |= 1 << fd
                    count += 1
        if count or reason is WakeReason.TIMEOUT or (
                deadline is not None and deadline <= ctx.kernel.clock.monotonic()):
            return finish(ready, count)
        queues: list[WaitQueue] = []
        host: list[tuple[int, int]] = []
        for fd, file in files.items():
            queues += (file.readq, file.writeq)
            events = (POLLIN if (wanted[0] | wanted[2]) >> fd & 1 else 0) | (
                POLLOUT if wanted[1] >> fd & 1 else 0)
            wait = file.host_wait(events)
            if wait is not None:
                host.append(wait)
        return Block(attempt, queues=tuple(queues), deadline=deadline, host_fds=tuple(host))

    return attempt(None)


def sys_select(ctx: SyscallContext, nfds: int, readfds: int, writefds: int, exceptfds: int,
               tvp: int) -> int | Block:
    deadline = None
    timeout = None
    if tvp:
        bits = ctx.abi.time_bits
        sec, usec = unpack_timespec(ctx.mem.read(tvp, timespec_size(bits)), bits)
        if sec < 0 or usec < 0:
            raise SyscallError(Errno.EINVAL)
        deadline = ctx.kernel.clock.monotonic() + sec + usec / 1_000_000
        timeout = (tvp, bits, True)
    return do_select(ctx, nfds, (readfds, writefds, exceptfds), deadline, timeout)


def do_pselect6(ctx: SyscallContext, nfds: int, sets: tuple[int, int, int], tsp: int,
                sigdata: int, bits: int) -> int | Block:
    deadline = None
    timeout = None
    if tsp:
        sec, nsec = unpack_timespec(ctx.mem.read(tsp, timespec_size(bits)), bits)
        if sec < 0 or not 0 <= nsec < NS:
            raise SyscallError(Errno.EINVAL)
        deadline = ctx.kernel.clock.monotonic() + sec + nsec / NS
        timeout = (tsp, bits, False)
    if sigdata:
        # struct { const sigset_t *ss; size_t ss_len; }
        word = ctx.abi.word_size
        mask_ptr, mask_len = ctx.mem.read_word(sigdata), ctx.mem.read_word(sigdata + word)
        _set_wait_mask(ctx, mask_ptr, mask_len)
    return do_select(ctx, nfds, sets, deadline, timeout)


def sys_pselect6(ctx: SyscallContext, nfds: int, readfds: int, writefds: int, exceptfds: int,
                 tsp: int, sigdata: int) -> int | Block:
    return do_pselect6(ctx, nfds, (readfds, writefds, exceptfds), tsp, sigdata,
                       ctx.abi.time_bits)


def sys_pselect6_time64(ctx: SyscallContext, nfds: int, readfds: int, writefds: int,
                        exceptfds: int, tsp: int, sigdata: int) -> int | Block:
    return do_pselect6(ctx, nfds, (readfds, writefds, exceptfds), tsp, sigdata, 64)


SPECS = (
    spec("epoll_create1", sys_epoll_create1, Flags(table="epoll_create"), classes=(DESC,)),
    spec("epoll_create", sys_epoll_create, Int(), classes=(DESC,)),
    spec("epoll_ctl", sys_epoll_ctl, Fd(), Enum_(table="epoll_ctl"), Fd(),
         Struct(name="epoll_event"), classes=(DESC,)),
    spec("epoll_wait", sys_epoll_wait, Fd(), out(Struct(name="epoll_events")), Int(), Int(),
         restart=Restart.NEVER, classes=(DESC,)),
    spec("epoll_pwait", sys_epoll_pwait, Fd(), out(Struct(name="epoll_events")), Int(), Int(),
         SigSet(), Size(), restart=Restart.NEVER, classes=(DESC,)),
    spec("epoll_pwait2", sys_epoll_pwait2, Fd(), out(Struct(name="epoll_events")), Int(),
         Struct(name="timespec64"), SigSet(), Size(), restart=Restart.NEVER, classes=(DESC,)),
    spec("eventfd2", sys_eventfd2, UInt(), Flags(table="efd_flags"), classes=(DESC,)),
    spec("eventfd", sys_eventfd, UInt(), classes=(DESC,)),
    spec("poll", sys_poll, out(Struct(name="pollfds")), UInt(), Int(), restart=Restart.BLOCK,
         classes=(DESC,), printer="poll"),
    spec("ppoll", sys_ppoll, out(Struct(name="pollfds")), UInt(), Struct(name="timespec"),
         SigSet(), Size(), restart=Restart.NOHAND, classes=(DESC,), printer="poll"),
    spec("ppoll_time64", sys_ppoll_time64, out(Struct(name="pollfds")), UInt(),
         Struct(name="timespec64"), SigSet(), Size(), restart=Restart.NOHAND, classes=(DESC,),
         printer="poll"),
    spec("select", sys_select, Int(), Ptr(), Ptr(), Ptr(), Ptr(), restart=Restart.NOHAND,
         classes=(DESC,), printer="select"),
    spec("_newselect", sys_select, Int(), Ptr(), Ptr(), Ptr(), Ptr(), restart=Restart.NOHAND,
         classes=(DESC,), printer="select"),
    spec("pselect6", sys_pselect6, Int(), Ptr(), Ptr(), Ptr(), Ptr(), Ptr(),
         restart=Restart.NOHAND, classes=(DESC,), printer="select"),
    spec("pselect6_time64", sys_pselect6_time64, Int(), Ptr(), Ptr(), Ptr(), Ptr(), Ptr(),
         restart=Restart.NOHAND, classes=(DESC,), printer="select"),
)

_ = Ptr

"""pidfd_open, pidfd_send_signal, pidfd_getfd (kernel/pid.c, kernel/signal.c).

Go >= 1.23's os package probes these at the first os.FindProcess or os/exec use and
then signals through pidfd_send_signal. pidfd_open names only the guest itself (any
other pid is ESRCH, as for a pid that does not exist); a pidfd of a vfork child comes
from clone's CLONE_PIDFD, and signals through it reach the child (for an exec'd one, its
host process). waitid(P_PIDFD) is in process.py.
"""

from __future__ import annotations

import os

from syscalls.context import SyscallContext
from syscalls.errno import Errno, SyscallError
from syscalls.kernel.pidfd import PIDFD_NONBLOCK, PIDFD_THREAD, PidFd
from syscalls.kernel.signals import NSIG, SI_TKILL, SI_USER, SigInfo
from syscalls.kernel.task import TaskState
from syscalls.spec import (
    DESC,
    PROCESS,
    SIGNAL,
    Fd,
    Flags,
    Int,
    Signal,
    Struct,
    spec,
)
from syscalls.structs import SIGINFO_SIZE, unpack_siginfo

PIDFD_SIGNAL_THREAD = 1 << 0
PIDFD_SIGNAL_THREAD_GROUP = 1 << 1
PIDFD_SIGNAL_PROCESS_GROUP = 1 << 2
PIDFD_SEND_SIGNAL_FLAGS = (PIDFD_SIGNAL_THREAD | PIDFD_SIGNAL_THREAD_GROUP
                           | PIDFD_SIGNAL_PROCESS_GROUP)


def sys_pidfd_open(ctx: SyscallContext, pid: int, flags: int) -> int:
    flags &= 0xFFFFFFFF
    if flags & ~(PIDFD_NONBLOCK | PIDFD_THREAD) or pid <= 0:
        raise SyscallError(Errno.EINVAL)
    process = ctx.process
    if pid != process.pid and ctx.kernel.task(pid) is None:
        raise SyscallError(Errno.ESRCH)
    if pid != process.pid and not flags & PIDFD_THREAD:
        # A thread id names no thread group (pidfd_prepare: pid_has_task(PIDTYPE_TGID)).
        raise SyscallError(Errno.EINVAL)
    fd = PidFd(process, pid, flags, ctx.kernel.new_inode())
    return ctx.fds.install(fd, cloexec=True)


def pidfd_file(ctx: SyscallContext, fd: int) -> PidFd:
    """The pidfd behind ``fd``: EBADF if the fd is not open or is another kind of file
    (pidfd_pid() rejects files without pidfd_fops)."""
    file = ctx.fds.get(fd)
    if not isinstance(file, PidFd):
        raise SyscallError(Errno.EBADF)
    return file


def sys_pidfd_send_signal(ctx: SyscallContext, fd: int, signo: int, info_ptr: int,
                          flags: int) -> int:
    flags &= 0xFFFFFFFF
    if flags & ~PIDFD_SEND_SIGNAL_FLAGS or (flags & (flags - 1)):
        raise SyscallError(Errno.EINVAL)  # unknown flags, or more than one scope
    pidfd = pidfd_file(ctx, fd)
    if flags == 0:
        scope = PIDFD_SIGNAL_THREAD if pidfd.thread else PIDFD_SIGNAL_THREAD_GROUP
    else:
        scope = flags
    process = ctx.process
    if info_ptr:
        signo_in, errno, code, pid, uid, value = unpack_siginfo(
            ctx.mem.read(info_ptr, SIGINFO_SIZE), ctx.abi.word_size)
        if signo_in != signo:
            raise SyscallError(Errno.EINVAL)
        # Only a thread signalling itself (through a thread or thread-group pidfd) may
        # pretend to be the kernel or another sender.
        to_self = ctx.task.tid == pidfd.pid and scope != PIDFD_SIGNAL_PROCESS_GROUP
        if not to_self and (code >= 0 or code == SI_TKILL):
            raise SyscallError(Errno.EPERM)
        info = SigInfo(signo, code, errno, pid=pid, uid=uid, value=value)
    else:
        code = SI_TKILL if scope == PIDFD_SIGNAL_THREAD else SI_USER
        info = SigInfo(signo, code, pid=process.pid, uid=process.creds.uid)
    target = pidfd.task()
    if scope == PIDFD_SIGNAL_PROCESS_GROUP:
        # The pid's process group: only a group leader has one, and of its members only
        # the guest is visible (kill(-pgid) says the same).
        if target is None or pidfd.pid != process.pid \
                or (process.pgid or os.getpgid(0)) != process.pid:
            raise SyscallError(Errno.ESRCH)
    elif target is None:
        raise SyscallError(Errno.ESRCH)
    if not 0 <= signo <= NSIG:
        raise SyscallError(Errno.EINVAL)
    if signo == 0:
        return 0
    if scope == PIDFD_SIGNAL_THREAD:
        ctx.kernel.signal_task(target, info)  # type: ignore[arg-type]
    else:
        ctx.kernel.signal_process(info, process=pidfd.process)
    return 0


def sys_pidfd_getfd(ctx: SyscallContext, pidfd: int, targetfd: int, flags: int) -> int:
    if flags & 0xFFFFFFFF:
        raise SyscallError(Errno.EINVAL)
    target = pidfd_file(ctx, pidfd).task()
    if target is None:
        raise SyscallError(Errno.ESRCH)
    if target.state is TaskState.EXITED:
        # A zombie leader has dropped its files (exit_files): nothing to fetch.
        raise SyscallError(Errno.EBADF)
    # Every thread of the guest shares one fd table: the target's file is the caller's.
    return ctx.fds.install(ctx.fds.get(targetfd), cloexec=True)


SPECS = (
    spec("pidfd_open", sys_pidfd_open, Int(), Flags(table="pidfd_open"), classes=(DESC,)),
    spec("pidfd_send_signal", sys_pidfd_send_signal, Fd(), Signal(), Struct(name="siginfo"),
         Flags(table="no_flags"), classes=(DESC, SIGNAL, PROCESS)),
    spec("pidfd_getfd", sys_pidfd_getfd, Fd(), Int(), Flags(table="no_flags"), classes=(DESC,)),
)

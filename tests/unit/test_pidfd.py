"""pidfds and waitid on the kernel model, without a CPU: every error path Linux takes
(measured on the host kernel with a C probe under strace), readiness of thread pidfds,
signal delivery through them, and how the tracer prints the calls."""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest

from emulator.trace.format import FormatContext, format_args, format_siginfo
from syscalls import pidfd, process
from syscalls.abi import ARM, X86_64, LinuxAbi
from syscalls.context import SyscallContext
from syscalls.errno import Errno, SyscallError
from syscalls.fs import sys_fcntl, sys_fstat
from syscalls.kernel.clock import Clock
from syscalls.kernel.core import Kernel, KernelOptions
from syscalls.kernel.files import EPOLLHUP, EPOLLIN, EPOLLRDNORM, Epoll, FdTable
from syscalls.kernel.memory import GuestMemory
from syscalls.kernel.pidfd import PidFd
from syscalls.kernel.signals import SI_QUEUE, SI_TKILL, SI_USER, SigInfo, bit
from syscalls.kernel.task import Process, Task
from syscalls.structs import pack_siginfo
from syscalls.table import all_specs
from tests.unit.flat_memory import FlatMemory

PID = 1000
SIGUSR1, SIGUSR2 = 10, 12
O_NONBLOCK, O_EXCL, O_RDWR = 0o4000, 0o200, 2
F_GETFD, F_GETFL, F_DUPFD = 1, 3, 0
P_ALL, P_PID, P_PGID, P_PIDFD = 0, 1, 2, 3
WNOHANG, WEXITED = 1, 4
SCRATCH = 0x1000
UNMAPPED = 0x100000


def make_ctx(abi: LinuxAbi = X86_64, *, pgid: int = PID) -> SyscallContext:
    mem = GuestMemory(FlatMemory(), abi.word_size)
    kernel = Kernel(abi, mem, Clock(), KernelOptions())
    proc = Process(pid=PID, ppid=999, vm=None, fds=FdTable(), exe="/x",  # type: ignore[arg-type]
                   host_exe="/x", argv=[], envp=[], cwd="/", pgid=pgid)
    kernel.attach_process(proc)
    task = Task(PID, proc)
    proc.tasks[PID] = task
    for fd in range(3):  # stdio, so fd numbers come out as in a real process
        proc.fds.install(Epoll(0, fd))
    return SyscallContext(kernel, task, None)  # type: ignore[arg-type]


def add_thread(ctx: SyscallContext) -> Task:
    task = Task(ctx.kernel.new_tid(), ctx.process)
    ctx.process.tasks[task.tid] = task
    return task


def as_thread(ctx: SyscallContext, task: Task) -> SyscallContext:
    return SyscallContext(ctx.kernel, task, None)  # type: ignore[arg-type]


def errno_of(call: Callable[..., object], *args: object) -> Errno:
    with pytest.raises(SyscallError) as info:
        call(*args)
    return info.value.errno


# pidfd_open ------------------------------------------------------------------------------

def test_pidfd_open_of_self_is_a_close_on_exec_pidfd() -> None:
    ctx = make_ctx()
    fd = pidfd.sys_pidfd_open(ctx, PID, 0)
    assert fd == 3
    assert isinstance(ctx.fds.get(fd), PidFd)
    assert sys_fcntl(ctx, fd, F_GETFD, 0) == 1  # FD_CLOEXEC
    assert sys_fcntl(ctx, fd, F_GETFL, 0) == O_RDWR
    assert ctx.fds.get(fd).path == "anon_inode:[pidfd]"
    nonblocking = pidfd.sys_pidfd_open(ctx, PID, O_NONBLOCK)
    assert sys_fcntl(ctx, nonblocking, F_GETFL, 0) == O_RDWR | O_NONBLOCK


def test_pidfd_open_errors() -> None:
    ctx = make_ctx()
    thread = add_thread(ctx)
    assert errno_of(pidfd.sys_pidfd_open, ctx, PID, 1) is Errno.EINVAL  # unknown flag
    assert errno_of(pidfd.sys_pidfd_open, ctx, PID, 0x80000000) is Errno.EINVAL
    assert errno_of(pidfd.sys_pidfd_open, ctx, 0, 0) is Errno.EINVAL
    assert errno_of(pidfd.sys_pidfd_open, ctx, -1, 0) is Errno.EINVAL
    # Every pid but the guest's own threads is invisible: as if it did not exist.
    assert errno_of(pidfd.sys_pidfd_open, ctx, 1, 0) is Errno.ESRCH
    assert errno_of(pidfd.sys_pidfd_open, ctx, 999999, 0) is Errno.ESRCH
    # A thread id is not a thread group: only PIDFD_THREAD opens it.
    assert errno_of(pidfd.sys_pidfd_open, ctx, thread.tid, 0) is Errno.EINVAL
    assert pidfd.sys_pidfd_open(ctx, thread.tid, O_EXCL) == 3
    ctx.kernel.exit_thread(thread, 0)
    assert errno_of(pidfd.sys_pidfd_open, ctx, thread.tid, O_EXCL) is Errno.ESRCH
    assert 3 in ctx.fds.entries and 4 not in ctx.fds.entries  # failures install nothing


def test_pidfd_fstat_and_file_operations() -> None:
    ctx = make_ctx()
    fd = pidfd.sys_pidfd_open(ctx, PID, 0)
    assert sys_fstat(ctx, fd, SCRATCH) == 0
    mode = struct.unpack_from("<I", ctx.mem.read(SCRATCH + 24, 4))[0]  # x86-64 st_mode
    assert mode == 0o700
    file = ctx.fds.get(fd)
    assert errno_of(file.read, 8) is Errno.EINVAL
    assert errno_of(file.write, b"x") is Errno.EINVAL
    assert errno_of(file.seek, 0, 0) is Errno.ESPIPE
    dup = sys_fcntl(ctx, fd, F_DUPFD, 0)
    assert ctx.fds.get(dup) is file and sys_fcntl(ctx, dup, F_GETFD, 0) == 0
    assert pidfd.sys_pidfd_send_signal(ctx, dup, 0, 0, 0) == 0


def test_self_pidfd_is_never_ready_while_running() -> None:
    ctx = make_ctx()
    file = ctx.fds.get(pidfd.sys_pidfd_open(ctx, PID, 0))
    assert file.poll() == 0
    other = add_thread(ctx)
    ctx.kernel.exit_thread(other, 0)
    assert file.poll() == 0


def test_thread_pidfd_becomes_readable_and_wakes_epoll_when_the_thread_exits() -> None:
    ctx = make_ctx()
    thread = add_thread(ctx)
    fd = pidfd.sys_pidfd_open(ctx, thread.tid, O_EXCL)
    file = ctx.fds.get(fd)
    assert isinstance(file, PidFd)
    ep = Epoll(0, 99)
    ep.add(fd, file, EPOLLIN | (1 << 31), 7)  # edge-triggered, as Go registers fds
    assert file.poll() == 0 and ep.collect(8) == []
    ctx.kernel.exit_thread(thread, 0)
    ready = EPOLLIN | EPOLLRDNORM | EPOLLHUP  # a released non-leader thread
    assert file.poll() == ready
    assert ep.collect(8) == [(EPOLLIN | EPOLLHUP, 7)]
    assert ep.collect(8) == []  # one edge
    ctx.fds.close(fd)
    assert file._target_exited not in thread.exit_queue.listeners


def test_leader_thread_pidfd_is_readable_without_hangup_while_the_group_lives() -> None:
    ctx = make_ctx()
    add_thread(ctx)
    group = ctx.fds.get(pidfd.sys_pidfd_open(ctx, PID, 0))
    leader = ctx.fds.get(pidfd.sys_pidfd_open(ctx, PID, O_EXCL))
    ctx.kernel.exit_thread(ctx.task, 0)
    assert leader.poll() == EPOLLIN | EPOLLRDNORM
    assert group.poll() == 0


# pidfd_send_signal -----------------------------------------------------------------------

def test_pidfd_send_signal_rejects_what_is_not_a_pidfd() -> None:
    ctx = make_ctx()
    assert errno_of(pidfd.sys_pidfd_send_signal, ctx, 1, 0, 0, 0) is Errno.EBADF
    assert errno_of(pidfd.sys_pidfd_send_signal, ctx, 99, 0, 0, 0) is Errno.EBADF
    assert errno_of(pidfd.sys_pidfd_send_signal, ctx, -1, 0, 0, 0) is Errno.EBADF


@pytest.mark.parametrize("flags", [8, 3, 6, 0x80000000])
def test_pidfd_send_signal_bad_flags_come_before_the_fd(flags: int) -> None:
    ctx = make_ctx()
    assert errno_of(pidfd.sys_pidfd_send_signal, ctx, 99, 0, 0, flags) is Errno.EINVAL


def test_pidfd_send_signal_signal_zero_checks_only() -> None:
    ctx = make_ctx()
    fd = pidfd.sys_pidfd_open(ctx, PID, 0)
    for flags in (0, 1, 2, 4):
        assert pidfd.sys_pidfd_send_signal(ctx, fd, 0, 0, flags) == 0
    assert not ctx.process.pending.mask and not ctx.task.pending.mask


def test_pidfd_send_signal_delivers_like_kill_and_tgkill() -> None:
    ctx = make_ctx()
    fd = pidfd.sys_pidfd_open(ctx, PID, 0)
    assert pidfd.sys_pidfd_send_signal(ctx, fd, SIGUSR1, 0, 0) == 0
    assert ctx.process.pending.mask == bit(SIGUSR1)
    info = ctx.process.pending.take(0)
    assert info is not None and (info.code, info.pid) == (SI_USER, PID)
    assert pidfd.sys_pidfd_send_signal(ctx, fd, SIGUSR2, 0, 1) == 0  # PIDFD_SIGNAL_THREAD
    assert ctx.task.pending.mask == bit(SIGUSR2)
    info = ctx.task.pending.take(0)
    assert info is not None and info.code == SI_TKILL


def test_pidfd_send_signal_invalid_signal_and_gone_targets() -> None:
    ctx = make_ctx()
    fd = pidfd.sys_pidfd_open(ctx, PID, 0)
    assert errno_of(pidfd.sys_pidfd_send_signal, ctx, fd, 65, 0, 0) is Errno.EINVAL
    assert errno_of(pidfd.sys_pidfd_send_signal, ctx, fd, -1, 0, 0) is Errno.EINVAL
    thread = add_thread(ctx)
    tfd = pidfd.sys_pidfd_open(ctx, thread.tid, O_EXCL)
    ctx.kernel.exit_thread(thread, 0)
    assert errno_of(pidfd.sys_pidfd_send_signal, ctx, tfd, 0, 0, 0) is Errno.ESRCH
    # The target is looked up before the signal number is checked.
    assert errno_of(pidfd.sys_pidfd_send_signal, ctx, tfd, 65, 0, 0) is Errno.ESRCH


def test_pidfd_send_signal_to_the_process_group() -> None:
    leader = make_ctx(pgid=PID)
    fd = pidfd.sys_pidfd_open(leader, PID, 0)
    assert pidfd.sys_pidfd_send_signal(leader, fd, SIGUSR1, 0, 4) == 0
    assert leader.process.pending.mask == bit(SIGUSR1)
    member = make_ctx(pgid=PID - 5)  # not a group leader: the pid has no group
    fd = pidfd.sys_pidfd_open(member, PID, 0)
    assert errno_of(pidfd.sys_pidfd_send_signal, member, fd, 0, 0, 4) is Errno.ESRCH


@pytest.mark.parametrize("abi", [X86_64, ARM], ids=["x86_64", "arm"])
def test_pidfd_send_signal_with_a_siginfo(abi: LinuxAbi) -> None:
    ctx = make_ctx(abi)
    fd = pidfd.sys_pidfd_open(ctx, PID, 0)
    word = abi.word_size
    ctx.mem.write(SCRATCH, pack_siginfo(word, SIGUSR1, SI_QUEUE, pid=77, uid=5, value=42))
    assert errno_of(pidfd.sys_pidfd_send_signal, ctx, fd, SIGUSR2, SCRATCH, 0) is Errno.EINVAL
    assert errno_of(pidfd.sys_pidfd_send_signal, ctx, fd, SIGUSR1, UNMAPPED, 0) is Errno.EFAULT
    assert pidfd.sys_pidfd_send_signal(ctx, fd, SIGUSR1, SCRATCH, 0) == 0
    info = ctx.process.pending.take(0)
    assert info is not None
    assert (info.code, info.pid, info.uid, info.value) == (SI_QUEUE, 77, 5, 42)
    # Another thread may not forge a kernel or kill() siginfo for the process...
    other = as_thread(ctx, add_thread(ctx))
    ctx.mem.write(SCRATCH, pack_siginfo(word, SIGUSR1, SI_USER))
    assert errno_of(pidfd.sys_pidfd_send_signal, other, fd, SIGUSR1, SCRATCH, 0) is Errno.EPERM
    ctx.mem.write(SCRATCH, pack_siginfo(word, SIGUSR1, SI_TKILL))
    assert errno_of(pidfd.sys_pidfd_send_signal, other, fd, SIGUSR1, SCRATCH, 0) is Errno.EPERM
    # ...nor for a process group, but the thread a pidfd names may for itself.
    assert errno_of(pidfd.sys_pidfd_send_signal, ctx, fd, SIGUSR1, SCRATCH, 4) is Errno.EPERM
    assert pidfd.sys_pidfd_send_signal(ctx, fd, SIGUSR1, SCRATCH, 0) == 0


# pidfd_getfd -----------------------------------------------------------------------------

def test_pidfd_getfd_duplicates_own_descriptors_close_on_exec() -> None:
    ctx = make_ctx()
    fd = pidfd.sys_pidfd_open(ctx, PID, 0)
    new = pidfd.sys_pidfd_getfd(ctx, fd, 1, 0)
    assert new == 4 and ctx.fds.get(new) is ctx.fds.get(1)
    assert sys_fcntl(ctx, new, F_GETFD, 0) == 1


def test_pidfd_getfd_errors() -> None:
    ctx = make_ctx()
    fd = pidfd.sys_pidfd_open(ctx, PID, 0)
    assert errno_of(pidfd.sys_pidfd_getfd, ctx, fd, 1, 1) is Errno.EINVAL
    assert errno_of(pidfd.sys_pidfd_getfd, ctx, 99, 1, 1) is Errno.EINVAL  # flags first
    assert errno_of(pidfd.sys_pidfd_getfd, ctx, fd, 77, 0) is Errno.EBADF
    assert errno_of(pidfd.sys_pidfd_getfd, ctx, fd, -1, 0) is Errno.EBADF
    assert errno_of(pidfd.sys_pidfd_getfd, ctx, 1, 1, 0) is Errno.EBADF
    ctx.fds.limit = 4
    assert errno_of(pidfd.sys_pidfd_getfd, ctx, fd, 1, 0) is Errno.EMFILE
    ctx.fds.limit = 64
    thread = add_thread(ctx)
    tfd = pidfd.sys_pidfd_open(ctx, thread.tid, O_EXCL)
    ctx.kernel.exit_thread(thread, 0)
    assert errno_of(pidfd.sys_pidfd_getfd, ctx, tfd, 1, 0) is Errno.ESRCH
    add_thread(ctx)
    ctx.kernel.exit_thread(ctx.task, 0)  # the leader: a zombie while another thread lives
    assert errno_of(pidfd.sys_pidfd_getfd, ctx, fd, 1, 0) is Errno.EBADF


# waitid ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("idtype", "upid", "options", "expected"), [
    (P_PIDFD, 3, WEXITED, Errno.ECHILD),  # Go's probe: a process is not its own child
    (P_PIDFD, 3, WEXITED | WNOHANG, Errno.ECHILD),
    (P_PIDFD, 3, 0, Errno.EINVAL),
    (P_PIDFD, 3, 0x100000, Errno.EINVAL),
    (P_PIDFD, 1, WEXITED, Errno.EBADF),
    (P_PIDFD, 99, WEXITED, Errno.EBADF),
    (P_PIDFD, -1, WEXITED, Errno.EINVAL),
    (4, 0, WEXITED, Errno.EINVAL),
    (P_ALL, 0, WEXITED, Errno.ECHILD),
    (P_PID, 0, WEXITED, Errno.EINVAL),
    (P_PID, PID, WEXITED, Errno.ECHILD),
    (P_PGID, -1, WEXITED, Errno.EINVAL),
    (P_PGID, 0, WEXITED, Errno.ECHILD),
])
def test_waitid_outcomes(idtype: int, upid: int, options: int, expected: Errno) -> None:
    ctx = make_ctx()
    assert pidfd.sys_pidfd_open(ctx, PID, 0) == 3
    assert errno_of(process.sys_waitid, ctx, idtype, upid, SCRATCH, options, 0) is expected


@pytest.mark.parametrize("abi", [X86_64, ARM], ids=["x86_64", "arm"])
def test_waitid_zeroes_the_result_and_faults_on_a_bad_pointer(abi: LinuxAbi) -> None:
    ctx = make_ctx(abi)
    fd = pidfd.sys_pidfd_open(ctx, PID, 0)
    ctx.mem.write(SCRATCH, b"\xff" * 128)
    assert errno_of(process.sys_waitid, ctx, P_PIDFD, fd, SCRATCH, WEXITED, 0) is Errno.ECHILD
    union = 16 if abi.word_size == 8 else 12
    data = ctx.mem.read(SCRATCH, 128)
    assert data[:12] == bytes(12) and data[union:union + 12] == bytes(12)
    assert data[union + 12:] == b"\xff" * (128 - union - 12)
    # Linux stores the result even when the call fails: a bad pointer wins.
    assert errno_of(process.sys_waitid, ctx, P_PIDFD, fd, UNMAPPED, WEXITED, 0) is Errno.EFAULT
    assert errno_of(process.sys_waitid, ctx, P_PIDFD, fd, UNMAPPED, 0, 0) is Errno.EFAULT
    assert errno_of(process.sys_waitid, ctx, P_PIDFD, fd, 0, 0, 0) is Errno.EINVAL


# The trace -------------------------------------------------------------------------------

def line(ctx: SyscallContext, name: str, *args: int, result: int) -> str:
    fc = FormatContext(ctx.mem, ctx.abi, 32, args, result)
    return f"{name}({', '.join(format_args(all_specs()[name], fc))})"


def test_strace_notation() -> None:
    """What strace 6.1 prints for the same calls natively."""
    ctx = make_ctx()
    assert line(ctx, "pidfd_open", 4242, 0, result=3) == "pidfd_open(4242, 0)"
    assert line(ctx, "pidfd_open", 4242, 1, result=-22) == \
        "pidfd_open(4242, 0x1 /* PIDFD_??? */)"
    assert line(ctx, "pidfd_open", 4242, 0o4200, result=5) == \
        "pidfd_open(4242, PIDFD_NONBLOCK|0x80)"
    assert line(ctx, "pidfd_send_signal", 3, 0, 0, 0, result=0) == \
        "pidfd_send_signal(3, 0, NULL, 0)"
    assert line(ctx, "pidfd_send_signal", 3, 0, UNMAPPED, 8, result=-14) == \
        f"pidfd_send_signal(3, 0, {UNMAPPED:#x}, 0x8)"
    ctx.mem.write(SCRATCH, pack_siginfo(8, SIGUSR1, SI_QUEUE, pid=77, uid=5, value=42))
    assert line(ctx, "pidfd_send_signal", 3, SIGUSR1, SCRATCH, 0, result=0) == (
        "pidfd_send_signal(3, SIGUSR1, {si_signo=SIGUSR1, si_code=SI_QUEUE, si_pid=77, "
        "si_uid=5, si_int=42, si_ptr=0x2a}, 0)")
    assert line(ctx, "waitid", 3, 5, SCRATCH, 4, 0, result=-10) == \
        f"waitid(P_PIDFD, 5, {SCRATCH:#x}, WEXITED, NULL)"
    assert line(ctx, "waitid", 4, 0, SCRATCH, 0x100000, 0, result=-22) == \
        f"waitid(0x4 /* P_??? */, 0, {SCRATCH:#x}, 0x100000 /* W??? */, NULL)"
    assert line(ctx, "waitid", 0, 0, SCRATCH, 5, 0, result=-10) == \
        f"waitid(P_ALL, 0, {SCRATCH:#x}, WNOHANG|WEXITED, NULL)"
    assert line(ctx, "pidfd_getfd", 3, 1, 1, result=-22) == "pidfd_getfd(3, 1, 0x1)"
    assert format_siginfo(SigInfo(SIGUSR1, -60, pid=77, uid=5, value=42)) == (
        "{si_signo=SIGUSR1, si_code=SI_ASYNCNL, si_pid=77, si_uid=5, si_int=42, si_ptr=0x2a}")

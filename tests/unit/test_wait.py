"""wait4/waitid with vfork children: kernel/exit.c's rules for which child a wait picks,
what it reports and when it blocks."""

from __future__ import annotations

import struct

import pytest

from syscalls import process as P
from syscalls.errno import Errno, SyscallError
from syscalls.kernel.task import Process, Task
from syscalls.kernel.wait import Block, WakeReason
from tests.unit.test_net_handlers import make_ctx

SIGCHLD = 17
WCLONE, WALL = 0x80000000, 0x40000000


def child_of(ctx, exit_signal: int = SIGCHLD) -> Process:  # type: ignore[no-untyped-def]
    parent = ctx.process
    pid = ctx.kernel.new_tid()
    child = Process(pid=pid, ppid=parent.pid, vm=parent.vm, fds=parent.fds.fork(),
                    exe=parent.exe, host_exe=parent.host_exe, argv=[], envp=[], cwd="/",
                    parent=parent, exit_signal=exit_signal)
    child.tasks[pid] = Task(pid, child)
    parent.children.append(child)
    return child


def wait4(ctx, pid: int, options: int = 0) -> int | Block:  # type: ignore[no-untyped-def]
    return P.sys_wait4(ctx, pid, 0x100, options, 0)


def test_no_children_is_echild() -> None:
    ctx = make_ctx()
    with pytest.raises(SyscallError) as err:
        wait4(ctx, -1)
    assert err.value.errno == Errno.ECHILD


def test_a_running_child_blocks_the_wait_and_its_exit_is_reaped_once() -> None:
    ctx = make_ctx()
    ctx.process.actions[SIGCHLD].handler = 0x1000  # SIGCHLD is discarded while ignored
    child = child_of(ctx)
    assert wait4(ctx, -1, P.WNOHANG) == 0
    waiting = wait4(ctx, child.pid)
    assert isinstance(waiting, Block)
    ctx.kernel.scheduler.block(ctx.task, waiting)
    ctx.kernel.exit_group(3, child)
    assert ctx.task in ctx.kernel.scheduler.runq  # the exit woke the parent
    assert waiting.retry(WakeReason.NOTIFIED) == child.pid
    assert ctx.mem.read_u32(0x100) == 3 << 8
    assert child not in ctx.process.children
    with pytest.raises(SyscallError) as err:
        wait4(ctx, child.pid)
    assert err.value.errno == Errno.ECHILD
    # SIGCHLD was queued on the parent with the child's status.
    info = ctx.process.pending.take(0)
    assert info is not None and (info.signo, info.code, info.pid, info.status) == (
        SIGCHLD, 1, child.pid, 3)


def test_clone_children_need_wclone_and_wall_takes_both() -> None:
    ctx = make_ctx()
    ctx.process.actions[SIGCHLD].handler = 0x1000
    quiet = child_of(ctx, exit_signal=0)
    ctx.kernel.exit_group(0, quiet)
    with pytest.raises(SyscallError) as err:
        wait4(ctx, -1)
    assert err.value.errno == Errno.ECHILD
    assert ctx.process.pending.take(0) is None  # exit signal 0: nothing sent
    assert wait4(ctx, -1, WCLONE) == quiet.pid
    normal = child_of(ctx)
    ctx.kernel.exit_group(1, normal)
    assert wait4(ctx, -1, WALL) == normal.pid


def test_waitid_reports_the_child_and_wnowait_leaves_it() -> None:
    ctx = make_ctx()
    child = child_of(ctx)
    ctx.kernel.kill_group(9, process=child)
    assert P.sys_waitid(ctx, P.P_PID, child.pid, 0x200, P.WEXITED | P.WNOWAIT, 0) == 0
    signo, _, code = struct.unpack("<iii", ctx.mem.read(0x200, 12))
    pid, _, status = struct.unpack("<iIi", ctx.mem.read(0x210, 12))
    assert (signo, code, pid, status) == (SIGCHLD, 2, child.pid, 9)  # CLD_KILLED by SIGKILL
    assert child in ctx.process.children
    assert P.sys_waitid(ctx, P.P_ALL, 0, 0x200, P.WEXITED, 0) == 0
    assert child not in ctx.process.children


def test_waitid_wnohang_with_nothing_exited_clears_the_result() -> None:
    ctx = make_ctx()
    child_of(ctx)
    ctx.mem.write(0x200, b"\xff" * 32)
    assert P.sys_waitid(ctx, P.P_ALL, 0, 0x200, P.WEXITED | P.WNOHANG, 0) == 0
    assert ctx.mem.read(0x200, 12) == bytes(12) and ctx.mem.read(0x210, 12) == bytes(12)


def test_a_child_exit_closes_its_copy_of_the_files() -> None:
    ctx = make_ctx()
    from syscalls import net

    assert net.sys_socketpair(ctx, 1, 1, 0, 0x100) == 0
    a, _ = struct.unpack("<ii", ctx.mem.read(0x100, 8))
    sock = ctx.fds.get(a)
    child = child_of(ctx)
    assert sock.refs == 2
    ctx.kernel.exit_group(0, child)
    assert sock.refs == 1


@pytest.mark.parametrize(("fields", "size", "errno"), [
    ({}, 63, Errno.EINVAL),                                  # older than CLONE_ARGS_SIZE_VER0
    ({}, 4097, Errno.E2BIG),                                 # more than a page
    ({"tail": 1}, 96, Errno.E2BIG),                          # unknown fields must be zero
    ({"flags": 0x4000 | 0x100 | 17}, 88, Errno.EINVAL),      # CSIGNAL bits belong elsewhere
    ({"flags": 0x4000 | 0x100, "exit_signal": 65}, 88, Errno.EINVAL),
    ({"flags": 0x4000 | 0x100, "stack": 0x1000}, 88, Errno.EINVAL),  # stack without size
    ({"flags": 0x4000 | 0x100, "set_tid_size": 1}, 88, Errno.EPERM),
])
def test_clone3_refuses_what_linux_refuses(fields: dict[str, int], size: int,
                                           errno: Errno) -> None:
    from syscalls import thread

    ctx = make_ctx()
    values = [fields.get(name, 0) for name in thread.CLONE_ARGS_FIELDS] + [fields.get("tail", 0)]
    ctx.mem.write(0x1000, struct.pack(f"<{len(values)}Q", *values))
    with pytest.raises(SyscallError) as err:
        thread.sys_clone3(ctx, 0x1000, size)
    assert err.value.errno == errno

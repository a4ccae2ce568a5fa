"""The socket handlers on real host sockets, without a CPU: message headers in both ABIs'
layouts, blocking and non-blocking receives, option filtering, --no-network, unix paths
relative to the guest's working directory, and deterministic port numbering."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from syscalls import net, poll
from syscalls.abi import ARM, X86_64, LinuxAbi
from syscalls.context import SyscallContext
from syscalls.errno import Errno, SyscallError
from syscalls.kernel.clock import Clock
from syscalls.kernel.core import Kernel, KernelOptions
from syscalls.kernel.files import FdTable
from syscalls.kernel.memory import GuestMemory
from syscalls.kernel.task import Process, Task
from syscalls.kernel.wait import Block, WakeReason
from tests.unit.flat_memory import FlatMemory

AF_UNIX, AF_INET = 1, 2
SOCK_STREAM, SOCK_DGRAM = 1, 2
SOCK_NONBLOCK = 0o4000
MSG_DONTWAIT, MSG_TRUNC = 0x40, 0x20


def make_ctx(abi: LinuxAbi = X86_64, cwd: str = "/", **options: object) -> SyscallContext:
    mem = GuestMemory(FlatMemory(), abi.word_size)
    kernel = Kernel(abi, mem, Clock(), KernelOptions(**options))  # type: ignore[arg-type]
    process = Process(pid=1000, ppid=999, vm=None, fds=FdTable(), exe="/x",  # type: ignore[arg-type]
                      host_exe="/x", argv=[], envp=[], cwd=cwd)
    kernel.attach_process(process)
    task = Task(1000, process)
    process.tasks[1000] = task
    return SyscallContext(kernel, task, None)  # type: ignore[arg-type]


def pair(ctx: SyscallContext, kind: int = SOCK_STREAM) -> tuple[int, int]:
    assert net.sys_socketpair(ctx, AF_UNIX, kind, 0, 0x100) == 0
    return struct.unpack("<ii", ctx.mem.read(0x100, 8))  # type: ignore[return-value]


def msghdr(abi: LinuxAbi, name: int, namelen: int, iov: int, iovlen: int) -> bytes:
    if abi.word_size == 8:
        return struct.pack("<QI4xQQQQi4x", name, namelen, iov, iovlen, 0, 0, 0)
    return struct.pack("<IIIIIIi", name, namelen, iov, iovlen, 0, 0, 0)


def iovecs(abi: LinuxAbi, *vecs: tuple[int, int]) -> bytes:
    fmt = "<QQ" if abi.word_size == 8 else "<II"
    return b"".join(struct.pack(fmt, base, length) for base, length in vecs)


@pytest.mark.parametrize("abi", [X86_64, ARM], ids=["x86_64", "arm"])
def test_sendmsg_recvmsg_scatter_gather_and_truncation(abi: LinuxAbi) -> None:
    ctx = make_ctx(abi)
    a, b = pair(ctx, SOCK_DGRAM)
    ctx.mem.write(0x1000, b"hello ")
    ctx.mem.write(0x1100, b"world")
    ctx.mem.write(0x200, iovecs(abi, (0x1000, 6), (0x1100, 5)))
    ctx.mem.write(0x300, msghdr(abi, 0, 0, 0x200, 2))
    assert net.sys_sendmsg(ctx, a, 0x300, 0) == 11
    # Receive into 4 + 3 bytes: the datagram is cut and MSG_TRUNC reported.
    ctx.mem.write(0x400, iovecs(abi, (0x2000, 4), (0x2100, 3)))
    ctx.mem.write(0x500, msghdr(abi, 0, 0, 0x400, 2))
    assert net.sys_recvmsg(ctx, b, 0x500, 0) == 7
    assert ctx.mem.read(0x2000, 4) == b"hell" and ctx.mem.read(0x2100, 3) == b"o w"
    flags_offset = 48 if abi.word_size == 8 else 24
    assert ctx.mem.read_u32(0x500 + flags_offset) == MSG_TRUNC


def test_blocking_recv_parks_until_data_arrives() -> None:
    ctx = make_ctx()
    a, b = pair(ctx)
    outcome = net.sys_recvfrom(ctx, b, 0x1000, 16, 0, 0, 0)
    assert isinstance(outcome, Block)
    # The idle loop waits for the host epoll instance to become readable, whether the
    # guest waits to read or to write (an epoll fd never selects as writable).
    edges = ctx.fds.get(b).edges  # type: ignore[attr-defined]
    assert outcome.host_fds == ((edges.fd, 1),)
    assert ctx.fds.get(a).host_wait(4) == (edges.fd, 1)
    ctx.mem.write(0x2000, b"ping")
    assert net.sys_sendto(ctx, a, 0x2000, 4, 0, 0, 0) == 4
    assert outcome.retry(WakeReason.NOTIFIED) == 4
    assert ctx.mem.read(0x1000, 4) == b"ping"
    with pytest.raises(SyscallError) as err:
        net.sys_recvfrom(ctx, b, 0x1000, 16, MSG_DONTWAIT, 0, 0)
    assert err.value.errno == Errno.EAGAIN


def test_nonblocking_socket_gives_eagain_and_epoll_sees_edges() -> None:
    ctx = make_ctx()
    fd = net.sys_socket(ctx, AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0)
    with pytest.raises(SyscallError) as err:
        net.sys_recvfrom(ctx, fd, 0x1000, 16, 0, 0, 0)
    assert err.value.errno in (Errno.EINVAL, Errno.EAGAIN, Errno.ENOTCONN)
    a, b = pair(ctx)
    sock_b = ctx.fds.get(b)
    before = sock_b.seq_in
    ctx.mem.write(0x2000, b"x")
    net.sys_sendto(ctx, a, 0x2000, 1, 0, 0, 0)
    assert sock_b.seq_in > before  # the host's wake-up became a guest-side edge


def test_options_only_known_layouts() -> None:
    ctx = make_ctx()
    fd = net.sys_socket(ctx, AF_INET, SOCK_STREAM, 0)
    ctx.mem.write_u32(0x100, 1)
    assert net.sys_setsockopt(ctx, fd, 6, 1, 0x100, 4) == 0  # TCP_NODELAY
    ctx.mem.write_u32(0x200, 4)
    assert net.sys_getsockopt(ctx, fd, 1, 3, 0x300, 0x200) == 0  # SO_TYPE
    assert ctx.mem.read_u32(0x300) == SOCK_STREAM
    with pytest.raises(SyscallError) as err:
        net.sys_setsockopt(ctx, fd, 1, 20, 0x100, 16)  # SO_RCVTIMEO_OLD: a timeval
    assert err.value.errno == Errno.ENOPROTOOPT
    with pytest.raises(SyscallError) as err:
        net.sys_getsockopt(ctx, 0 if fd else 1, 1, 3, 0x300, 0x200)
    assert err.value.errno in (Errno.EBADF, Errno.ENOTSOCK)


def test_no_network_refuses_inet_only() -> None:
    ctx = make_ctx(network=False)
    for family in (AF_INET, 10, 16):
        with pytest.raises(SyscallError) as err:
            net.sys_socket(ctx, family, SOCK_STREAM, 0)
        assert err.value.errno == Errno.EACCES
    assert net.sys_socket(ctx, AF_UNIX, SOCK_STREAM, 0) >= 0
    a, _ = pair(ctx, SOCK_DGRAM)
    ctx.mem.write(0x400, struct.pack("<H", AF_INET) + struct.pack(">H", 9) + bytes(12))
    with pytest.raises(SyscallError) as err:
        net.sys_sendto(ctx, a, 0x100, 1, 0, 0x400, 16)
    assert err.value.errno == Errno.EACCES


def test_unix_path_is_relative_to_the_guest_cwd(tmp_path: Path) -> None:
    ctx = make_ctx(cwd=str(tmp_path))
    fd = net.sys_socket(ctx, AF_UNIX, SOCK_STREAM, 0)
    ctx.mem.write(0x100, struct.pack("<H", AF_UNIX) + b"sock\0")
    assert net.sys_bind(ctx, fd, 0x100, 7) == 0
    assert (tmp_path / "sock").exists() and not os.path.exists("sock")
    ctx.mem.write_u32(0x200, 110)
    assert net.sys_getsockname(ctx, fd, 0x300, 0x200) == 0
    assert ctx.mem.read_u32(0x200) == 7  # the name as the guest gave it
    assert ctx.mem.read(0x302, 5) == b"sock\0"


def test_deterministic_ports_are_numbered_in_order() -> None:
    ctx = make_ctx(deterministic=True)
    fd = net.sys_socket(ctx, AF_INET, SOCK_STREAM, 0)
    ctx.mem.write(0x100, struct.pack("<H", AF_INET) + struct.pack(">H", 0)
                  + bytes([127, 0, 0, 1]) + bytes(8))
    assert net.sys_bind(ctx, fd, 0x100, 16) == 0
    ctx.mem.write_u32(0x200, 16)
    net.sys_getsockname(ctx, fd, 0x300, 0x200)
    assert struct.unpack(">H", ctx.mem.read(0x302, 2))[0] == net.PortMap.FIRST
    # Connecting to the port the guest saw reaches the host's port.
    assert net.sys_listen(ctx, fd, 1) == 0
    client = net.sys_socket(ctx, AF_INET, SOCK_STREAM, 0)
    outcome = net.sys_connect(ctx, client, 0x300, 16)
    while isinstance(outcome, Block):
        outcome = outcome.retry(WakeReason.NOTIFIED)
    assert outcome == 0


# Readiness must never be lost between the host's epoll (which reports each socket's
# changes once) and a guest thread about to wait: both cases below hung Go's TCP
# client now and then (issue 4).

EPOLL_CTL_ADD, EPOLLIN_ET = 1, 0x1 | 0x80000000


def _epoll_with(ctx: SyscallContext, *fds: int) -> int:
    ep = poll.sys_epoll_create1(ctx, 0)
    for fd in fds:
        ctx.mem.write(0x3000, struct.pack("<IQ", EPOLLIN_ET, fd))
        assert poll.sys_epoll_ctl(ctx, ep, EPOLL_CTL_ADD, fd, 0x3000) == 0
    return ep


def test_epoll_add_of_a_socket_already_ready_wakes_the_waiter() -> None:
    ctx = make_ctx()
    a, b = pair(ctx)
    ep = _epoll_with(ctx)
    waiting = poll.do_epoll_wait(ctx, ep, 0x4000, 8, None)
    assert isinstance(waiting, Block)
    sched = ctx.kernel.scheduler
    sched.block(ctx.task, waiting)
    # The data's edge is taken in by the send itself, before anyone watches b.
    ctx.mem.write(0x2000, b"x")
    assert net.sys_sendto(ctx, a, 0x2000, 1, 0, 0, 0) == 1
    ctx.mem.write(0x3000, struct.pack("<IQ", EPOLLIN_ET, b))
    assert poll.sys_epoll_ctl(ctx, ep, EPOLL_CTL_ADD, b, 0x3000) == 0
    assert ctx.task in sched.runq  # Linux wakes waiters when an added file is ready
    assert waiting.retry(WakeReason.NOTIFIED) == 1
    assert struct.unpack("<IQ", ctx.mem.read(0x4000, 12)) == (1, b)


def test_an_edge_arriving_during_an_epoll_scan_still_wakes_the_waiter() -> None:
    ctx = make_ctx()
    a1, b1 = pair(ctx)
    _a2, b2 = pair(ctx)
    ep = _epoll_with(ctx, b1, b2)
    sender, second = ctx.fds.get(a1), ctx.fds.get(b2)
    scanned_second = second.poll

    def data_for_b1_arrives_then_poll() -> int:
        # The host delivers to b1 after the scan looked at it: its news must survive
        # until the thread is waiting (here: to the next look between time slices).
        os.write(sender.fd, b"late")  # type: ignore[attr-defined]
        return scanned_second()

    second.poll = data_for_b1_arrives_then_poll  # type: ignore[method-assign]
    waiting = poll.do_epoll_wait(ctx, ep, 0x4000, 8, None)
    second.poll = scanned_second  # type: ignore[method-assign]
    assert isinstance(waiting, Block)
    sched = ctx.kernel.scheduler
    sched.block(ctx.task, waiting)
    sched.poll_host()
    assert ctx.task in sched.runq
    assert waiting.retry(WakeReason.HOST_READY) == 1
    assert struct.unpack("<IQ", ctx.mem.read(0x4000, 12)) == (1, b1)

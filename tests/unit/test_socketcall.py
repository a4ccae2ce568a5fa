"""i386's socketcall(2): routing a carried call to its own handler (and spec, so that it
blocks, restarts and is traced as the direct call), Linux's refusals, the i386 table,
trace filtering by the carried call's name, and strace's notation for what is refused.
Behaviour against the real machine: the golden case net-1.27-386-static-stripped."""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest

from emulator.trace.filter import compile_trace
from emulator.trace.format import FormatContext, format_args
from syscalls import socketcall
from syscalls.abi import I386
from syscalls.context import SyscallContext
from syscalls.errno import Errno, SyscallError
from syscalls.kernel.clock import Clock
from syscalls.kernel.core import Kernel, KernelOptions
from syscalls.kernel.files import FdTable
from syscalls.kernel.memory import GuestMemory
from syscalls.kernel.net import Socket
from syscalls.kernel.task import Process, Task
from syscalls.table import table_for
from tests.unit.flat_memory import FlatMemory

AF_INET, AF_UNIX, SOCK_STREAM = 2, 1, 1
ARGS = 0x1000
TOP = 1 << 16
SYS_SOCKET, SYS_LISTEN, SYS_SOCKETPAIR = 1, 4, 8


def make_ctx() -> SyscallContext:
    mem = GuestMemory(FlatMemory(), 4)
    kernel = Kernel(I386, mem, Clock(), KernelOptions())
    proc = Process(pid=1000, ppid=999, vm=None, fds=FdTable(), exe="/x",  # type: ignore[arg-type]
                   host_exe="/x", argv=[], envp=[], cwd="/")
    kernel.attach_process(proc)
    task = Task(1000, proc)
    proc.tasks[1000] = task
    return SyscallContext(kernel, task, None)  # type: ignore[arg-type]


def words(ctx: SyscallContext, addr: int, *values: int) -> None:
    ctx.mem.write(addr, struct.pack(f"<{len(values)}I", *(v & 0xFFFFFFFF for v in values)))


def errno_of(call: Callable[..., object], *args: object) -> Errno:
    with pytest.raises(SyscallError) as info:
        call(*args)
    return info.value.errno


def test_i386_has_both_socketcall_and_the_direct_socket_calls() -> None:
    table = table_for("i386")
    mux = table.multiplexers[102]
    assert 102 not in table.bound  # routed by the dispatcher, never called as is
    assert mux.own.spec.name == "socketcall"
    direct = {"socket": 359, "socketpair": 360, "bind": 361, "connect": 362, "listen": 363,
              "accept4": 364, "getsockopt": 365, "setsockopt": 366, "getsockname": 367,
              "getpeername": 368, "sendto": 369, "sendmsg": 370, "recvfrom": 371,
              "recvmsg": 372, "shutdown": 373}
    for name, number in direct.items():
        assert table.bound[number].spec.name == name
    for arch in ("x86_64", "arm", "aarch64"):
        assert not table_for(arch).multiplexers


def test_every_carried_call_runs_the_direct_calls_spec() -> None:
    table = table_for("i386")
    specs = {b.spec.name: b.spec for b in table.bound.values()}
    for call, (name, _) in socketcall.CALLS.items():
        key = socketcall.carried_key(call)
        assert table.carried_names[key] == name
        assert key not in table.bound and key not in table.names
        if name in ("recvmmsg", "sendmmsg"):  # not implemented as direct calls either
            assert key not in table.carried
            continue
        carried = table.carried[key]
        assert carried.spec.name == name
        if name in specs:
            assert carried.spec is specs[name]


def test_route_reads_exactly_the_words_the_kernel_copies() -> None:
    ctx = make_ctx()
    mux = table_for("i386").multiplexers[102]
    words(ctx, ARGS, AF_INET, SOCK_STREAM, 0)
    assert mux.route(ctx.mem, (102, SYS_SOCKET, ARGS)) == (0x660001, (0x660001, 2, 1, 0))
    # listen copies two words: an array ending right at the end of memory is enough.
    words(ctx, TOP - 8, 3, 0xFFFFFFFF)
    assert mux.route(ctx.mem, (102, SYS_LISTEN, TOP - 8)) == (0x660004, (0x660004, 3, 0xFFFFFFFF))
    decoded = table_for("i386").carried[0x660004].decode((3, 0xFFFFFFFF))
    assert decoded == (3, -1)  # listen's backlog is a C int, as in the direct call


@pytest.mark.parametrize(("call", "array"), [
    (0, ARGS), (21, ARGS), (-1, ARGS), (0x7FFFFFFF, ARGS),  # no such call
    (SYS_SOCKET, TOP - 8),  # socket needs three words, two are readable
    (SYS_SOCKET, 8 << 20),
])
def test_route_leaves_refusals_to_socketcall_itself(call: int, array: int) -> None:
    ctx = make_ctx()
    mux = table_for("i386").multiplexers[102]
    regs = (102, call & 0xFFFFFFFF, array)
    assert mux.route(ctx.mem, regs) == (102, regs)


def test_socketcall_refusals() -> None:
    ctx = make_ctx()
    for call in (0, 21, -1):
        assert errno_of(socketcall.sys_socketcall, ctx, call, ARGS) is Errno.EINVAL
    assert errno_of(socketcall.sys_socketcall, ctx, SYS_SOCKET, TOP - 8) is Errno.EFAULT
    words(ctx, ARGS, 3, 0, 0, 0, 0)
    assert errno_of(socketcall.sys_socketcall, ctx, 20, ARGS) is Errno.ENOSYS  # sendmmsg


def test_socketcall_alone_runs_the_carried_call() -> None:
    ctx = make_ctx()
    words(ctx, ARGS, AF_UNIX, SOCK_STREAM, 0, ARGS + 0x100)
    assert socketcall.sys_socketcall(ctx, SYS_SOCKETPAIR, ARGS) == 0
    a, b = struct.unpack("<ii", ctx.mem.read(ARGS + 0x100, 8))
    assert isinstance(ctx.fds.get(a), Socket) and isinstance(ctx.fds.get(b), Socket)
    ctx.fds.close_all()


def test_trace_filter_selects_carried_calls_by_name_and_class() -> None:
    table = table_for("i386")
    assert compile_trace(["trace=socket"], table) == {359, 0x660001}
    assert {0x660005, 0x660009, 0x66000A} <= compile_trace(["trace=accept,send,recv"], table)
    network = compile_trace(["trace=%network"], table)
    assert {0x660001, 0x660012, 359, 102} <= network
    assert 0x660001 in compile_trace(["trace=all"], table)
    assert 0x660001 not in compile_trace(["trace=!socket"], table)
    assert 0x660003 in compile_trace(["trace=/^conn"], table)


def test_refused_socketcall_prints_as_strace_does() -> None:
    ctx = make_ctx()
    spec = table_for("i386").multiplexers[102].own.spec

    def line(call: int, array: int) -> str:
        fc = FormatContext(ctx.mem, I386, 32, (call, array), -22)
        return ", ".join(format_args(spec, fc))

    assert line(0, 0xFF88D4D0) == "0, 0xff88d4d0"
    assert line(21, 0xFF88D4D0) == "21, 0xff88d4d0"
    assert line(-1, 0xFF88D4D0) == "-1, 0xff88d4d0"
    assert line(SYS_SOCKET, 8) == "SYS_SOCKET, 0x8"

"""Socket arguments in strace's notation. Every expected line was printed by the real
strace (6.x) for the same bytes, from native runs of bins/net-*-amd64 and of a Python
script binding AF_INET6 and abstract unix sockets."""

from __future__ import annotations

import socket
import struct

import pytest

from emulator.trace.format import format_args, format_result
from emulator.trace.netformat import format_sockaddr
from tests.unit.test_format import context, spec

BUF, LEN = 0x1000, 0x2000


def sin(port: int, addr: str) -> bytes:
    return struct.pack("<H", socket.AF_INET) + struct.pack(">H", port) + \
        socket.inet_aton(addr) + bytes(8)


def sin6(port: int, addr: str) -> bytes:
    return (struct.pack("<H", socket.AF_INET6) + struct.pack(">HI", port, 0)
            + socket.inet_pton(socket.AF_INET6, addr) + struct.pack("<I", 0))


def sun(path: bytes) -> bytes:
    return struct.pack("<H", socket.AF_UNIX) + path


@pytest.mark.parametrize("raw,text", [
    (sin(45691, "127.0.0.1"),
     '{sa_family=AF_INET, sin_port=htons(45691), sin_addr=inet_addr("127.0.0.1")}'),
    (sin6(0, "::1"), '{sa_family=AF_INET6, sin6_port=htons(0), sin6_flowinfo=htonl(0), '
                     'inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}'),
    (sun(b"/tmp/nettest3701819895/sock\0"),
     '{sa_family=AF_UNIX, sun_path="/tmp/nettest3701819895/sock"}'),
    (sun(b""), "{sa_family=AF_UNIX}"),
    (sun(b"\0elftrace-abstract"), '{sa_family=AF_UNIX, sun_path=@"elftrace-abstract"}'),
])
def test_sockaddr(raw: bytes, text: str) -> None:
    assert format_sockaddr(raw) == text


def line(name: str, args: tuple[int, ...], result: int, regions: dict[int, bytes],
         entry: dict[int, bytes] | None = None) -> str:
    fc = context(args, result=result, regions=regions)
    fc.entry = entry
    s = spec(name)
    return f"{name}({', '.join(format_args(s, fc))}) = {format_result(s, fc, result)}"


def test_socket_and_socketpair() -> None:
    assert line("socket", (2, 1 | 0o2000000 | 0o4000, 0), 3, {}) == \
        "socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK, IPPROTO_IP) = 3"
    assert line("socket", (1, 1 | 0o2000000 | 0o4000, 0), 3, {}) == \
        "socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK, 0) = 3"
    assert line("socketpair", (1, 1 | 0o2000000, 0, BUF), 0,
                {BUF: struct.pack("<ii", 3, 4)}) == \
        "socketpair(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0, [3, 4]) = 0"


def test_value_result_lengths() -> None:
    regions = {BUF: sin(35228, "127.0.0.1"), LEN: struct.pack("<I", 16)}
    entry = {LEN: struct.pack("<I", 112)}
    assert line("accept4", (3, BUF, LEN, 0o2000000 | 0o4000), 7, regions, entry) == (
        'accept4(3, {sa_family=AF_INET, sin_port=htons(35228), '
        'sin_addr=inet_addr("127.0.0.1")}, [112 => 16], SOCK_CLOEXEC|SOCK_NONBLOCK) = 7')
    failed = {LEN: struct.pack("<I", 112)}
    assert line("accept4", (3, BUF, LEN, 0o2000000 | 0o4000), -11, failed, entry) == (
        "accept4(3, 0x1000, [112], SOCK_CLOEXEC|SOCK_NONBLOCK) = "
        "-1 EAGAIN (Resource temporarily unavailable)")
    unnamed = {BUF: sun(b""), LEN: struct.pack("<I", 2)}
    assert line("getsockname", (4, BUF, LEN), 0, unnamed, entry) == \
        "getsockname(4, {sa_family=AF_UNIX}, [112 => 2]) = 0"


def test_options() -> None:
    one = {BUF: struct.pack("<i", 1)}
    assert line("setsockopt", (3, 1, 2, BUF, 4), 0, one) == \
        "setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0"
    assert line("setsockopt", (7, 6, 1, BUF, 4), 0, one) == \
        "setsockopt(7, SOL_TCP, TCP_NODELAY, [1], 4) = 0"
    assert line("setsockopt", (3, 41, 26, BUF, 4), -22, one) == \
        "setsockopt(3, SOL_IPV6, IPV6_V6ONLY, [1], 4) = -1 EINVAL (Invalid argument)"
    assert line("setsockopt", (3, 1, 13, BUF, 8), 0, {BUF: struct.pack("<ii", 1, 5)}) == \
        "setsockopt(3, SOL_SOCKET, SO_LINGER, {l_onoff=1, l_linger=5}, 8) = 0"
    refused = {BUF: struct.pack("<i", 111), LEN: struct.pack("<I", 4)}
    assert line("getsockopt", (3, 1, 4, BUF, LEN), 0, refused, {LEN: struct.pack("<I", 4)}) \
        == "getsockopt(3, SOL_SOCKET, SO_ERROR, [ECONNREFUSED], [4]) = 0"
    sock_type = {BUF: struct.pack("<i", 2), LEN: struct.pack("<I", 4)}
    assert line("getsockopt", (3, 1, 3, BUF, LEN), 0, sock_type) == \
        "getsockopt(3, SOL_SOCKET, SO_TYPE, [2], [4]) = 0"


def test_data_calls() -> None:
    regions = {BUF: b"DATAGRAM", LEN: sin(38502, "127.0.0.1")}
    assert line("sendto", (3, BUF, 8, 0, LEN, 16), 8, regions) == (
        'sendto(3, "DATAGRAM", 8, 0, {sa_family=AF_INET, sin_port=htons(38502), '
        'sin_addr=inet_addr("127.0.0.1")}, 16) = 8')
    assert line("shutdown", (4, 1), 0, {}) == "shutdown(4, SHUT_WR) = 0"
    assert line("listen", (3, 4096), 0, {}) == "listen(3, 4096) = 0"

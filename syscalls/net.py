"""Socket syscalls (net/socket.c): AF_UNIX, AF_INET and AF_INET6 over real host sockets.

x86-64 and ARM EABI both have the direct calls (socket, bind, ... accept4); i386's
multiplexed socketcall is not here. Each guest socket is a
:class:`~syscalls.kernel.net.Socket` (a non-blocking host socket); a call that would
block parks only the calling guest thread, unless the guest asked not to block
(O_NONBLOCK on the socket, MSG_DONTWAIT on the call).

Socket options are passed to the host only when their value has the same layout on
every architecture (ints, struct linger, struct ip_mreq...); others fail with
ENOPROTOOPT and a note, rather than being misread. ``--no-network`` refuses every
family but AF_UNIX with EACCES, as a seccomp or Landlock policy would.
"""

from __future__ import annotations

import os
import socket as host_socket
import struct
from collections.abc import Callable

from syscalls import abi as A
from syscalls.context import SyscallContext
from syscalls.errno import Errno, SyscallError
from syscalls.fs import io_or_block, resolver
from syscalls.kernel.files import EPOLLERR, EPOLLHUP, EPOLLOUT, WouldBlock
from syscalls.kernel.net import (
    AF_INET,
    AF_INET6,
    AF_UNIX,
    MAX_TRANSFER,
    MSG_CMSG_CLOEXEC,
    MSG_DONTWAIT,
    MSG_NOSIGNAL,
    MSG_TRUNC,
    SOCKADDR_MAX,
    SUN_PATH_OFFSET,
    Socket,
    host_edges,
)
from syscalls.kernel.wait import Block, WakeReason
from syscalls.spec import (
    NETWORK,
    Enum_,
    Fd,
    Flags,
    InBuf,
    Int,
    OutBuf,
    Restart,
    Size,
    Struct,
    Support,
    UInt,
    out,
    spec,
)
from syscalls.structs import unpack_iovecs

SOCK_STREAM = 1
SOCK_DGRAM = 2
SOCK_RAW = 3
SOCK_SEQPACKET = 5
SOCK_TYPE_MASK = 0xF
SOCK_NONBLOCK = A.O_NONBLOCK
SOCK_CLOEXEC = A.O_CLOEXEC
SUPPORTED_FAMILIES = (AF_UNIX, AF_INET, AF_INET6)
IOV_MAX = 1024
SHUT_RDWR = 2

SOL_SOCKET = 1
IPPROTO_IP = 0
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_IPV6 = 41
SO_PEERCRED = 17

# Options whose values have one layout on every Linux architecture, passed to the host
# as bytes (asm-generic/socket.h numbering, which ARM uses too).
PASSTHROUGH_OPTIONS: dict[int, frozenset[int]] = {
    SOL_SOCKET: frozenset({
        2,   # SO_REUSEADDR
        3,   # SO_TYPE
        4,   # SO_ERROR
        5,   # SO_DONTROUTE
        6,   # SO_BROADCAST
        7,   # SO_SNDBUF
        8,   # SO_RCVBUF
        9,   # SO_KEEPALIVE
        10,  # SO_OOBINLINE
        13,  # SO_LINGER (struct linger: two ints)
        15,  # SO_REUSEPORT
        16,  # SO_PASSCRED
        17,  # SO_PEERCRED (struct ucred: three ints; the pid is translated)
        18,  # SO_RCVLOWAT
        30,  # SO_ACCEPTCONN
        38,  # SO_PROTOCOL
        39,  # SO_DOMAIN
    }),
    IPPROTO_TCP: frozenset({
        1,   # TCP_NODELAY
        2,   # TCP_MAXSEG
        3,   # TCP_CORK
        4,   # TCP_KEEPIDLE
        5,   # TCP_KEEPINTVL
        6,   # TCP_KEEPCNT
        8,   # TCP_LINGER2
        9,   # TCP_DEFER_ACCEPT
        12,  # TCP_QUICKACK
        18,  # TCP_USER_TIMEOUT
        23,  # TCP_FASTOPEN
        25,  # TCP_NOTSENT_LOWAT
        30,  # TCP_FASTOPEN_CONNECT
    }),
    IPPROTO_IP: frozenset({1, 2, 3, 8, 10, 11, 32, 33, 34, 35, 36}),
    # IP_TOS, IP_TTL, IP_HDRINCL, IP_RECVTTL, IP_MTU_DISCOVER, IP_RECVERR,
    # IP_MULTICAST_IF, IP_MULTICAST_TTL, IP_MULTICAST_LOOP, IP_ADD/DROP_MEMBERSHIP
    IPPROTO_IPV6: frozenset({16, 17, 18, 19, 20, 21, 26, 49, 67}),
    # IPV6_UNICAST_HOPS, IPV6_MULTICAST_IF/HOPS/LOOP, IPV6_JOIN/LEAVE_GROUP, IPV6_V6ONLY,
    # IPV6_RECVPKTINFO, IPV6_TCLASS
    IPPROTO_UDP: frozenset({1, 100, 101, 103}),  # UDP_CORK, UDP_ENCAP, UDP_NO_CHECK6_*
}


def _socket(ctx: SyscallContext, fd: int) -> Socket:
    file = ctx.fds.get(fd)
    if not isinstance(file, Socket):
        raise SyscallError(Errno.ENOTSOCK)
    return file


def _network_allowed(ctx: SyscallContext, family: int) -> None:
    if family != AF_UNIX and not ctx.kernel.options.network:
        raise SyscallError(Errno.EACCES, "refused by --no-network")


def _install(ctx: SyscallContext, sock: host_socket.socket, flags: int) -> int:
    file = Socket(sock, flags, host_edges(ctx.kernel), ctx.kernel.new_inode())
    try:
        return ctx.fds.install(file, cloexec=bool(flags & SOCK_CLOEXEC))
    except SyscallError:
        file.release()
        raise


def _check_type(type_: int) -> tuple[int, int]:
    flags = type_ & ~SOCK_TYPE_MASK
    if flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC):
        raise SyscallError(Errno.EINVAL)
    return type_ & SOCK_TYPE_MASK, flags


def sys_socket(ctx: SyscallContext, family: int, type_: int, protocol: int) -> int:
    kind, flags = _check_type(type_)
    if family not in SUPPORTED_FAMILIES:
        _network_allowed(ctx, family)
        raise SyscallError(Errno.EAFNOSUPPORT, "only AF_UNIX, AF_INET and AF_INET6 sockets "
                                               "are emulated")
    _network_allowed(ctx, family)
    try:
        sock = host_socket.socket(family, kind | host_socket.SOCK_NONBLOCK
                                  | host_socket.SOCK_CLOEXEC, protocol)
    except OSError as exc:
        raise SyscallError(Errno(exc.errno or Errno.EIO)) from None
    return _install(ctx, sock, flags)


def sys_socketpair(ctx: SyscallContext, family: int, type_: int, protocol: int,
                   sv: int) -> int:
    kind, flags = _check_type(type_)
    if family != AF_UNIX:
        if family in SUPPORTED_FAMILIES:
            _network_allowed(ctx, family)
            raise SyscallError(Errno.EOPNOTSUPP)
        raise SyscallError(Errno.EAFNOSUPPORT)
    ctx.mem.read(sv, 8)  # EFAULT before anything is created, as the kernel checks
    try:
        a, b = host_socket.socketpair(family, kind | host_socket.SOCK_CLOEXEC, protocol)
    except OSError as exc:
        raise SyscallError(Errno(exc.errno or Errno.EIO)) from None
    first = _install(ctx, a, flags)
    try:
        second = _install(ctx, b, flags)
    except SyscallError:
        ctx.fds.close(first)
        b.close()
        raise
    ctx.mem.write(sv, struct.pack("<ii", first, second))
    return 0


# Addresses ---------------------------------------------------------------------------------

def read_sockaddr(ctx: SyscallContext, addr: int, addrlen: int) -> bytes:
    """The guest's sockaddr as host bytes: AF_UNIX paths resolved like open's."""
    if addrlen < 0 or addrlen > SOCKADDR_MAX:
        raise SyscallError(Errno.EINVAL)
    raw = ctx.mem.read(addr, addrlen) if addrlen else b""
    if len(raw) > SUN_PATH_OFFSET and raw[:2] == struct.pack("<H", AF_UNIX) and raw[2] != 0:
        path = raw[SUN_PATH_OFFSET:].split(b"\0", 1)[0]
        r = resolver(ctx)
        host = os.fsencode(r.host(r.absolute(os.fsdecode(path))))
        raw = raw[:SUN_PATH_OFFSET] + host + b"\0"
    return _map_port(ctx, raw, inbound=True)


class PortMap:
    """--deterministic: the ports the host picks (bind to port 0, a connect's local port)
    are shown to the guest as ports numbered in order of appearance, so that two runs
    see the same addresses. Ports the guest names itself keep their number."""

    FIRST = 40000

    def __init__(self) -> None:
        self.to_guest: dict[int, int] = {}
        self.to_host: dict[int, int] = {}

    def inbound(self, port: int) -> int:
        if port == 0:
            return 0
        host = self.to_host.get(port)
        if host is None:
            self.to_host[port] = self.to_guest[port] = host = port
        return host

    def outbound(self, port: int) -> int:
        guest = self.to_guest.get(port)
        if guest is None:
            guest = self.FIRST + len(self.to_guest)
            while guest in self.to_host:
                guest += 1
            self.to_guest[port], self.to_host[guest] = guest, port
        return guest


def _ports(ctx: SyscallContext) -> PortMap | None:
    if not ctx.kernel.options.deterministic:
        return None
    ports: PortMap | None = getattr(ctx.kernel, "net_ports", None)
    if ports is None:
        ports = PortMap()
        ctx.kernel.net_ports = ports  # type: ignore[attr-defined]
    return ports


def _map_port(ctx: SyscallContext, raw: bytes, inbound: bool) -> bytes:
    ports = _ports(ctx)
    if ports is None or _family_of(raw) not in (AF_INET, AF_INET6) or len(raw) < 4:
        return raw
    port = struct.unpack_from(">H", raw, 2)[0]
    mapped = ports.inbound(port) if inbound else ports.outbound(port)
    return raw[:2] + struct.pack(">H", mapped) + raw[4:]


def _family_of(raw: bytes) -> int:
    return struct.unpack_from("<H", raw)[0] if len(raw) >= 2 else -1


def write_sockaddr(ctx: SyscallContext, raw: bytes, addr: int, addrlen_ptr: int) -> None:
    """Copy out an address, truncated to the guest's buffer; *addrlen gets its full size."""
    if not addr:
        return
    raw = _map_port(ctx, raw, inbound=False)
    room = ctx.mem.read_u32(addrlen_ptr)
    if room & 0x80000000:
        raise SyscallError(Errno.EINVAL)
    if raw:
        ctx.mem.write(addr, raw[:room])
    ctx.mem.write_u32(addrlen_ptr, len(raw))


def _guest_name(sock: Socket, raw: bytes) -> bytes:
    """A unix socket's own name reads back as the guest wrote it at bind."""
    if sock.unix_name is not None and _family_of(raw) == AF_UNIX and len(raw) > 2:
        return sock.unix_name
    return raw


def sys_bind(ctx: SyscallContext, fd: int, addr: int, addrlen: int) -> int:
    sock = _socket(ctx, fd)
    raw = read_sockaddr(ctx, addr, addrlen)
    sock.bind(raw)
    if _family_of(raw) == AF_UNIX and addrlen > SUN_PATH_OFFSET:
        given = ctx.mem.read(addr, addrlen)
        path = given[SUN_PATH_OFFSET:]
        if path[:1] != b"\0":
            path = path.split(b"\0", 1)[0] + b"\0"
        sock.unix_name = given[:SUN_PATH_OFFSET] + path
    return 0


def sys_listen(ctx: SyscallContext, fd: int, backlog: int) -> int:
    sock = _socket(ctx, fd)
    try:
        sock.sock.listen(backlog)
    except OSError as exc:
        raise SyscallError(Errno(exc.errno or Errno.EIO)) from None
    return 0


def _connect_finished(sock: Socket) -> int | None:
    """None while the connection is under way, else its result (0 or -errno)."""
    sock.sync_host()
    if not sock.poll() & (EPOLLOUT | EPOLLERR | EPOLLHUP):
        return None
    sock.connecting = False
    err = int.from_bytes(sock.getsockopt(SOL_SOCKET, 4, 4), "little")
    return -err if err else 0


def sys_connect(ctx: SyscallContext, fd: int, addr: int, addrlen: int) -> int | Block:
    sock = _socket(ctx, fd)
    raw = read_sockaddr(ctx, addr, addrlen)
    if _family_of(raw) in (AF_INET, AF_INET6):
        _network_allowed(ctx, _family_of(raw))
    code = sock.connect(raw)
    if code == 0:
        return 0
    err = _errno(code)
    if err not in (Errno.EINPROGRESS, Errno.EALREADY) or sock.nonblocking:
        if err == Errno.EINPROGRESS:
            sock.connecting = True
        raise SyscallError(err)
    sock.connecting = True

    def retry(reason: WakeReason) -> int | Block:
        result = _connect_finished(sock)
        if result is None:
            return Block(retry, queues=(sock.writeq,), host_fds=((sock.edges.fd, 1),))
        return result

    return retry(WakeReason.NOTIFIED)


def _errno(code: int) -> Errno:
    try:
        return Errno(code)
    except ValueError:
        return Errno.EIO


def do_accept(ctx: SyscallContext, fd: int, addr: int, addrlen: int, flags: int) -> int | Block:
    if flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC):
        raise SyscallError(Errno.EINVAL)
    listener = _socket(ctx, fd)

    def op() -> int:
        if addr:
            ctx.mem.read_u32(addrlen)
        sock, peer = listener.accept()
        newfd = _install(ctx, sock, flags)
        write_sockaddr(ctx, peer, addr, addrlen)
        return newfd

    return io_or_block(ctx, listener, False, op)


def sys_accept4(ctx: SyscallContext, fd: int, addr: int, addrlen: int,
                flags: int) -> int | Block:
    return do_accept(ctx, fd, addr, addrlen, flags)


def sys_accept(ctx: SyscallContext, fd: int, addr: int, addrlen: int) -> int | Block:
    return do_accept(ctx, fd, addr, addrlen, 0)


def sys_getsockname(ctx: SyscallContext, fd: int, addr: int, addrlen: int) -> int:
    sock = _socket(ctx, fd)
    write_sockaddr(ctx, _guest_name(sock, sock.name(peer=False)), addr, addrlen)
    return 0


def sys_getpeername(ctx: SyscallContext, fd: int, addr: int, addrlen: int) -> int:
    sock = _socket(ctx, fd)
    write_sockaddr(ctx, sock.name(peer=True), addr, addrlen)
    return 0


def sys_shutdown(ctx: SyscallContext, fd: int, how: int) -> int:
    sock = _socket(ctx, fd)
    if how < 0 or how > SHUT_RDWR:
        raise SyscallError(Errno.EINVAL)
    sock.shutdown(how)
    return 0


# Options -----------------------------------------------------------------------------------

def _option_allowed(level: int, name: int) -> None:
    if name not in PASSTHROUGH_OPTIONS.get(level, frozenset()):
        raise SyscallError(Errno.ENOPROTOOPT, "socket option not emulated by elftrace")


def sys_setsockopt(ctx: SyscallContext, fd: int, level: int, name: int, value: int,
                   length: int) -> int:
    sock = _socket(ctx, fd)
    _option_allowed(level, name)
    if length < 0:
        raise SyscallError(Errno.EINVAL)
    data = ctx.mem.read(value, min(length, 256)) if length else b""
    sock.setsockopt(level, name, data)
    return 0


def sys_getsockopt(ctx: SyscallContext, fd: int, level: int, name: int, value: int,
                   length_ptr: int) -> int:
    sock = _socket(ctx, fd)
    _option_allowed(level, name)
    room = ctx.mem.read_u32(length_ptr)
    if room & 0x80000000:
        raise SyscallError(Errno.EINVAL)
    data = sock.getsockopt(level, name, min(room, 256))
    if level == SOL_SOCKET and name == SO_PEERCRED and len(data) >= 4:
        pid = struct.unpack_from("<i", data)[0]
        if pid == os.getpid():  # the peer is this emulated process
            data = struct.pack("<i", ctx.process.pid) + data[4:]
    ctx.mem.write(value, data)
    ctx.mem.write_u32(length_ptr, len(data))
    return 0


# Data --------------------------------------------------------------------------------------

def _blocking_op(ctx: SyscallContext, sock: Socket, writing: bool, flags: int,
                 op: Callable[[], int]) -> int | Block:
    if flags & MSG_DONTWAIT:
        try:
            return op()
        except WouldBlock:
            raise SyscallError(Errno.EAGAIN) from None
    return io_or_block(ctx, sock, writing, op)


def _send(ctx: SyscallContext, sock: Socket, data: bytes, flags: int,
          dest: bytes | None) -> int:
    try:
        return sock.send(data, flags & ~(MSG_DONTWAIT | MSG_NOSIGNAL), dest)
    except SyscallError as err:
        if err.errno == Errno.EPIPE and not flags & MSG_NOSIGNAL:
            from syscalls.kernel.signals import SI_USER, Sig, SigInfo

            ctx.kernel.signal_task(ctx.task, SigInfo(Sig.SIGPIPE, SI_USER, pid=ctx.process.pid,
                                                     uid=ctx.process.creds.uid))
        raise


def sys_sendto(ctx: SyscallContext, fd: int, buf: int, length: int, flags: int, addr: int,
               addrlen: int) -> int | Block:
    sock = _socket(ctx, fd)
    data = ctx.mem.read(buf, _send_size(sock, length)) if length else b""
    dest = read_sockaddr(ctx, addr, addrlen) if addr else None
    if dest is not None and _family_of(dest) in (AF_INET, AF_INET6):
        _network_allowed(ctx, _family_of(dest))
    return _blocking_op(ctx, sock, True, flags, lambda: _send(ctx, sock, data, flags, dest))


def _send_size(sock: Socket, length: int) -> int:
    if length > MAX_TRANSFER and sock.type != SOCK_STREAM:
        raise SyscallError(Errno.EMSGSIZE)
    return min(length, MAX_TRANSFER)


def sys_send(ctx: SyscallContext, fd: int, buf: int, length: int, flags: int) -> int | Block:
    return sys_sendto(ctx, fd, buf, length, flags, 0, 0)


def _recv(sock: Socket, size: int, flags: int, want_addr: bool) -> tuple[bytes, bytes | None,
                                                                         int]:
    datagrams = sock.type in (SOCK_DGRAM, SOCK_SEQPACKET)
    host_flags = flags & ~MSG_DONTWAIT
    if datagrams:
        host_flags |= MSG_TRUNC  # learn the datagram's full length for msg_flags
    data, source, full = sock.recv(size, host_flags, want_addr)
    return data, source, full


def sys_recvfrom(ctx: SyscallContext, fd: int, buf: int, length: int, flags: int, addr: int,
                 addrlen: int) -> int | Block:
    sock = _socket(ctx, fd)
    if addr:
        ctx.mem.read_u32(addrlen)

    def op() -> int:
        data, source, full = _recv(sock, length, flags, bool(addr))
        ctx.mem.write(buf, data)
        if source is not None and (source or sock.type != SOCK_STREAM):
            write_sockaddr(ctx, source, addr, addrlen)
        elif addr:
            ctx.mem.write_u32(addrlen, 0)
        return full if flags & MSG_TRUNC else len(data)

    return _blocking_op(ctx, sock, False, flags, op)


def sys_recv(ctx: SyscallContext, fd: int, buf: int, length: int, flags: int) -> int | Block:
    return sys_recvfrom(ctx, fd, buf, length, flags, 0, 0)


def _msghdr(ctx: SyscallContext, msg: int) -> tuple[int, int, int, int, int, int, int]:
    """(name, namelen, iov, iovlen, control, controllen, flags) of a guest struct msghdr."""
    if ctx.abi.word_size == 8:
        return struct.unpack("<QI4xQQQQi", ctx.mem.read(msg, 52))  # type: ignore[return-value]
    return struct.unpack("<IIIIIIi", ctx.mem.read(msg, 28))  # type: ignore[return-value]


def _msg_iovecs(ctx: SyscallContext, iov: int, iovlen: int) -> list[tuple[int, int]]:
    if iovlen > IOV_MAX:
        raise SyscallError(Errno.EMSGSIZE)
    word = ctx.abi.word_size
    return unpack_iovecs(ctx.mem.read(iov, iovlen * 2 * word), word) if iovlen else []


def sys_sendmsg(ctx: SyscallContext, fd: int, msg: int, flags: int) -> int | Block:
    sock = _socket(ctx, fd)
    name, namelen, iov, iovlen, _control, controllen, _ = _msghdr(ctx, msg)
    if controllen:
        raise SyscallError(Errno.EOPNOTSUPP, "control messages are not emulated by elftrace")
    vecs = _msg_iovecs(ctx, iov, iovlen)
    total = _send_size(sock, sum(n for _, n in vecs))
    parts, left = [], total
    for base, n in vecs:
        parts.append(ctx.mem.read(base, min(n, left)))
        left -= len(parts[-1])
    data = b"".join(parts)
    dest = read_sockaddr(ctx, name, namelen) if name and namelen else None
    if dest is not None and _family_of(dest) in (AF_INET, AF_INET6):
        _network_allowed(ctx, _family_of(dest))
    return _blocking_op(ctx, sock, True, flags, lambda: _send(ctx, sock, data, flags, dest))


def sys_recvmsg(ctx: SyscallContext, fd: int, msg: int, flags: int) -> int | Block:
    sock = _socket(ctx, fd)
    name, namelen, iov, iovlen, _control, _controllen, _ = _msghdr(ctx, msg)
    vecs = _msg_iovecs(ctx, iov, iovlen)
    size = sum(n for _, n in vecs)
    word = ctx.abi.word_size

    def op() -> int:
        data, source, full = _recv(sock, size, flags & ~MSG_CMSG_CLOEXEC, bool(name))
        pos = 0
        for base, n in vecs:
            chunk = data[pos:pos + n]
            if chunk:
                ctx.mem.write(base, chunk)
            pos += len(chunk)
        out_flags = MSG_TRUNC if full > len(data) and sock.type != SOCK_STREAM else 0
        name_off, control_len_off, flags_off = (8, 40, 48) if word == 8 else (4, 20, 24)
        if name:
            got = _map_port(ctx, source or b"", inbound=False)
            if got:
                ctx.mem.write(name, got[:namelen])
            ctx.mem.write_u32(msg + name_off, len(got))
        if word == 8:
            ctx.mem.write_u64(msg + control_len_off, 0)
        else:
            ctx.mem.write_u32(msg + control_len_off, 0)
        ctx.mem.write_u32(msg + flags_off, out_flags)
        return full if flags & MSG_TRUNC else len(data)

    return _blocking_op(ctx, sock, False, flags, op)


A.TABLES.update({
    "sock_type_flags": (*A.SOCK_TYPES, *A.SOCK_FLAGS),
    "accept_flags": ((A.O_CLOEXEC, "SOCK_CLOEXEC"), (A.O_NONBLOCK, "SOCK_NONBLOCK")),
    "shutdown": ((0, "SHUT_RD"), (1, "SHUT_WR"), (2, "SHUT_RDWR")),
    "msg_flags": ((0x1, "MSG_OOB"), (0x2, "MSG_PEEK"), (0x4, "MSG_DONTROUTE"),
                  (0x8, "MSG_CTRUNC"), (0x10, "MSG_PROXY"), (0x20, "MSG_TRUNC"),
                  (0x40, "MSG_DONTWAIT"), (0x80, "MSG_EOR"), (0x100, "MSG_WAITALL"),
                  (0x200, "MSG_FIN"), (0x400, "MSG_SYN"), (0x800, "MSG_CONFIRM"),
                  (0x1000, "MSG_RST"), (0x2000, "MSG_ERRQUEUE"), (0x4000, "MSG_NOSIGNAL"),
                  (0x8000, "MSG_MORE"), (0x10000, "MSG_WAITFORONE"),
                  (0x20000000, "MSG_FASTOPEN"), (0x40000000, "MSG_CMSG_CLOEXEC")),
})

_NET = (NETWORK,)
_SOCKADDR_OUT = out(Struct(name="sockaddr_out"))  # length behind the next argument
_SOCKLEN_OUT = Struct(name="socklen_inout")  # printed at exit, after the address

SPECS = (
    spec("socket", sys_socket, Enum_(table="family"), Flags(table="sock_type_flags"),
         Int(), printer="socket", classes=_NET),
    spec("socketpair", sys_socketpair, Enum_(table="family"),
         Flags(table="sock_type_flags"), Int(), out(Struct(name="fdpair")),
         printer="socketpair", classes=_NET),
    spec("bind", sys_bind, Fd(), Struct(name="sockaddr_in"), UInt(),
         classes=_NET),
    spec("connect", sys_connect, Fd(), Struct(name="sockaddr_in"), UInt(),
         restart=Restart.SYS, classes=_NET),
    spec("listen", sys_listen, Fd(), Int(), classes=_NET),
    spec("accept", sys_accept, Fd(), _SOCKADDR_OUT, _SOCKLEN_OUT, restart=Restart.SYS,
         classes=_NET),
    spec("accept4", sys_accept4, Fd(), _SOCKADDR_OUT, _SOCKLEN_OUT,
         Flags(table="accept_flags"), restart=Restart.SYS, classes=_NET),
    spec("getsockname", sys_getsockname, Fd(), _SOCKADDR_OUT, _SOCKLEN_OUT,
         classes=_NET),
    spec("getpeername", sys_getpeername, Fd(), _SOCKADDR_OUT, _SOCKLEN_OUT,
         classes=_NET),
    spec("shutdown", sys_shutdown, Fd(), Enum_(table="shutdown"),
         classes=_NET),
    spec("setsockopt", sys_setsockopt, Fd(), Int(), Int(), Struct(), UInt(),
         printer="setsockopt", support=Support.PARTIAL,
         note="options whose value has the same layout on every architecture",
         classes=_NET),
    spec("getsockopt", sys_getsockopt, Fd(), Int(), Int(), out(Struct()),
         out(Struct(name="sockopt_len")),
         printer="getsockopt", support=Support.PARTIAL,
         note="options whose value has the same layout on every architecture",
         classes=_NET),
    spec("sendto", sys_sendto, Fd(), InBuf(), Size(), Flags(table="msg_flags"),
         Struct(name="sockaddr_in"), UInt(), restart=Restart.SYS,
         classes=_NET),
    spec("send", sys_send, Fd(), InBuf(), Size(), Flags(table="msg_flags"),
         restart=Restart.SYS, classes=_NET),
    spec("recvfrom", sys_recvfrom, Fd(), OutBuf(), Size(),
         Flags(table="msg_flags"), _SOCKADDR_OUT, _SOCKLEN_OUT, restart=Restart.SYS,
         classes=_NET),
    spec("recv", sys_recv, Fd(), OutBuf(), Size(), Flags(table="msg_flags"),
         restart=Restart.SYS, classes=_NET),
    spec("sendmsg", sys_sendmsg, Fd(), Struct(name="msghdr"), Flags(table="msg_flags"),
         restart=Restart.SYS, support=Support.PARTIAL,
         note="no control messages (EOPNOTSUPP)", classes=_NET),
    spec("recvmsg", sys_recvmsg, Fd(), out(Struct(name="msghdr")), Flags(table="msg_flags"),
         restart=Restart.SYS, support=Support.PARTIAL,
         note="no control messages are received", classes=_NET),
)

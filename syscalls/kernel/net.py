"""Guest sockets, backed by real non-blocking host sockets.

A guest socket is a :class:`Socket` file holding a host socket that is always
non-blocking: whether the *guest* blocks is the guest's O_NONBLOCK flag, and a guest
thread that must wait parks on the socket's wait queues (only that thread, never the
emulator), as for pipes.

Readiness comes from the host kernel through one private host epoll instance per
emulated kernel (:class:`HostEdges`) in which every host socket is registered
edge-triggered. Draining it (``pump``) turns each host wake-up into the same event on
the guest side (``File.changed``), so the guest's edge-triggered epoll (Go's netpoller)
sees exactly the edges Linux would report, and a thread parked on a socket is woken by
the host event, not by polling. Its host fd is what the idle loop selects on.

Addresses cross the boundary as raw ``struct sockaddr`` bytes through libc (the
layouts of sockaddr_in, sockaddr_in6 and sockaddr_un are the same on every Linux
architecture), so errors for malformed addresses are the host kernel's own. Only
AF_UNIX paths are rewritten: they name guest paths, resolved like open's.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import socket
import stat as stat_mod
from collections.abc import Callable

from syscalls.abi import O_NONBLOCK, O_RDWR
from syscalls.errno import Errno, SyscallError
from syscalls.kernel.files import (
    EPOLLERR,
    EPOLLHUP,
    EPOLLIN,
    EPOLLOUT,
    EPOLLPRI,
    EPOLLRDHUP,
    INPUT_EVENTS,
    OUTPUT_EVENTS,
    File,
    StatResult,
    WouldBlock,
)

AF_UNIX = 1
AF_INET = 2
AF_INET6 = 10
SOCKADDR_MAX = 128
"""sizeof(struct sockaddr_storage): the kernel copies at most this much of an address."""
SUN_PATH_OFFSET = 2
MAX_TRANSFER = 1 << 22
"""Bytes moved by one send or receive at most (a stream call may move fewer, as Linux's
may; a larger datagram gets EMSGSIZE)."""

_libc = ctypes.CDLL(None, use_errno=True)
_c_int, _c_void_p, _c_size_t, _c_ssize_t = (ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t,
                                            ctypes.c_ssize_t)
_socklen_p = ctypes.POINTER(ctypes.c_uint32)


def _fn(name: str, restype: type, *argtypes: type) -> Callable[..., int]:
    f = getattr(_libc, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f  # type: ignore[no-any-return]


_bind = _fn("bind", _c_int, _c_int, _c_void_p, ctypes.c_uint32)
_connect = _fn("connect", _c_int, _c_int, _c_void_p, ctypes.c_uint32)
_getsockname = _fn("getsockname", _c_int, _c_int, _c_void_p, _socklen_p)
_getpeername = _fn("getpeername", _c_int, _c_int, _c_void_p, _socklen_p)
_accept4 = _fn("accept4", _c_int, _c_int, _c_void_p, _socklen_p, _c_int)
_sendto = _fn("sendto", _c_ssize_t, _c_int, _c_void_p, _c_size_t, _c_int, _c_void_p,
              ctypes.c_uint32)
_recvfrom = _fn("recvfrom", _c_ssize_t, _c_int, _c_void_p, _c_size_t, _c_int, _c_void_p,
                _socklen_p)
_setsockopt = _fn("setsockopt", _c_int, _c_int, _c_int, _c_int, _c_void_p, ctypes.c_uint32)
_getsockopt = _fn("getsockopt", _c_int, _c_int, _c_int, _c_int, _c_void_p, _socklen_p)

MSG_DONTWAIT = 0x40
MSG_NOSIGNAL = 0x4000
MSG_TRUNC = 0x20
MSG_PEEK = 0x2
MSG_WAITALL = 0x100
MSG_OOB = 0x1
MSG_CTRUNC = 0x8
MSG_EOR = 0x80
MSG_CMSG_CLOEXEC = 0x40000000
SOCK_NONBLOCK_BITS = MSG_DONTWAIT | MSG_NOSIGNAL


def _check(ret: int) -> int:
    if ret < 0:
        err = ctypes.get_errno()
        if err == Errno.EAGAIN:
            raise WouldBlock
        try:
            raise SyscallError(Errno(err))
        except ValueError:
            raise SyscallError(Errno.EIO, f"host errno {err}") from None
    return ret


class HostEdges:
    """The host epoll instance that reports wake-ups of every guest socket's host socket."""

    def __init__(self) -> None:
        self.epoll = select.epoll()
        self.fd = self.epoll.fileno()
        self.sockets: dict[int, Socket] = {}

    def register(self, sock: Socket) -> None:
        self.sockets[sock.fd] = sock
        self.epoll.register(sock.fd, select.EPOLLIN | select.EPOLLOUT | select.EPOLLRDHUP
                            | select.EPOLLPRI | select.EPOLLET)

    def unregister(self, sock: Socket) -> None:
        if self.sockets.pop(sock.fd, None) is not None:
            with contextlib.suppress(OSError, ValueError):
                self.epoll.unregister(sock.fd)

    def pump(self) -> None:
        """Turn the host's pending wake-ups into guest-side readiness changes."""
        try:
            events = self.epoll.poll(0)
        except (OSError, ValueError):
            return
        for fd, ev in events:
            sock = self.sockets.get(fd)
            if sock is not None:
                sock.changed(readable=bool(ev & INPUT_EVENTS), writable=bool(ev & OUTPUT_EVENTS))

    def close(self) -> None:
        self.epoll.close()


def host_edges(kernel: object) -> HostEdges:
    """The kernel's HostEdges, made on first use (programs without sockets pay nothing)."""
    edges: HostEdges | None = getattr(kernel, "net_edges", None)
    if edges is None:
        edges = HostEdges()
        kernel.net_edges = edges  # type: ignore[attr-defined]
    return edges


class Socket(File):
    """One guest socket: a host socket (always non-blocking) and the guest's view of it."""

    kind = "socket"

    def __init__(self, sock: socket.socket, flags: int, edges: HostEdges, ino: int) -> None:
        super().__init__(O_RDWR | (flags & O_NONBLOCK), f"socket:[{ino}]")
        sock.setblocking(False)
        self.sock = sock
        self.fd = sock.fileno()
        self.family = sock.family.value if hasattr(sock.family, "value") else int(sock.family)
        self.type = int(sock.type) & 0xF
        self.edges = edges
        self.ino = ino
        self.unix_name: bytes | None = None
        """The sockaddr_un the guest bound this socket to, as the guest wrote it."""
        self.connecting = False
        edges.register(self)

    def host_poll_fd(self) -> int | None:
        return self.edges.fd

    def host_wait(self, events: int) -> tuple[int, int] | None:
        # The edge instance becomes readable when this socket becomes readable *or*
        # writable: wait for it to be readable whatever the guest waits for.
        return (self.edges.fd, select.POLLIN)

    def sync_host(self) -> None:
        self.edges.pump()

    def poll(self) -> int:
        p = select.poll()
        p.register(self.fd, select.POLLIN | select.POLLOUT | select.POLLPRI | select.POLLRDHUP)
        try:
            events = p.poll(0)
        except OSError:
            return EPOLLERR
        ready = 0
        for _, ev in events:
            ready |= ev
        return ready & (EPOLLIN | EPOLLOUT | EPOLLPRI | EPOLLERR | EPOLLHUP | EPOLLRDHUP
                        | 0x40 | 0x100)

    def recv(self, size: int, flags: int, want_addr: bool) -> tuple[bytes, bytes | None, int]:
        """(data, source address bytes or None, the full datagram length for MSG_TRUNC)."""
        self.edges.pump()
        size = min(size, MAX_TRANSFER)
        buf = ctypes.create_string_buffer(max(size, 1))
        addr = ctypes.create_string_buffer(SOCKADDR_MAX)
        alen = ctypes.c_uint32(SOCKADDR_MAX)
        host_flags = (flags & ~(MSG_CMSG_CLOEXEC | MSG_WAITALL)) | MSG_DONTWAIT
        n = _check(_recvfrom(self.fd, buf, size, host_flags,
                             addr if want_addr else None, ctypes.byref(alen) if want_addr
                             else None))
        self.edges.pump()
        source = addr.raw[:alen.value] if want_addr else None
        return buf.raw[:min(n, size)], source, n

    def send(self, data: bytes, flags: int, dest: bytes | None) -> int:
        self.edges.pump()
        host_flags = (flags | MSG_DONTWAIT | MSG_NOSIGNAL)
        n = _check(_sendto(self.fd, data, len(data), host_flags, dest,
                           len(dest) if dest else 0))
        # Loopback delivers to the peer inside this call: let its waiters know now.
        self.edges.pump()
        return n

    def read(self, size: int) -> bytes:
        data, _, _ = self.recv(size, 0, False)
        return data

    def write(self, data: bytes) -> int:
        return self.send(data, 0, None)

    def stat(self) -> StatResult:
        st = os.fstat(self.fd)
        return StatResult(st.st_dev, self.ino, stat_mod.S_IFSOCK | 0o777, 1, st.st_uid,
                          st.st_gid, 0, 0, 4096, 0, 0, 0, 0)

    def release(self) -> None:
        self.edges.unregister(self)
        with contextlib.suppress(OSError):
            self.sock.close()

    # Raw operations on the host socket, with sockaddr bytes ---------------------------

    def bind(self, addr: bytes) -> None:
        _check(_bind(self.fd, addr, len(addr)))

    def connect(self, addr: bytes) -> int:
        """0, or the host's errno (EINPROGRESS for a connection under way)."""
        ret = _connect(self.fd, addr, len(addr))
        self.edges.pump()
        return 0 if ret == 0 else ctypes.get_errno()

    def name(self, peer: bool) -> bytes:
        buf = ctypes.create_string_buffer(SOCKADDR_MAX)
        length = ctypes.c_uint32(SOCKADDR_MAX)
        _check((_getpeername if peer else _getsockname)(self.fd, buf, ctypes.byref(length)))
        return buf.raw[:length.value]

    def accept(self) -> tuple[socket.socket, bytes]:
        self.edges.pump()
        buf = ctypes.create_string_buffer(SOCKADDR_MAX)
        length = ctypes.c_uint32(SOCKADDR_MAX)
        fd = _check(_accept4(self.fd, buf, ctypes.byref(length),
                             socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC))
        self.edges.pump()
        return socket.socket(fileno=fd), buf.raw[:length.value]

    def setsockopt(self, level: int, name: int, value: bytes) -> None:
        _check(_setsockopt(self.fd, level, name, value, len(value)))

    def getsockopt(self, level: int, name: int, size: int) -> bytes:
        buf = ctypes.create_string_buffer(max(size, 1))
        length = ctypes.c_uint32(size)
        _check(_getsockopt(self.fd, level, name, buf, ctypes.byref(length)))
        return buf.raw[:length.value]

    def shutdown(self, how: int) -> None:
        try:
            self.sock.shutdown(how)
        except OSError as exc:
            raise SyscallError(Errno(exc.errno or Errno.EIO)) from None
        finally:
            self.edges.pump()

"""File locks, file system statistics and in-kernel copies: flock, statfs, fstatfs,
statfs64, fstatfs64, copy_file_range.

flock(2) locks belong to an open file description, as a host descriptor's do: a guest
file backed by a host descriptor (files, directories, sockets) is locked on the host,
so the lock is real for other processes too. A blocking request that the host refuses
parks only the guest thread and is tried again every few milliseconds. Files that live
only in elftrace (its pipes, eventfds, epoll instances, /proc renderings) cannot be
locked: ENOLCK.

statfs reports the host file system holding the guest path, through the host's own
statfs(2) (Python's statvfs has no f_type), repacked in the guest ABI's layout: 64-bit
words on 64-bit ABIs; on 32-bit ones ``statfs`` has 32-bit counts (EOVERFLOW when a count
does not fit, as Linux's put_compat_statfs) and ``statfs64`` 64-bit ones in a packed
84-byte struct (ARM's kernel also takes Go's 88, the EABI-padded size).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import os
import select
import struct

from syscalls import abi as A
from syscalls.context import SyscallContext
from syscalls.errno import Errno, SyscallError, from_os_error
from syscalls.fs import guest_path, resolver
from syscalls.kernel.rootfs import Lookup
from syscalls.kernel.wait import Block, WakeReason
from syscalls.spec import (
    DESC,
    FILE,
    Fd,
    Flags,
    Path,
    Restart,
    Size,
    Struct,
    Support,
    UInt,
    out,
    spec,
)

LOCK_SH, LOCK_EX, LOCK_NB, LOCK_UN, LOCK_MAND = 1, 2, 4, 8, 32
LOCK_RETRY = 0.01
"""Seconds between attempts of a blocking flock the host refused."""


def _host_fd(ctx: SyscallContext, fd: int) -> int:
    file = ctx.fds.get(fd)
    host = getattr(file, "fd", None)
    if not isinstance(host, int) or file.kind not in ("host", "socket"):
        raise SyscallError(Errno.ENOLCK)
    return host


def sys_flock(ctx: SyscallContext, fd: int, operation: int) -> int | Block:
    host = _host_fd(ctx, fd)
    op = operation & ~LOCK_NB
    if op & LOCK_MAND:
        return 0  # Linux ignores the old mandatory-lock request (with a log warning)
    if op not in (LOCK_SH, LOCK_EX, LOCK_UN):
        raise SyscallError(Errno.EINVAL)
    try:
        fcntl.flock(host, op | LOCK_NB)
        return 0
    except BlockingIOError:
        if operation & LOCK_NB:
            raise SyscallError(Errno.EAGAIN) from None
    except OSError as exc:
        raise from_os_error(exc) from None
    clock = ctx.kernel.clock

    def retry(reason: WakeReason) -> int | Block:
        try:
            fcntl.flock(host, op | LOCK_NB)
            return 0
        except BlockingIOError:
            return Block(retry, deadline=clock.monotonic() + LOCK_RETRY)
        except OSError as exc:
            raise from_os_error(exc) from None

    return Block(retry, deadline=clock.monotonic() + LOCK_RETRY)


def sys_copy_file_range(ctx: SyscallContext, fd_in: int, off_in: int, fd_out: int,
                        off_out: int, length: int, flags: int) -> int:
    """Between two host-backed files the host copies (Go's io.Copy of one *os.File into
    another tries this first); an offset pointer is read, used and advanced instead of the
    file position, as Linux does."""
    if flags & 0xFFFFFFFF:
        raise SyscallError(Errno.EINVAL)
    src, dst = ctx.fds.get(fd_in), ctx.fds.get(fd_out)
    if not src.readable or not dst.writable:
        raise SyscallError(Errno.EBADF)
    hosts = [getattr(f, "fd", None) for f in (src, dst)]
    if src.kind != "host" or dst.kind != "host" or not all(isinstance(h, int) for h in hosts):
        raise SyscallError(Errno.EINVAL)  # Linux: both must be regular files
    offsets = [None if ptr == 0 else struct.unpack("<q", ctx.mem.read(ptr, 8))[0]
               for ptr in (off_in, off_out)]
    if any(o is not None and o < 0 for o in offsets):
        raise SyscallError(Errno.EINVAL)
    count = min(length, 0x7FFFF000)
    try:
        copied = os.copy_file_range(hosts[0], hosts[1], count, offsets[0], offsets[1])
    except OSError as exc:
        raise from_os_error(exc) from None
    for ptr, offset in zip((off_in, off_out), offsets, strict=True):
        if offset is not None:
            ctx.mem.write(ptr, struct.pack("<q", offset + copied))
    return copied


# statfs ------------------------------------------------------------------------------------

class _HostStatfs(ctypes.Structure):
    """The host's struct statfs (x86-64 and every 64-bit Linux: words are longs)."""

    _fields_ = (("f_type", ctypes.c_long), ("f_bsize", ctypes.c_long),
                ("f_blocks", ctypes.c_ulong), ("f_bfree", ctypes.c_ulong),
                ("f_bavail", ctypes.c_ulong), ("f_files", ctypes.c_ulong),
                ("f_ffree", ctypes.c_ulong), ("f_fsid", ctypes.c_int * 2),
                ("f_namelen", ctypes.c_long), ("f_frsize", ctypes.c_long),
                ("f_flags", ctypes.c_long), ("f_spare", ctypes.c_long * 4))


_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
FIELDS = ("f_type", "f_bsize", "f_blocks", "f_bfree", "f_bavail", "f_files", "f_ffree")


def _host_statfs(call: str, target: bytes | int) -> _HostStatfs:
    buf = _HostStatfs()
    if getattr(_LIBC, call)(target, ctypes.byref(buf)) != 0:
        err = ctypes.get_errno()
        raise from_os_error(OSError(err, os.strerror(err))) from None
    return buf


def _pack(st: _HostStatfs, word_size: int, wide_counts: bool) -> bytes:
    """struct statfs (word-sized fields) or, with ``wide_counts`` on a 32-bit ABI, the
    packed struct statfs64 (64-bit block and inode counts)."""
    values = [getattr(st, name) for name in FIELDS]
    tail = [st.f_namelen, st.f_frsize, st.f_flags, 0, 0, 0, 0]
    fsid = struct.pack("<ii", *st.f_fsid)
    if word_size == 8:
        return struct.pack("<7q", *values) + fsid + struct.pack("<7q", *tail)
    if wide_counts:
        return (struct.pack("<II5Q", *values) + fsid + struct.pack("<7I", *tail))
    counts = values[2:]
    if any(c > 0xFFFFFFFF for c in counts[:3]) or any(
            c > 0xFFFFFFFF and c != (1 << 64) - 1 for c in counts[3:]):
        raise SyscallError(Errno.EOVERFLOW)
    return struct.pack("<7I", *[v & 0xFFFFFFFF for v in values]) + fsid + \
        struct.pack("<7I", *tail)


def _path_statfs(ctx: SyscallContext, path_ptr: int) -> _HostStatfs:
    path = guest_path(ctx, A.AT_FDCWD, path_ptr)
    return _host_statfs("statfs", os.fsencode(resolver(ctx).host(path, Lookup.FOLLOW)))


def _fd_statfs(ctx: SyscallContext, fd: int) -> _HostStatfs:
    file = ctx.fds.get(fd)
    host = getattr(file, "fd", None)
    if isinstance(host, int):
        return _host_statfs("fstatfs", host)
    if file.kind == "proc":
        return _host_statfs("statfs", b"/proc")
    # Pipes live in pipefs, eventfds and epoll instances in anon_inodefs: ask the host
    # about one of its own.
    if file.kind == "pipe":
        r, w = os.pipe()
        try:
            return _host_statfs("fstatfs", r)
        finally:
            os.close(r)
            os.close(w)
    with select.epoll() as probe:
        return _host_statfs("fstatfs", probe.fileno())


def sys_statfs(ctx: SyscallContext, path_ptr: int, buf: int) -> int:
    ctx.mem.write(buf, _pack(_path_statfs(ctx, path_ptr), ctx.abi.word_size, False))
    return 0


def sys_fstatfs(ctx: SyscallContext, fd: int, buf: int) -> int:
    ctx.mem.write(buf, _pack(_fd_statfs(ctx, fd), ctx.abi.word_size, False))
    return 0


STATFS64_SIZES = {"arm": (84, 88), "i386": (84,)}


def _check_size(ctx: SyscallContext, size: int) -> None:
    if size not in STATFS64_SIZES.get(ctx.abi.name, (84,)):
        raise SyscallError(Errno.EINVAL)


def sys_statfs64(ctx: SyscallContext, path_ptr: int, size: int, buf: int) -> int:
    _check_size(ctx, size)
    ctx.mem.write(buf, _pack(_path_statfs(ctx, path_ptr), 4, True))
    return 0


def sys_fstatfs64(ctx: SyscallContext, fd: int, size: int, buf: int) -> int:
    _check_size(ctx, size)
    ctx.mem.write(buf, _pack(_fd_statfs(ctx, fd), 4, True))
    return 0


SPECS = (
    spec("flock", sys_flock, Fd(), Flags(table="flock_op"), restart=Restart.SYS,
         classes=(DESC,), support=Support.PARTIAL,
         note="locks the host descriptor; ENOLCK for pipes, eventfds, epoll and /proc files "
              "elftrace keeps itself"),
    spec("copy_file_range", sys_copy_file_range, Fd(), Struct(name="loff"), Fd(),
         Struct(name="loff"), Size(), UInt(), classes=(DESC,)),
    spec("statfs", sys_statfs, Path(), out(Struct(name="statfs")), classes=(FILE,)),
    spec("fstatfs", sys_fstatfs, Fd(), out(Struct(name="statfs")), classes=(DESC,)),
    spec("statfs64", sys_statfs64, Path(), Size(), out(Struct(name="statfs64")),
         classes=(FILE,)),
    spec("fstatfs64", sys_fstatfs64, Fd(), Size(), out(Struct(name="statfs64")),
         classes=(DESC,)),
)

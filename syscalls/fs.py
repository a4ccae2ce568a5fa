"""File and descriptor syscalls: read/write family, open/close, stat family, directories,
links, fcntl/ioctl, pipes and dup.

Paths resolve through the process's :class:`~syscalls.kernel.paths.PathResolver`
(guest cwd, the guest's own /proc). Blocking reads and writes on pipes, ttys and
inherited streams park only the calling thread (see :func:`io_or_block`).
"""

from __future__ import annotations

import errno as host_errno
import os
import stat as stat_mod
from collections.abc import Callable

from syscalls import abi as A
from syscalls.context import SyscallContext
from syscalls.errno import Errno, SyscallError, from_os_error
from syscalls.kernel.files import (
    PIPE_CAPACITY,
    DirectoryListing,
    File,
    HostFile,
    MemoryFile,
    Pipe,
    PipeEnd,
    StatResult,
    WouldBlock,
)
from syscalls.kernel.paths import PathResolver, ProcEntry, normalize
from syscalls.kernel.rootfs import Lookup
from syscalls.kernel.wait import Block, WakeReason
from syscalls.spec import (
    DESC,
    FILE,
    STAT,
    DirFd,
    Enum_,
    Fd,
    Flags,
    Hex,
    InBuf,
    Int,
    Long,
    Mode,
    Off,
    Off64,
    OutBuf,
    OutStr,
    Path,
    Ptr,
    Restart,
    Size,
    Struct,
    Support,
    UInt,
    out,
    spec,
)
from syscalls.structs import pack_dirent64, pack_stat, pack_statx, unpack_iovecs

MAX_RW = 0x7FFFF000  # Linux caps a single read/write at MAX_RW_COUNT.
POLLIN = 0x001
POLLOUT = 0x004
IOV_MAX = 1024


# Blocking I/O ------------------------------------------------------------------------------

def io_or_block(ctx: SyscallContext, file: File, writing: bool,
                op: Callable[[], int]) -> int | Block:
    """Run ``op``; if the file has no data (or room) yet, EAGAIN or park until it does."""
    try:
        return op()
    except WouldBlock:
        if file.nonblocking:
            raise SyscallError(Errno.EAGAIN) from None
    return park_io(ctx, file, writing, op)


def park_io(ctx: SyscallContext, file: File, writing: bool, op: Callable[[], int]) -> Block:
    """The Block of :func:`io_or_block` once ``op`` found no data (or room): ``op`` is
    tried again when the file becomes ready."""
    queue = file.writeq if writing else file.readq
    wait = file.host_wait(POLLOUT if writing else POLLIN)
    host_fds = (wait,) if wait is not None else ()

    def retry(reason: WakeReason) -> int | Block:
        return io_or_block(ctx, file, writing, op)

    return Block(retry, queues=(queue,), host_fds=host_fds)


def _read_into(ctx: SyscallContext, file: File, buf: int, count: int) -> int:
    data = file.read(count)
    ctx.mem.write(buf, data)
    return len(data)


def _write_from(ctx: SyscallContext, file: File, buf: int, count: int) -> int:
    data = ctx.mem.read(buf, count)
    try:
        return file.write(data)
    except SyscallError as err:
        if err.errno == Errno.EPIPE:
            ctx.kernel.signal_task(ctx.task, _sigpipe(ctx))
        raise


def _sigpipe(ctx: SyscallContext):  # type: ignore[no-untyped-def]
    from syscalls.kernel.signals import SI_USER, Sig, SigInfo

    return SigInfo(Sig.SIGPIPE, SI_USER, pid=ctx.process.pid, uid=ctx.process.creds.uid)


def sys_read(ctx: SyscallContext, fd: int, buf: int, count: int) -> int | Block:
    file = ctx.fds.get(fd)
    if not file.readable:
        raise SyscallError(Errno.EBADF)
    count = min(count, MAX_RW)
    if count == 0:
        return 0
    # io_or_block written out: the first attempt needs no closure (the common case).
    try:
        return _read_into(ctx, file, buf, count)
    except WouldBlock:
        if file.nonblocking:
            raise SyscallError(Errno.EAGAIN) from None
    return park_io(ctx, file, False, lambda: _read_into(ctx, file, buf, count))


def sys_write(ctx: SyscallContext, fd: int, buf: int, count: int) -> int | Block:
    file = ctx.fds.get(fd)
    if not file.writable:
        raise SyscallError(Errno.EBADF)
    count = min(count, MAX_RW)
    if count == 0:
        return 0
    try:
        return _write_from(ctx, file, buf, count)
    except WouldBlock:
        if file.nonblocking:
            raise SyscallError(Errno.EAGAIN) from None
    return park_io(ctx, file, True, lambda: _write_from(ctx, file, buf, count))


def _iovecs(ctx: SyscallContext, iov: int, iovcnt: int) -> list[tuple[int, int]]:
    if iovcnt < 0 or iovcnt > IOV_MAX:
        raise SyscallError(Errno.EINVAL)
    word = ctx.abi.word_size
    return unpack_iovecs(ctx.mem.read(iov, iovcnt * 2 * word), word)


def sys_readv(ctx: SyscallContext, fd: int, iov: int, iovcnt: int) -> int | Block:
    file = ctx.fds.get(fd)
    if not file.readable:
        raise SyscallError(Errno.EBADF)
    vecs = _iovecs(ctx, iov, iovcnt)
    total = min(sum(n for _, n in vecs), MAX_RW)

    def op() -> int:
        data = file.read(total)
        pos = 0
        for base, length in vecs:
            if pos >= len(data):
                break
            chunk = data[pos:pos + length]
            ctx.mem.write(base, chunk)
            pos += len(chunk)
        return len(data)

    return io_or_block(ctx, file, False, op) if total else 0


def sys_writev(ctx: SyscallContext, fd: int, iov: int, iovcnt: int) -> int | Block:
    file = ctx.fds.get(fd)
    if not file.writable:
        raise SyscallError(Errno.EBADF)
    vecs = _iovecs(ctx, iov, iovcnt)
    data = b"".join(ctx.mem.read(base, length) for base, length in vecs)[:MAX_RW]
    if not data:
        return 0
    return io_or_block(ctx, file, True, lambda: file.write(data))


def sys_pread64(ctx: SyscallContext, fd: int, buf: int, count: int, offset: int) -> int:
    file = ctx.fds.get(fd)
    if offset < 0:
        raise SyscallError(Errno.EINVAL)
    data = file.pread(min(count, MAX_RW), offset)
    ctx.mem.write(buf, data)
    return len(data)


def sys_pwrite64(ctx: SyscallContext, fd: int, buf: int, count: int, offset: int) -> int:
    file = ctx.fds.get(fd)
    if offset < 0:
        raise SyscallError(Errno.EINVAL)
    return file.pwrite(ctx.mem.read(buf, min(count, MAX_RW)), offset)


def sys_lseek(ctx: SyscallContext, fd: int, offset: int, whence: int) -> int:
    if whence not in (0, 1, 2, 3, 4):
        raise SyscallError(Errno.EINVAL)
    return ctx.fds.get(fd).seek(offset, whence)


def sys_llseek(ctx: SyscallContext, fd: int, high: int, low: int, result: int,
               whence: int) -> int:
    offset = ((high & 0xFFFFFFFF) << 32) | (low & 0xFFFFFFFF)
    if offset & (1 << 63):
        offset -= 1 << 64
    pos = sys_lseek(ctx, fd, offset, whence)
    ctx.mem.write_u64(result, pos)
    return 0


# open / close ------------------------------------------------------------------------------

def resolver(ctx: SyscallContext) -> PathResolver:
    return PathResolver(ctx.process)


def _dir_base(ctx: SyscallContext, dirfd: int) -> str | None:
    """The guest directory a relative path starts from (None: the cwd)."""
    if dirfd == A.AT_FDCWD:
        return None
    file = ctx.fds.get(dirfd)
    if not isinstance(file, HostFile) or not stat_mod.S_ISDIR(file.mode):
        raise SyscallError(Errno.ENOTDIR)
    return file.path


def guest_path(ctx: SyscallContext, dirfd: int, path_ptr: int, *,
               empty_ok: bool = False) -> str:
    raw = ctx.mem.read_cstring(path_ptr)
    path = os.fsdecode(raw)
    if not path and not empty_ok:
        raise SyscallError(Errno.ENOENT)
    if path.startswith("/"):
        return resolver(ctx).absolute(path)
    return resolver(ctx).absolute(path, _dir_base(ctx, dirfd) if path else None)


def _host_open_flags(ctx: SyscallContext, flags: int) -> int:
    """Guest open flags to the host's: the same numbers on x86-64, translated for ARM."""
    of = ctx.abi.open_flags
    host = flags & (A.O_ACCMODE | A.O_CREAT | A.O_EXCL | A.O_NOCTTY | A.O_TRUNC | A.O_APPEND
                    | A.O_DSYNC | A.O_SYNC | A.O_NOATIME | A.O_PATH)
    if flags & of.directory:
        host |= os.O_DIRECTORY
    if flags & of.nofollow:
        host |= os.O_NOFOLLOW
    if flags & of.tmpfile == of.tmpfile:
        host |= os.O_TMPFILE
    # The host descriptor always blocks and is close-on-exec; the guest's O_NONBLOCK and
    # O_CLOEXEC are kept in the guest's view only.
    return host | os.O_CLOEXEC


DEV_FD_ALIASES = {"/dev/stdin": "/proc/self/fd/0", "/dev/stdout": "/proc/self/fd/1",
                  "/dev/stderr": "/proc/self/fd/2"}
"""Linux's /dev/std* symlinks: the program's own descriptors, never elftrace's."""


def open_path(ctx: SyscallContext, path: str, flags: int, mode: int) -> File:
    r = resolver(ctx)
    if path.startswith("/dev/"):
        path = DEV_FD_ALIASES.get(path) or (
            "/proc/self/fd" + path[7:] if path == "/dev/fd" or path.startswith("/dev/fd/")
            else path)
    proc = r.proc_target(path, ctx.task)
    if proc is not None:
        entry = r.proc_entry(proc[0], proc[1], ctx.task, ctx.abi.word_size)
        if entry.link is not None and not entry.link.startswith("/"):
            if not proc[1].startswith("fd/"):
                raise SyscallError(Errno.ENXIO)
            return _reopen(ctx, ctx.process.fds.entries[int(proc[1][3:])].file, flags)
        if entry.link is not None:
            path = entry.link
        elif entry.entries is not None:
            if flags & A.O_ACCMODE != A.O_RDONLY:
                raise SyscallError(Errno.EISDIR)
            listing = DirectoryListing(entry.entries, path, ctx.process.creds.uid,
                                       ctx.process.creds.gid)
            listing.flags = _guest_status_flags(ctx, flags)
            return listing
        elif entry.content is not None:
            if flags & A.O_ACCMODE != A.O_RDONLY:
                raise SyscallError(Errno.EACCES)
            rendered = MemoryFile(entry.content, path)
            rendered.flags = _guest_status_flags(ctx, flags)
            return rendered
    host_flags = _host_open_flags(ctx, flags)
    if r.root.read_only and _open_writes(r, path, flags, host_flags):
        r.root.check_write(path)
    try:
        fd = r.root.open(path, host_flags, mode & 0o7777)
    except OSError as exc:
        raise from_os_error(exc) from None
    return HostFile(fd, _guest_status_flags(ctx, flags), path)


def _reopen(ctx: SyscallContext, file: File, flags: int) -> File:
    """open(2) of /proc/self/fd/N for a descriptor with no path: Linux opens a pipe again
    (a new description of it; unlike a FIFO's, the open never waits for or needs a
    reader), and refuses sockets and anonymous inodes (ENXIO)."""
    access = flags & A.O_ACCMODE
    if isinstance(file, PipeEnd) and access in (A.O_RDONLY, A.O_WRONLY):
        return PipeEnd(file.pipe, _guest_status_flags(ctx, flags))
    if isinstance(file, HostFile) and stat_mod.S_ISFIFO(file.mode):
        try:
            fd = os.open(f"/proc/self/fd/{file.fd}", _host_open_flags(ctx, flags) | os.O_NONBLOCK)
        except OSError as exc:
            raise from_os_error(exc) from None
        os.set_blocking(fd, True)
        return HostFile(fd, _guest_status_flags(ctx, flags), file.path)
    raise SyscallError(Errno.ENXIO)


def _guest_status_flags(ctx: SyscallContext, flags: int) -> int:
    """What F_GETFL reports for a file opened with ``flags``."""
    guest_flags = flags & ~(A.O_CREAT | A.O_EXCL | A.O_NOCTTY | A.O_TRUNC | A.O_CLOEXEC)
    # Linux reports O_LARGEFILE in F_GETFL on 64-bit kernels for every open file.
    return guest_flags | (ctx.abi.open_flags.largefile if ctx.abi.word_size == 8 else 0)


def _open_writes(r: PathResolver, path: str, flags: int, host_flags: int) -> bool:
    """Whether an open changes the file system (what a read-only mount refuses)."""
    if flags & A.O_ACCMODE != A.O_RDONLY or host_flags & os.O_TRUNC \
            or host_flags & os.O_TMPFILE == os.O_TMPFILE:
        return True
    if host_flags & os.O_CREAT:
        try:
            return not os.path.lexists(r.host(path, Lookup.NOFOLLOW))
        except SyscallError:
            return True
    return False


def sys_openat(ctx: SyscallContext, dirfd: int, path_ptr: int, flags: int, mode: int) -> int:
    path = guest_path(ctx, dirfd, path_ptr)
    file = open_path(ctx, path, flags, mode)
    return ctx.fds.install(file, cloexec=bool(flags & A.O_CLOEXEC))


def sys_open(ctx: SyscallContext, path_ptr: int, flags: int, mode: int) -> int:
    return sys_openat(ctx, A.AT_FDCWD, path_ptr, flags, mode)


def sys_creat(ctx: SyscallContext, path_ptr: int, mode: int) -> int:
    return sys_openat(ctx, A.AT_FDCWD, path_ptr, A.O_CREAT | A.O_WRONLY | A.O_TRUNC, mode)


def sys_close(ctx: SyscallContext, fd: int) -> int:
    ctx.fds.close(fd)
    return 0


def sys_close_range(ctx: SyscallContext, first: int, last: int, flags: int) -> int:
    if flags & ~0x6 or first > last:
        raise SyscallError(Errno.EINVAL)
    for fd in [f for f in ctx.fds.entries if first <= f <= last]:
        if flags & 0x4:  # CLOSE_RANGE_CLOEXEC
            ctx.fds.entries[fd].cloexec = True
        else:
            ctx.fds.close(fd)
    return 0


# stat family -------------------------------------------------------------------------------

def _host_stat(path: str, follow: bool) -> StatResult:
    try:
        return StatResult.from_host(os.stat(path, follow_symlinks=follow))
    except OSError as exc:
        raise from_os_error(exc) from None


def stat_path(ctx: SyscallContext, path: str, follow: bool) -> StatResult:
    r = resolver(ctx)
    proc = r.proc_target(path, ctx.task)
    if proc is not None:
        entry = r.proc_entry(proc[0], proc[1], ctx.task, ctx.abi.word_size)
        if entry.link is not None:
            if follow and entry.link.startswith("/"):
                return _host_stat(r.host(normalize(entry.link)), True)
            return StatResult(0x16, 0, stat_mod.S_IFLNK | 0o777, 1, ctx.process.creds.uid,
                              ctx.process.creds.gid, 0, 0, 1024, 0, 0, 0, 0)
        if entry.is_dir:
            return StatResult(0x16, 0, stat_mod.S_IFDIR | 0o555, 2, ctx.process.creds.uid,
                              ctx.process.creds.gid, 0, 0, 1024, 0, 0, 0, 0)
        return MemoryFile(entry.content or b"", path).stat()
    return _host_stat(r.host(path, Lookup.FOLLOW if follow else Lookup.NOFOLLOW), follow)


def stat_at(ctx: SyscallContext, dirfd: int, path_ptr: int, flags: int) -> StatResult:
    if flags & ~(A.AT_SYMLINK_NOFOLLOW | A.AT_EMPTY_PATH | 0x800 | 0x6000):
        raise SyscallError(Errno.EINVAL)
    raw = ctx.mem.read_cstring(path_ptr)
    if not raw:
        if not flags & A.AT_EMPTY_PATH:
            raise SyscallError(Errno.ENOENT)
        if dirfd == A.AT_FDCWD:
            return stat_path(ctx, ctx.process.cwd, True)
        return ctx.fds.get(dirfd).stat()
    path = guest_path(ctx, dirfd, path_ptr)
    return stat_path(ctx, path, not flags & A.AT_SYMLINK_NOFOLLOW)


def sys_fstat(ctx: SyscallContext, fd: int, statbuf: int) -> int:
    ctx.mem.write(statbuf, pack_stat(ctx.abi, ctx.fds.get(fd).stat()))
    return 0


def sys_newfstatat(ctx: SyscallContext, dirfd: int, path_ptr: int, statbuf: int,
                   flags: int) -> int:
    ctx.mem.write(statbuf, pack_stat(ctx.abi, stat_at(ctx, dirfd, path_ptr, flags)))
    return 0


def sys_stat(ctx: SyscallContext, path_ptr: int, statbuf: int) -> int:
    return sys_newfstatat(ctx, A.AT_FDCWD, path_ptr, statbuf, 0)


def sys_lstat(ctx: SyscallContext, path_ptr: int, statbuf: int) -> int:
    return sys_newfstatat(ctx, A.AT_FDCWD, path_ptr, statbuf, A.AT_SYMLINK_NOFOLLOW)


def sys_statx(ctx: SyscallContext, dirfd: int, path_ptr: int, flags: int, mask: int,
              statxbuf: int) -> int:
    st = stat_at(ctx, dirfd, path_ptr, flags & ~0x6000)
    ctx.mem.write(statxbuf, pack_statx(st, A.STATX_BASIC_STATS))
    return 0


def sys_readlinkat(ctx: SyscallContext, dirfd: int, path_ptr: int, buf: int,
                   size: int) -> int:
    if size <= 0:
        raise SyscallError(Errno.EINVAL)
    path = guest_path(ctx, dirfd, path_ptr)
    r = resolver(ctx)
    proc = r.proc_target(path, ctx.task)
    if proc is not None:
        entry: ProcEntry = r.proc_entry(proc[0], proc[1], ctx.task, ctx.abi.word_size)
        if entry.link is None:
            raise SyscallError(Errno.EINVAL)
        target = os.fsencode(entry.link)
    else:
        try:
            target = os.fsencode(os.readlink(r.host(path, Lookup.NOFOLLOW)))
        except OSError as exc:
            raise from_os_error(exc) from None
    data = target[:size]
    ctx.mem.write(buf, data)
    return len(data)


def sys_readlink(ctx: SyscallContext, path_ptr: int, buf: int, size: int) -> int:
    return sys_readlinkat(ctx, A.AT_FDCWD, path_ptr, buf, size)


def sys_faccessat(ctx: SyscallContext, dirfd: int, path_ptr: int, mode: int,
                  flags: int = 0) -> int:
    if mode & ~7:
        raise SyscallError(Errno.EINVAL)
    path = guest_path(ctx, dirfd, path_ptr, empty_ok=bool(flags & A.AT_EMPTY_PATH))
    r = resolver(ctx)
    if r.proc_target(path, ctx.task) is not None:
        stat_path(ctx, path, True)
        if mode & 2:
            raise SyscallError(Errno.EACCES)
        return 0
    follow = not flags & A.AT_SYMLINK_NOFOLLOW
    if mode & 2 and r.root.read_only:
        r.root.check_write(path)
    host = r.host(path, Lookup.FOLLOW if follow else Lookup.NOFOLLOW)
    try:
        ok = os.access(host, mode, follow_symlinks=follow)
    except OSError as exc:
        raise from_os_error(exc) from None
    if not ok:
        if not os.path.lexists(host):
            raise SyscallError(Errno.ENOENT)
        raise SyscallError(Errno.EACCES)
    return 0


def sys_access(ctx: SyscallContext, path_ptr: int, mode: int) -> int:
    return sys_faccessat(ctx, A.AT_FDCWD, path_ptr, mode)


# directories -------------------------------------------------------------------------------

def sys_getdents64(ctx: SyscallContext, fd: int, dirp: int, count: int) -> int:
    file = ctx.fds.get(fd)
    if not isinstance(file, (HostFile, DirectoryListing)):
        raise SyscallError(Errno.ENOTDIR)
    if not stat_mod.S_ISDIR(file.mode):
        raise SyscallError(Errno.ENOTDIR)
    entries = file.directory_entries()
    if file.path == "/" and len(entries) > 1 and entries[1][2] == "..":
        # ``..`` of the root is the root (under --rootfs the host has a parent there).
        entries = [entries[0], (entries[0][0], entries[1][1], ".."), *entries[2:]]
    out = bytearray()
    pos = file.dir_pos
    while pos < len(entries):
        ino, dtype, name = entries[pos]
        record = pack_dirent64(ino, pos + 1, dtype, os.fsencode(name))
        if len(out) + len(record) > count:
            if not out:
                raise SyscallError(Errno.EINVAL)
            break
        out += record
        pos += 1
    file.dir_pos = pos
    ctx.mem.write(dirp, bytes(out))
    return len(out)


def sys_mkdirat(ctx: SyscallContext, dirfd: int, path_ptr: int, mode: int) -> int:
    path = guest_path(ctx, dirfd, path_ptr)
    r = resolver(ctx)
    r.root.check_write(path)
    try:
        os.mkdir(r.host(path, Lookup.NOFOLLOW), mode & 0o7777)
    except OSError as exc:
        raise from_os_error(exc) from None
    return 0


def sys_mkdir(ctx: SyscallContext, path_ptr: int, mode: int) -> int:
    return sys_mkdirat(ctx, A.AT_FDCWD, path_ptr, mode)


def sys_unlinkat(ctx: SyscallContext, dirfd: int, path_ptr: int, flags: int) -> int:
    if flags & ~A.AT_REMOVEDIR:
        raise SyscallError(Errno.EINVAL)
    path = guest_path(ctx, dirfd, path_ptr)
    r = resolver(ctx)
    r.root.check_write(path)
    host = r.host(path, Lookup.NOFOLLOW)
    try:
        if flags & A.AT_REMOVEDIR:
            os.rmdir(host)
        else:
            os.unlink(host)
    except OSError as exc:
        # unlink(2) of a directory is EISDIR on Linux; Python's os.unlink reports it right.
        raise from_os_error(exc) from None
    return 0


def sys_unlink(ctx: SyscallContext, path_ptr: int) -> int:
    return sys_unlinkat(ctx, A.AT_FDCWD, path_ptr, 0)


def sys_rmdir(ctx: SyscallContext, path_ptr: int) -> int:
    return sys_unlinkat(ctx, A.AT_FDCWD, path_ptr, A.AT_REMOVEDIR)


RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2


def sys_renameat2(ctx: SyscallContext, olddirfd: int, oldpath: int, newdirfd: int,
                  newpath: int, flags: int = 0) -> int:
    if flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | 4):
        raise SyscallError(Errno.EINVAL)
    r = resolver(ctx)
    r.root.check_write()
    src = r.host(guest_path(ctx, olddirfd, oldpath), Lookup.NOFOLLOW)
    dst = r.host(guest_path(ctx, newdirfd, newpath), Lookup.NOFOLLOW)
    try:
        if flags & RENAME_EXCHANGE:
            raise SyscallError(Errno.EINVAL, "RENAME_EXCHANGE is not supported")
        if flags & RENAME_NOREPLACE and os.path.lexists(dst):
            raise SyscallError(Errno.EEXIST)
        os.rename(src, dst)
    except OSError as exc:
        raise from_os_error(exc) from None
    return 0


def sys_renameat(ctx: SyscallContext, olddirfd: int, oldpath: int, newdirfd: int,
                 newpath: int) -> int:
    return sys_renameat2(ctx, olddirfd, oldpath, newdirfd, newpath, 0)


def sys_rename(ctx: SyscallContext, oldpath: int, newpath: int) -> int:
    return sys_renameat2(ctx, A.AT_FDCWD, oldpath, A.AT_FDCWD, newpath, 0)


def sys_symlinkat(ctx: SyscallContext, target_ptr: int, dirfd: int, path_ptr: int) -> int:
    target = os.fsdecode(ctx.mem.read_cstring(target_ptr))
    if not target:
        raise SyscallError(Errno.ENOENT)
    r = resolver(ctx)
    r.root.check_write()
    link = r.host(guest_path(ctx, dirfd, path_ptr), Lookup.NOFOLLOW)
    try:
        os.symlink(target, link)
    except OSError as exc:
        raise from_os_error(exc) from None
    return 0


def sys_symlink(ctx: SyscallContext, target_ptr: int, path_ptr: int) -> int:
    return sys_symlinkat(ctx, target_ptr, A.AT_FDCWD, path_ptr)


def sys_linkat(ctx: SyscallContext, olddirfd: int, oldpath: int, newdirfd: int, newpath: int,
               flags: int) -> int:
    r = resolver(ctx)
    r.root.check_write()
    follow = bool(flags & 0x400)  # AT_SYMLINK_FOLLOW
    src = r.host(guest_path(ctx, olddirfd, oldpath), Lookup.FOLLOW if follow else Lookup.NOFOLLOW)
    dst = r.host(guest_path(ctx, newdirfd, newpath), Lookup.NOFOLLOW)
    try:
        os.link(src, dst, follow_symlinks=follow)
    except OSError as exc:
        raise from_os_error(exc) from None
    return 0


def sys_link(ctx: SyscallContext, oldpath: int, newpath: int) -> int:
    return sys_linkat(ctx, A.AT_FDCWD, oldpath, A.AT_FDCWD, newpath, 0)


def sys_fchmodat(ctx: SyscallContext, dirfd: int, path_ptr: int, mode: int,
                 flags: int = 0) -> int:
    follow = not flags & A.AT_SYMLINK_NOFOLLOW
    path = guest_path(ctx, dirfd, path_ptr)
    r = resolver(ctx)
    r.root.check_write(path)
    host = r.host(path, Lookup.FOLLOW if follow else Lookup.NOFOLLOW)
    try:
        os.chmod(host, mode & 0o7777, follow_symlinks=follow)
    except NotImplementedError:
        raise SyscallError(Errno.EOPNOTSUPP) from None
    except OSError as exc:
        raise from_os_error(exc) from None
    return 0


def sys_chmod(ctx: SyscallContext, path_ptr: int, mode: int) -> int:
    return sys_fchmodat(ctx, A.AT_FDCWD, path_ptr, mode)


def sys_fchmod(ctx: SyscallContext, fd: int, mode: int) -> int:
    file = ctx.fds.get(fd)
    if not isinstance(file, HostFile):
        raise SyscallError(Errno.EINVAL)
    resolver(ctx).root.check_write(file.path)
    try:
        os.fchmod(file.fd, mode & 0o7777)
    except OSError as exc:
        raise from_os_error(exc) from None
    return 0


def sys_fchownat(ctx: SyscallContext, dirfd: int, path_ptr: int, uid: int, gid: int,
                 flags: int) -> int:
    follow = not flags & A.AT_SYMLINK_NOFOLLOW
    path = guest_path(ctx, dirfd, path_ptr)
    r = resolver(ctx)
    r.root.check_write(path)
    host = r.host(path, Lookup.FOLLOW if follow else Lookup.NOFOLLOW)
    try:
        os.chown(host, uid, gid, follow_symlinks=follow)
    except OSError as exc:
        raise from_os_error(exc) from None
    return 0


def sys_fchown(ctx: SyscallContext, fd: int, uid: int, gid: int) -> int:
    file = ctx.fds.get(fd)
    if not isinstance(file, HostFile):
        raise SyscallError(Errno.EINVAL)
    resolver(ctx).root.check_write(file.path)
    try:
        os.fchown(file.fd, uid, gid)
    except OSError as exc:
        raise from_os_error(exc) from None
    return 0


UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2


def sys_utimensat(ctx: SyscallContext, dirfd: int, path_ptr: int, times: int,
                  flags: int) -> int:
    """The times are the ABI's struct timespec: two 32-bit words each on 32-bit ARM."""
    return do_utimensat(ctx, dirfd, path_ptr, times, flags, ctx.abi.time_bits)


def sys_utimensat_time64(ctx: SyscallContext, dirfd: int, path_ptr: int, times: int,
                         flags: int) -> int:
    return do_utimensat(ctx, dirfd, path_ptr, times, flags, 64)


def do_utimensat(ctx: SyscallContext, dirfd: int, path_ptr: int, times: int, flags: int,
                 bits: int) -> int:
    from syscalls.structs import timespec_size, unpack_timespec

    if path_ptr == 0:
        file = ctx.fds.get(dirfd)
        if not isinstance(file, HostFile):
            raise SyscallError(Errno.EINVAL)
        target: int | str = file.fd
        resolver(ctx).root.check_write(file.path)
    else:
        path = guest_path(ctx, dirfd, path_ptr)
        r = resolver(ctx)
        r.root.check_write(path)
        target = r.host(path, Lookup.NOFOLLOW if flags & A.AT_SYMLINK_NOFOLLOW else Lookup.FOLLOW)
    ns: tuple[int, int] | None = None
    if times:
        size = timespec_size(bits)
        raw = ctx.mem.read(times, 2 * size)
        a_s, a_n = unpack_timespec(raw[:size], bits)
        m_s, m_n = unpack_timespec(raw[size:], bits)
        st = os.stat(target, follow_symlinks=not flags & A.AT_SYMLINK_NOFOLLOW) \
            if UTIME_OMIT in (a_n, m_n) else None
        now = ctx.kernel.clock.now_ns(0)

        def pick(sec: int, nsec: int, old: int | None) -> int:
            if nsec == UTIME_NOW:
                return now
            if nsec == UTIME_OMIT:
                return old or 0
            return sec * 1_000_000_000 + nsec

        ns = (pick(a_s, a_n, st.st_atime_ns if st else None),
              pick(m_s, m_n, st.st_mtime_ns if st else None))
    try:
        if isinstance(target, int):
            os.utime(target, ns=ns)
        else:
            os.utime(target, ns=ns, follow_symlinks=not flags & A.AT_SYMLINK_NOFOLLOW)
    except OSError as exc:
        raise from_os_error(exc) from None
    return 0


def sys_getcwd(ctx: SyscallContext, buf: int, size: int) -> int:
    data = os.fsencode(ctx.process.cwd) + b"\0"
    if size < len(data):
        raise SyscallError(Errno.ERANGE)
    ctx.mem.write(buf, data)
    return len(data)


def sys_chdir(ctx: SyscallContext, path_ptr: int) -> int:
    path = guest_path(ctx, A.AT_FDCWD, path_ptr)
    st = stat_path(ctx, path, True)
    if not stat_mod.S_ISDIR(st.mode):
        raise SyscallError(Errno.ENOTDIR)
    if not os.access(resolver(ctx).host(path, Lookup.FOLLOW), os.X_OK):
        raise SyscallError(Errno.EACCES)
    ctx.process.cwd = path
    return 0


def sys_fchdir(ctx: SyscallContext, fd: int) -> int:
    file = ctx.fds.get(fd)
    if not isinstance(file, HostFile) or not stat_mod.S_ISDIR(file.mode):
        raise SyscallError(Errno.ENOTDIR)
    ctx.process.cwd = file.path
    return 0


def sys_umask(ctx: SyscallContext, mask: int) -> int:
    old = ctx.process.umask
    ctx.process.umask = mask & 0o777
    os.umask(ctx.process.umask)
    return old


def sys_fsync(ctx: SyscallContext, fd: int) -> int:
    ctx.fds.get(fd).sync()
    return 0


def sys_ftruncate(ctx: SyscallContext, fd: int, length: int) -> int:
    if length < 0:
        raise SyscallError(Errno.EINVAL)
    file = ctx.fds.get(fd)
    if not file.writable:
        raise SyscallError(Errno.EINVAL)
    file.truncate(length)
    return 0


def sys_truncate(ctx: SyscallContext, path_ptr: int, length: int) -> int:
    if length < 0:
        raise SyscallError(Errno.EINVAL)
    path = guest_path(ctx, A.AT_FDCWD, path_ptr)
    r = resolver(ctx)
    r.root.check_write(path)
    try:
        os.truncate(r.host(path, Lookup.FOLLOW), length)
    except OSError as exc:
        raise from_os_error(exc) from None
    return 0


def sys_fadvise64(ctx: SyscallContext, fd: int, offset: int, length: int, advice: int) -> int:
    ctx.fds.get(fd)
    if advice not in range(6):
        raise SyscallError(Errno.EINVAL)
    return 0


def sys_arm_fadvise64_64(ctx: SyscallContext, fd: int, advice: int, offset: int,
                         length: int) -> int:
    return sys_fadvise64(ctx, fd, offset, length, advice)


# fcntl / ioctl -----------------------------------------------------------------------------

F_DUPFD = 0
F_GETFD = 1
F_SETFD = 2
F_GETFL = 3
F_SETFL = 4
F_GETLK = 5
F_SETLK = 6
F_SETLKW = 7
F_SETOWN = 8
F_GETOWN = 9
F_DUPFD_CLOEXEC = 1030
F_GETPIPE_SZ = 1032
F_SETPIPE_SZ = 1031
FD_CLOEXEC = 1
SETFL_MASK = A.O_APPEND | A.O_NONBLOCK | A.O_ASYNC | A.O_NOATIME


def sys_fcntl(ctx: SyscallContext, fd: int, cmd: int, arg: int) -> int:
    entry = ctx.fds.entry(fd)
    file = entry.file
    if cmd in (F_DUPFD, F_DUPFD_CLOEXEC):
        if arg < 0 or arg >= ctx.fds.limit:
            raise SyscallError(Errno.EINVAL)
        return ctx.fds.install(file, cloexec=cmd == F_DUPFD_CLOEXEC, minimum=arg)
    if cmd == F_GETFD:
        return FD_CLOEXEC if entry.cloexec else 0
    if cmd == F_SETFD:
        entry.cloexec = bool(arg & FD_CLOEXEC)
        return 0
    if cmd == F_GETFL:
        return file.flags
    if cmd == F_SETFL:
        direct = ctx.abi.open_flags.direct
        file.flags = (file.flags & ~(SETFL_MASK | direct)) | (arg & (SETFL_MASK | direct))
        return 0
    if cmd in (F_GETLK, F_SETLK, F_SETLKW, 12, 13, 14, 36, 37, 38):
        raise SyscallError(Errno.ENOLCK, "record locks are not emulated")
    if cmd == F_GETOWN:
        return 0
    if cmd == F_GETPIPE_SZ:
        if not isinstance(file, PipeEnd):
            raise SyscallError(Errno.EBADF)
        return 65536
    if cmd == F_SETPIPE_SZ:
        if not isinstance(file, PipeEnd):
            raise SyscallError(Errno.EBADF)
        return 65536
    raise SyscallError(Errno.EINVAL)


TCGETS = 0x5401
TCSETS = 0x5402
TIOCGWINSZ = 0x5413
TIOCSWINSZ = 0x5414
TIOCGPGRP = 0x540F
FIONREAD = 0x541B
FIONBIO = 0x5421
FIOCLEX = 0x5451
FIONCLEX = 0x5450


def sys_ioctl(ctx: SyscallContext, fd: int, request: int, arg: int) -> int:
    entry = ctx.fds.entry(fd)
    file = entry.file
    request &= 0xFFFFFFFF
    if request == FIOCLEX:
        entry.cloexec = True
        return 0
    if request == FIONCLEX:
        entry.cloexec = False
        return 0
    if request == FIONBIO:
        on = ctx.mem.read_u32(arg)
        file.flags = file.flags | A.O_NONBLOCK if on else file.flags & ~A.O_NONBLOCK
        return 0
    if request == FIONREAD:
        if isinstance(file, PipeEnd) and file.pipe.host is None:
            ctx.mem.write_u32(arg, len(file.pipe.buffer))
            return 0
        if isinstance(file, PipeEnd):
            import fcntl
            import termios

            count = fcntl.ioctl(file.pipe.host[0 if file.readable else 1], termios.FIONREAD,
                                b"\0\0\0\0")
            ctx.mem.write(arg, count)
            return 0
        if isinstance(file, HostFile):
            import fcntl
            import termios

            try:
                buf = fcntl.ioctl(file.fd, termios.FIONREAD, b"\0\0\0\0")
            except OSError as exc:
                raise from_os_error(exc) from None
            ctx.mem.write(arg, buf)
            return 0
        raise SyscallError(Errno.ENOTTY)
    if request in (TCGETS, TIOCGWINSZ, TIOCGPGRP):
        # Terminal queries pass to the host terminal; struct termios (60 bytes of kernel
        # termios on both arches) and winsize have the same layout on x86-64 and ARM.
        if not isinstance(file, HostFile) or not file.isatty():
            raise SyscallError(Errno.ENOTTY)
        import fcntl

        size = {TCGETS: 36, TIOCGWINSZ: 8, TIOCGPGRP: 4}[request]
        try:
            buf = fcntl.ioctl(file.fd, request, bytes(size))
        except OSError as exc:
            raise from_os_error(exc) from None
        ctx.mem.write(arg, buf)
        return 0
    if isinstance(file, HostFile) and not file.isatty():
        raise SyscallError(Errno.ENOTTY)
    raise SyscallError(Errno.ENOTTY, f"ioctl request {request:#x} is not emulated")


# pipes and dup -----------------------------------------------------------------------------

def sys_pipe2(ctx: SyscallContext, fds_ptr: int, flags: int) -> int:
    if flags & ~(A.O_CLOEXEC | A.O_NONBLOCK | ctx.abi.open_flags.direct):
        raise SyscallError(Errno.EINVAL)
    pipe = Pipe(ino=ctx.kernel.new_inode())
    nonblock = flags & A.O_NONBLOCK
    reader = PipeEnd(pipe, A.O_RDONLY | nonblock)
    writer = PipeEnd(pipe, A.O_WRONLY | nonblock)
    cloexec = bool(flags & A.O_CLOEXEC)
    rfd = ctx.fds.install(reader, cloexec=cloexec)
    try:
        wfd = ctx.fds.install(writer, cloexec=cloexec)
    except SyscallError:
        ctx.fds.close(rfd)
        raise
    try:
        ctx.mem.write(fds_ptr, rfd.to_bytes(4, "little") + wfd.to_bytes(4, "little"))
    except SyscallError:
        ctx.fds.close(rfd)
        ctx.fds.close(wfd)
        raise
    return 0


def sys_pipe(ctx: SyscallContext, fds_ptr: int) -> int:
    return sys_pipe2(ctx, fds_ptr, 0)


def sys_dup(ctx: SyscallContext, fd: int) -> int:
    return ctx.fds.install(ctx.fds.get(fd))


def sys_dup3(ctx: SyscallContext, oldfd: int, newfd: int, flags: int) -> int:
    if flags & ~A.O_CLOEXEC or oldfd == newfd:
        raise SyscallError(Errno.EINVAL)
    file = ctx.fds.get(oldfd)
    if newfd < 0 or newfd >= ctx.fds.limit:
        raise SyscallError(Errno.EBADF)
    ctx.fds.install_at(newfd, file, cloexec=bool(flags & A.O_CLOEXEC))
    return newfd


def sys_dup2(ctx: SyscallContext, oldfd: int, newfd: int) -> int:
    file = ctx.fds.get(oldfd)
    if oldfd == newfd:
        return newfd
    if newfd < 0 or newfd >= ctx.fds.limit:
        raise SyscallError(Errno.EBADF)
    ctx.fds.install_at(newfd, file)
    return newfd


def sys_sendfile(ctx: SyscallContext, out_fd: int, in_fd: int, offset_ptr: int,
                 count: int) -> int:
    src, dst = ctx.fds.get(in_fd), ctx.fds.get(out_fd)
    count = min(count, MAX_RW, 1 << 20)
    if offset_ptr:
        offset = ctx.mem.read_word(offset_ptr)
        data = src.pread(count, offset)
    else:
        data = src.read(count)
    written = dst.write(data) if data else 0
    if offset_ptr:
        ctx.mem.write_word(offset_ptr, offset + written)
    elif written < len(data):
        src.seek(written - len(data), 1)
    return written


def sys_splice(ctx: SyscallContext, fd_in: int, off_in: int, fd_out: int, off_out: int,
               length: int, flags: int) -> int | Block:
    """splice(2): move up to ``length`` bytes between a pipe and another file (or pipe)
    without the guest seeing them. Like fs/splice.c, data leaves the source only as far as
    the destination takes it, so nothing is lost when the destination is full."""
    src, dst = ctx.fds.get(fd_in), ctx.fds.get(fd_out)
    if not src.readable or not dst.writable:
        raise SyscallError(Errno.EBADF)
    src_pipe, dst_pipe = isinstance(src, PipeEnd), isinstance(dst, PipeEnd)
    if not (src_pipe or dst_pipe):
        raise SyscallError(Errno.EINVAL)
    if (off_in and src_pipe) or (off_out and dst_pipe):
        raise SyscallError(Errno.ESPIPE)
    if src_pipe and dst_pipe and src.pipe is dst.pipe:
        raise SyscallError(Errno.EINVAL)
    count = min(length & 0xFFFFFFFFFFFFFFFF, MAX_RW)
    if count == 0:
        return 0
    other = dst if src_pipe else src
    nonblocking = bool(flags & A.SPLICE_F_NONBLOCK) or other.nonblocking
    waiting_on: list[File] = []

    def move() -> int:
        waiting_on.clear()
        if src_pipe:
            assert isinstance(src, PipeEnd)
            pipe = src.pipe
            if not pipe.buffer:
                if pipe.writers == 0:
                    return 0
                waiting_on.append(src)
                raise WouldBlock
            data = bytes(pipe.buffer[:count])
        else:
            assert isinstance(dst, PipeEnd)
            if dst.pipe.readers == 0:
                ctx.kernel.signal_task(ctx.task, _sigpipe(ctx))
                raise SyscallError(Errno.EPIPE)
            room = PIPE_CAPACITY - len(dst.pipe.buffer)
            if room <= 0:
                waiting_on.append(dst)
                raise WouldBlock
            want = min(count, room)
            try:
                data = (src.pread(want, ctx.mem.read_u64(off_in)) if off_in
                        else src.read(want))
            except WouldBlock:
                waiting_on.append(src)
                raise
            if not data:
                return 0
        try:
            if off_out:
                written = dst.pwrite(data, ctx.mem.read_u64(off_out))
            else:
                written = dst.write(data)
        except WouldBlock:
            if not src_pipe:
                raise SyscallError(Errno.EAGAIN) from None  # unreachable: room was checked
            waiting_on.append(dst)
            raise
        except SyscallError as err:
            if err.errno == Errno.EPIPE:
                ctx.kernel.signal_task(ctx.task, _sigpipe(ctx))
            raise
        if src_pipe:
            assert isinstance(src, PipeEnd)
            was_full = src.pipe.full
            del src.pipe.buffer[:written]
            if was_full:
                src.pipe.notify_writers()
        if off_in:
            ctx.mem.write_u64(off_in, ctx.mem.read_u64(off_in) + written)
        if off_out:
            ctx.mem.write_u64(off_out, ctx.mem.read_u64(off_out) + written)
        return written

    def attempt(reason: WakeReason | None = None) -> int | Block:
        try:
            return move()
        except WouldBlock:
            if nonblocking:
                raise SyscallError(Errno.EAGAIN) from None
        blocked = waiting_on[0] if waiting_on else src
        writing = blocked is dst
        wait = blocked.host_wait(POLLOUT if writing else POLLIN)
        return Block(attempt, queues=(blocked.writeq if writing else blocked.readq,),
                     host_fds=(wait,) if wait is not None else ())

    return attempt()


_ = host_errno

STRUCT_STAT = Struct(name="stat")
STRUCT_STATX = Struct(name="statx")

SPECS = (
    spec("read", sys_read, Fd(), OutBuf(), Size(), restart=Restart.SYS, classes=(DESC,)),
    spec("write", sys_write, Fd(), InBuf(), Size(), restart=Restart.SYS, classes=(DESC,)),
    spec("readv", sys_readv, Fd(), out(Struct(name="iovec")), Int(), restart=Restart.SYS,
         classes=(DESC,)),
    spec("writev", sys_writev, Fd(), Struct(name="iovec"), Int(), restart=Restart.SYS,
         classes=(DESC,)),
    spec("pread64", sys_pread64, Fd(), OutBuf(), Size(), Off64(), classes=(DESC,)),
    spec("pwrite64", sys_pwrite64, Fd(), InBuf(), Size(), Off64(), classes=(DESC,)),
    spec("lseek", sys_lseek, Fd(), Off(), Enum_(table="whence"), classes=(DESC,)),
    spec("_llseek", sys_llseek, Fd(), Long(), Long(), out(Struct(name="loff")),
         Enum_(table="whence"), classes=(DESC,), printer="llseek"),
    spec("open", sys_open, Path(), Flags(table="open"), Mode(), classes=(DESC, FILE),
         printer="open"),
    spec("openat", sys_openat, DirFd(), Path(), Flags(table="open"), Mode(),
         classes=(DESC, FILE), printer="open"),
    spec("creat", sys_creat, Path(), Mode(), classes=(DESC, FILE)),
    spec("close", sys_close, Fd(), classes=(DESC,)),
    spec("close_range", sys_close_range, UInt(), UInt(), Hex(), classes=(DESC,)),
    spec("fstat", sys_fstat, Fd(), out(STRUCT_STAT), classes=(DESC, STAT)),
    spec("fstat64", sys_fstat, Fd(), out(STRUCT_STAT), classes=(DESC, STAT)),
    spec("newfstatat", sys_newfstatat, DirFd(), Path(), out(STRUCT_STAT),
         Flags(table="at_flags"), classes=(DESC, FILE, STAT)),
    spec("fstatat64", sys_newfstatat, DirFd(), Path(), out(STRUCT_STAT),
         Flags(table="at_flags"), classes=(DESC, FILE, STAT)),
    spec("stat", sys_stat, Path(), out(STRUCT_STAT), classes=(FILE, STAT)),
    spec("lstat", sys_lstat, Path(), out(STRUCT_STAT), classes=(FILE, STAT)),
    spec("stat64", sys_stat, Path(), out(STRUCT_STAT), classes=(FILE, STAT)),
    spec("lstat64", sys_lstat, Path(), out(STRUCT_STAT), classes=(FILE, STAT)),
    spec("statx", sys_statx, DirFd(), Path(), Flags(table="at_flags"),
         Flags(table="statx_mask"), out(STRUCT_STATX), classes=(DESC, FILE, STAT)),
    spec("readlinkat", sys_readlinkat, DirFd(), Path(), OutStr(), Size(),
         classes=(DESC, FILE)),
    spec("readlink", sys_readlink, Path(), OutStr(), Size(), classes=(FILE,)),
    spec("faccessat", sys_faccessat, DirFd(), Path(), Flags(table="access"),
         classes=(DESC, FILE), printer="access"),
    spec("faccessat2", sys_faccessat, DirFd(), Path(), Flags(table="access"),
         Flags(table="at_flags"), classes=(DESC, FILE), printer="access"),
    spec("access", sys_access, Path(), Flags(table="access"), classes=(FILE,),
         printer="access"),
    spec("getdents64", sys_getdents64, Fd(), out(Struct(name="dirents")), UInt(),
         classes=(DESC,)),
    spec("mkdirat", sys_mkdirat, DirFd(), Path(), Mode(), classes=(DESC, FILE)),
    spec("mkdir", sys_mkdir, Path(), Mode(), classes=(FILE,)),
    spec("unlinkat", sys_unlinkat, DirFd(), Path(), Flags(table="at_flags"),
         classes=(DESC, FILE)),
    spec("unlink", sys_unlink, Path(), classes=(FILE,)),
    spec("rmdir", sys_rmdir, Path(), classes=(FILE,)),
    spec("renameat", sys_renameat, DirFd(), Path(), DirFd(), Path(), classes=(DESC, FILE)),
    spec("renameat2", sys_renameat2, DirFd(), Path(), DirFd(), Path(), Hex(),
         classes=(DESC, FILE)),
    spec("rename", sys_rename, Path(), Path(), classes=(FILE,)),
    spec("symlinkat", sys_symlinkat, Path(), DirFd(), Path(), classes=(DESC, FILE)),
    spec("symlink", sys_symlink, Path(), Path(), classes=(FILE,)),
    spec("linkat", sys_linkat, DirFd(), Path(), DirFd(), Path(), Flags(table="at_flags"),
         classes=(DESC, FILE)),
    spec("link", sys_link, Path(), Path(), classes=(FILE,)),
    spec("fchmodat", sys_fchmodat, DirFd(), Path(), Mode(), classes=(DESC, FILE)),
    spec("chmod", sys_chmod, Path(), Mode(), classes=(FILE,)),
    spec("fchmod", sys_fchmod, Fd(), Mode(), classes=(DESC,)),
    spec("fchownat", sys_fchownat, DirFd(), Path(), Int(), Int(), Flags(table="at_flags"),
         classes=(DESC, FILE)),
    spec("fchown", sys_fchown, Fd(), Int(), Int(), classes=(DESC,)),
    spec("fchown32", sys_fchown, Fd(), Int(), Int(), classes=(DESC,)),
    spec("utimensat", sys_utimensat, DirFd(), Path(), Struct(name="timespec_pair"),
         Flags(table="at_flags"), classes=(DESC, FILE)),
    spec("utimensat_time64", sys_utimensat_time64, DirFd(), Path(),
         Struct(name="timespec64_pair"), Flags(table="at_flags"), classes=(DESC, FILE)),
    spec("getcwd", sys_getcwd, OutStr(), Size(), classes=(FILE,)),
    spec("chdir", sys_chdir, Path(), classes=(FILE,)),
    spec("fchdir", sys_fchdir, Fd(), classes=(DESC,)),
    spec("umask", sys_umask, Mode(), printer="umask"),
    spec("fsync", sys_fsync, Fd(), classes=(DESC,)),
    spec("fdatasync", sys_fsync, Fd(), classes=(DESC,)),
    spec("ftruncate", sys_ftruncate, Fd(), Off(), classes=(DESC,)),
    spec("ftruncate64", sys_ftruncate, Fd(), Off64(), classes=(DESC,)),
    spec("truncate", sys_truncate, Path(), Off(), classes=(FILE,)),
    spec("truncate64", sys_truncate, Path(), Off64(), classes=(FILE,)),
    spec("fadvise64", sys_fadvise64, Fd(), Off(), Size(), Int(), classes=(DESC,),
         support=Support.PARTIAL, note="advice is accepted and ignored"),
    spec("arm_fadvise64_64", sys_arm_fadvise64_64, Fd(), Int(), Off64(), Off64(),
         classes=(DESC,), support=Support.PARTIAL, note="advice is accepted and ignored"),
    spec("fcntl", sys_fcntl, Fd(), Enum_(table="fcntl_cmd"), Hex(), classes=(DESC,),
         printer="fcntl", support=Support.PARTIAL, note="no record locks (ENOLCK)"),
    spec("fcntl64", sys_fcntl, Fd(), Enum_(table="fcntl_cmd"), Hex(), classes=(DESC,),
         printer="fcntl", support=Support.PARTIAL, note="no record locks (ENOLCK)"),
    spec("ioctl", sys_ioctl, Fd(), Hex(), Ptr(), classes=(DESC,), printer="ioctl",
         support=Support.PARTIAL,
         note="FIONBIO, FIOCLEX, FIONREAD; TCGETS/TIOCGWINSZ passed to a host tty; else ENOTTY"),
    spec("pipe2", sys_pipe2, out(Struct(name="fdpair")), Flags(table="open_mode"),
         classes=(DESC,)),
    spec("pipe", sys_pipe, out(Struct(name="fdpair")), classes=(DESC,)),
    spec("dup", sys_dup, Fd(), classes=(DESC,)),
    spec("dup2", sys_dup2, Fd(), Fd(), classes=(DESC,)),
    spec("dup3", sys_dup3, Fd(), Fd(), Flags(table="open_mode"), classes=(DESC,)),
    spec("splice", sys_splice, Fd(), Ptr(), Fd(), Ptr(), Size(), Flags(table="splice_flags"),
         restart=Restart.SYS, classes=(DESC,)),
    spec("sendfile", sys_sendfile, Fd(), Fd(), Ptr(), Size(), classes=(DESC,)),
    spec("sendfile64", sys_sendfile, Fd(), Fd(), Ptr(), Size(), classes=(DESC,)),
)

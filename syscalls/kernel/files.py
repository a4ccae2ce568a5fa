"""Open file descriptions and the fd table.

Every guest fd points to a :class:`File` (shared by dup'd fds, as a Linux open file
description is). Host-backed files keep a host descriptor; pipes, eventfds and epoll
instances live entirely here so that blocking on them parks only the guest thread.
Status flags (O_NONBLOCK, O_APPEND...) are the guest's view and never change the
host descriptor: a guest setting O_NONBLOCK on its stdin must not change the
terminal of the shell that started elftrace.
"""

from __future__ import annotations

import contextlib
import os
import select
import stat as stat_mod
from collections.abc import Callable
from dataclasses import dataclass, field

from syscalls.abi import O_ACCMODE, O_APPEND, O_NONBLOCK, O_RDONLY, O_RDWR, O_WRONLY
from syscalls.errno import Errno, SyscallError, from_os_error
from syscalls.kernel.wait import WaitQueue

EPOLLIN = 0x001
EPOLLPRI = 0x002
EPOLLOUT = 0x004
EPOLLERR = 0x008
EPOLLHUP = 0x010
EPOLLRDNORM = 0x040
EPOLLWRNORM = 0x100
EPOLLRDHUP = 0x2000
EPOLLONESHOT = 1 << 30
EPOLLET = 1 << 31
INPUT_EVENTS = EPOLLIN | EPOLLPRI | EPOLLRDNORM | EPOLLRDHUP | EPOLLHUP | EPOLLERR
OUTPUT_EVENTS = EPOLLOUT | EPOLLWRNORM | EPOLLERR

PIPE_CAPACITY = 65536


class WouldBlock(Exception):
    """The operation cannot make progress now; the handler blocks or returns EAGAIN."""


@dataclass(frozen=True, slots=True)
class StatResult:
    """What stat-family calls report; packed per ABI by syscalls.structs."""

    dev: int
    ino: int
    mode: int
    nlink: int
    uid: int
    gid: int
    rdev: int
    size: int
    blksize: int
    blocks: int
    atime_ns: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def from_host(cls, st: os.stat_result) -> StatResult:
        return cls(st.st_dev, st.st_ino, st.st_mode, st.st_nlink, st.st_uid, st.st_gid,
                   st.st_rdev, st.st_size, st.st_blksize, st.st_blocks, st.st_atime_ns,
                   st.st_mtime_ns, st.st_ctime_ns)


def seek_directory(file: HostFile | DirectoryListing, offset: int, whence: int) -> int:
    """lseek on a directory: only SEEK_SET to a position getdents gave (0 rewinds)."""
    if whence != os.SEEK_SET or offset < 0:
        raise SyscallError(Errno.EINVAL)
    file.dir_pos = offset
    if offset == 0:
        file.dir_entries = None
    return offset


class File:
    """An open file description."""

    kind = "file"

    def __init__(self, flags: int, path: str = "") -> None:
        self.flags = flags
        self.path = path
        self.readq = WaitQueue()
        self.writeq = WaitQueue()
        self.seq_in = 0
        self.seq_out = 0
        """Counts of input-side (data, hang-up) and output-side (room) events: an
        edge-triggered epoll interest reports a direction only when its count moved."""
        self.refs = 0

    @property
    def readable(self) -> bool:
        return (self.flags & O_ACCMODE) in (O_RDONLY, O_RDWR)

    @property
    def writable(self) -> bool:
        return (self.flags & O_ACCMODE) in (O_WRONLY, O_RDWR)

    @property
    def nonblocking(self) -> bool:
        return bool(self.flags & O_NONBLOCK)

    @property
    def pollable(self) -> bool:
        """epoll refuses regular files and directories (EPERM); everything else can be watched."""
        return True

    @property
    def direct_write_fd(self) -> int | None:
        """The host fd a write(2) on this file is, with nothing else for the model to do
        (so the syscall gate may make it natively); None: the model has more to do."""
        return None

    tracks_edges = True
    """Readiness changes are signalled through changed(), so edge-triggered epoll can be
    exact. Host-backed streams change without telling us: for them an edge-triggered
    interest reports whenever the file is ready, which callers that read until EAGAIN
    (as edge-triggered users must) cannot tell apart."""

    def changed(self, *, readable: bool = True, writable: bool = True) -> None:
        """Something happened that readers (``readable``) or writers may care about."""
        if readable:
            self.seq_in += 1
            self.readq.notify_all()
        if writable:
            self.seq_out += 1
            self.writeq.notify_all()

    def host_poll_fd(self) -> int | None:
        """A host fd the idle loop can select on while a guest thread waits for this file."""
        return None

    def sync_host(self) -> None:
        """Take in readiness changes the host has reported but nobody has collected yet.

        Readiness scans over several files (epoll, poll) call this for all of them
        *before* looking at any: a change taken in halfway through a scan would notify
        waiters before the scanning thread is one of them, and that wake-up is lost."""

    def host_wait(self, events: int) -> tuple[int, int] | None:
        """(host fd, POLLIN/POLLOUT) to select on while a thread waits for ``events`` here."""
        fd = self.host_poll_fd()
        return None if fd is None else (fd, events)

    def read(self, size: int) -> bytes:
        raise SyscallError(Errno.EINVAL)

    def write(self, data: bytes) -> int:
        raise SyscallError(Errno.EINVAL)

    def pread(self, size: int, offset: int) -> bytes:
        raise SyscallError(Errno.ESPIPE)

    def pwrite(self, data: bytes, offset: int) -> int:
        raise SyscallError(Errno.ESPIPE)

    def seek(self, offset: int, whence: int) -> int:
        raise SyscallError(Errno.ESPIPE)

    def stat(self) -> StatResult:
        raise SyscallError(Errno.EBADF)

    def poll(self) -> int:
        """Current readiness as EPOLL* bits."""
        return 0

    def release(self) -> None:
        """The last fd referring to this description was closed."""

    def truncate(self, length: int) -> None:
        raise SyscallError(Errno.EINVAL)

    def sync(self) -> None:
        return None

    def isatty(self) -> bool:
        return False


def _host_ready(fd: int, events: int) -> int:
    want_r = [fd] if events & EPOLLIN else []
    want_w = [fd] if events & EPOLLOUT else []
    try:
        r, w, x = select.select(want_r, want_w, [fd], 0)
    except (OSError, ValueError):
        return EPOLLERR
    ready = 0
    if r:
        ready |= EPOLLIN | EPOLLRDNORM
    if w:
        ready |= EPOLLOUT | EPOLLWRNORM
    if x:
        ready |= EPOLLPRI
    return ready


class HostFile(File):
    """A file, directory, device or inherited pipe/tty opened on the host."""

    kind = "host"
    tracks_edges = False

    def __init__(self, fd: int, flags: int, path: str, *, close_host: bool = True) -> None:
        super().__init__(flags, path)
        self.fd = fd
        self.close_host = close_host
        st = os.fstat(fd)
        self.mode = st.st_mode
        self.dir_entries: list[tuple[int, int, str]] | None = None
        self.dir_pos = 0
        self._pollable: bool | None = None

    @property
    def is_stream(self) -> bool:
        """Pipes, sockets, ttys and character devices: reads may block."""
        return not (stat_mod.S_ISREG(self.mode) or stat_mod.S_ISDIR(self.mode)
                    or stat_mod.S_ISBLK(self.mode))

    def host_poll_fd(self) -> int | None:
        return self.fd if self.is_stream else None

    @property
    def pollable(self) -> bool:
        """Whether epoll accepts this file: the host kernel knows (its driver has a poll
        operation, e.g. pipes and ttys but not /dev/null or regular files)."""
        if self._pollable is None:
            try:
                with select.epoll() as probe:
                    probe.register(self.fd, select.EPOLLIN)
                self._pollable = True
            except OSError:
                self._pollable = False
        return self._pollable

    def read(self, size: int) -> bytes:
        if not self.readable:
            raise SyscallError(Errno.EBADF)
        if stat_mod.S_ISDIR(self.mode):
            raise SyscallError(Errno.EISDIR)
        if self.is_stream and not _host_ready(self.fd, EPOLLIN):
            raise WouldBlock
        try:
            return os.read(self.fd, size)
        except BlockingIOError:
            raise WouldBlock from None
        except OSError as exc:
            raise from_os_error(exc) from None

    @property
    def direct_write_fd(self) -> int | None:
        """Not for a file opened read-only, O_APPEND on a seekable file (the model seeks
        to the end first), or a subclass."""
        if type(self) is not HostFile or not self.writable:
            return None
        if self.flags & O_APPEND and not self.is_stream:
            return None
        return self.fd

    def write(self, data: bytes) -> int:
        if not self.writable:
            raise SyscallError(Errno.EBADF)
        try:
            if self.flags & O_APPEND and not self.is_stream:
                os.lseek(self.fd, 0, os.SEEK_END)
            return os.write(self.fd, data)
        except BlockingIOError:
            raise WouldBlock from None
        except OSError as exc:
            raise from_os_error(exc) from None

    def pread(self, size: int, offset: int) -> bytes:
        if not self.readable:
            raise SyscallError(Errno.EBADF)
        if self.is_stream:
            raise SyscallError(Errno.ESPIPE)
        try:
            return os.pread(self.fd, size, offset)
        except OSError as exc:
            raise from_os_error(exc) from None

    def pwrite(self, data: bytes, offset: int) -> int:
        if not self.writable:
            raise SyscallError(Errno.EBADF)
        if self.is_stream:
            raise SyscallError(Errno.ESPIPE)
        try:
            return os.pwrite(self.fd, data, offset)
        except OSError as exc:
            raise from_os_error(exc) from None

    def seek(self, offset: int, whence: int) -> int:
        if stat_mod.S_ISDIR(self.mode):
            return seek_directory(self, offset, whence)
        try:
            return os.lseek(self.fd, offset, whence)
        except OSError as exc:
            raise from_os_error(exc) from None

    def stat(self) -> StatResult:
        try:
            return StatResult.from_host(os.fstat(self.fd))
        except OSError as exc:
            raise from_os_error(exc) from None

    def poll(self) -> int:
        if not self.is_stream:
            ready = 0
            if self.readable:
                ready |= EPOLLIN | EPOLLRDNORM
            if self.writable:
                ready |= EPOLLOUT | EPOLLWRNORM
            return ready
        return _host_ready(self.fd, (EPOLLIN if self.readable else 0)
                           | (EPOLLOUT if self.writable else 0))

    def truncate(self, length: int) -> None:
        try:
            os.ftruncate(self.fd, length)
        except OSError as exc:
            raise from_os_error(exc) from None

    def sync(self) -> None:
        try:
            os.fsync(self.fd)
        except OSError as exc:
            raise from_os_error(exc) from None

    def isatty(self) -> bool:
        return os.isatty(self.fd)

    def release(self) -> None:
        if self.close_host:
            with contextlib.suppress(OSError):
                os.close(self.fd)

    def directory_entries(self) -> list[tuple[int, int, str]]:
        """(inode, d_type, name) for getdents64, including ``.`` and ``..``."""
        if self.dir_entries is None:
            entries: list[tuple[int, int, str]] = []
            try:
                here = os.fstat(self.fd)
                entries.append((here.st_ino, DT_DIR, "."))
                parent = os.stat("..", dir_fd=self.fd)
                entries.append((parent.st_ino, DT_DIR, ".."))
                with os.scandir(self.fd) as it:
                    for entry in it:
                        entries.append((entry.inode(), _dtype(entry), entry.name))
            except OSError as exc:
                raise from_os_error(exc) from None
            self.dir_entries = entries
        return self.dir_entries


DT_UNKNOWN = 0
DT_FIFO = 1
DT_CHR = 2
DT_DIR = 4
DT_BLK = 6
DT_REG = 8
DT_LNK = 10
DT_SOCK = 12


def _dtype(entry: os.DirEntry[str]) -> int:
    try:
        mode = entry.stat(follow_symlinks=False).st_mode
    except OSError:
        return DT_UNKNOWN
    return dtype_of_mode(mode)


def dtype_of_mode(mode: int) -> int:
    for test, value in ((stat_mod.S_ISREG, DT_REG), (stat_mod.S_ISDIR, DT_DIR),
                        (stat_mod.S_ISLNK, DT_LNK), (stat_mod.S_ISCHR, DT_CHR),
                        (stat_mod.S_ISBLK, DT_BLK), (stat_mod.S_ISFIFO, DT_FIFO),
                        (stat_mod.S_ISSOCK, DT_SOCK)):
        if test(mode):
            return value
    return DT_UNKNOWN


class MemoryFile(File):
    """A file whose contents the emulator renders (/proc/self/maps, /proc/self/cmdline...)."""

    kind = "proc"

    def __init__(self, content: bytes, path: str, *, mode: int = 0o100444,
                 ino: int = 0) -> None:
        super().__init__(O_RDONLY, path)
        self.content = content
        self.pos = 0
        self.mode = mode
        self.ino = ino

    def read(self, size: int) -> bytes:
        data = self.content[self.pos:self.pos + size]
        self.pos += len(data)
        return data

    def pread(self, size: int, offset: int) -> bytes:
        return self.content[offset:offset + size]

    def seek(self, offset: int, whence: int) -> int:
        base = {0: 0, 1: self.pos, 2: len(self.content)}.get(whence)
        if base is None or base + offset < 0:
            raise SyscallError(Errno.EINVAL)
        self.pos = base + offset
        return self.pos

    def stat(self) -> StatResult:
        # procfs reports size 0 for generated files, as Linux does.
        return StatResult(0x16, self.ino, self.mode, 1, os.getuid(), os.getgid(), 0, 0, 1024,
                          0, 0, 0, 0)

    def poll(self) -> int:
        return EPOLLIN | EPOLLRDNORM

    @property
    def pollable(self) -> bool:
        """Linux's /proc/<pid> files (maps, status, stat, cmdline, environ...) have no
        poll operation: epoll_ctl refuses them with EPERM (Go then reads them blocking)."""
        return False


class DirectoryListing(File):
    """A directory whose entries the emulator lists (/proc/self/fd, /proc/self/task)."""

    kind = "proc"

    def __init__(self, lister: Callable[[], list[tuple[int, int, str]]], path: str, uid: int,
                 gid: int) -> None:
        super().__init__(O_RDONLY, path)
        self.lister = lister
        self.dir_entries: list[tuple[int, int, str]] | None = None
        self.dir_pos = 0
        self.mode = stat_mod.S_IFDIR | 0o555
        self.uid, self.gid = uid, gid

    def directory_entries(self) -> list[tuple[int, int, str]]:
        """(inode, d_type, name), ``.`` and ``..`` first; listed again after a rewind."""
        if self.dir_entries is None:
            self.dir_entries = [(1, DT_DIR, "."), (1, DT_DIR, ".."), *self.lister()]
        return self.dir_entries

    def read(self, size: int) -> bytes:
        raise SyscallError(Errno.EISDIR)

    def pread(self, size: int, offset: int) -> bytes:
        raise SyscallError(Errno.EISDIR)

    def seek(self, offset: int, whence: int) -> int:
        return seek_directory(self, offset, whence)

    def stat(self) -> StatResult:
        return StatResult(0x16, 0, self.mode, 2, self.uid, self.gid, 0, 0, 1024, 0, 0, 0, 0)

    def poll(self) -> int:
        return EPOLLIN | EPOLLRDNORM

    @property
    def pollable(self) -> bool:
        return False


@dataclass(slots=True)
class Pipe:
    buffer: bytearray = field(default_factory=bytearray)
    readers: int = 0
    writers: int = 0
    ino: int = 0
    ends: list[PipeEnd] = field(default_factory=list)
    host: tuple[int, int] | None = None
    """(read fd, write fd) of the host pipe this one became when an end of it went to a
    program exec'd on the host (see to_host); -1 for a side no model end holds."""

    def to_host(self, readable: bool) -> int:
        """Become a host pipe, so a host process can hold an end and the host kernel keeps
        the semantics (EOF, EPIPE, capacity) for every side; return a new host fd of the
        read (``readable``) or write end for that process (see PipeEnd.host_description).

        elftrace's own fds of the pipe are non-blocking, so the model never blocks the
        emulator on them (another process may take the data between a readiness check and
        a read). What a host process gets is a description of its own (reopened through
        /proc/self/fd, as for a FIFO), blocking: a child's stdin must not turn
        non-blocking because elftrace's is."""
        self.ensure_host()
        assert self.host is not None
        own = self.host[0 if readable else 1]
        try:
            fd = os.open(f"/proc/self/fd/{own}", (os.O_RDONLY if readable else os.O_WRONLY)
                         | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            # No /proc, or no reader left to open a write end against (ENXIO): share ours.
            return os.dup(own)
        os.set_blocking(fd, True)
        return fd

    def ensure_host(self) -> None:
        """Move the pipe to the host kernel (see to_host): also before a fork, after which
        two processes hold it."""
        if self.host is None:
            r, w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
            if self.buffer:  # written before the exec: at most PIPE_CAPACITY, fits
                os.write(w, bytes(self.buffer))
                self.buffer.clear()
            self.host = (r, w)
            for end in self.ends:
                end.tracks_edges = False
                end.changed()  # waiters look again, now at the host fds
            self.close_unheld()

    def close_unheld(self) -> None:
        """Close elftrace's host fd of a side that no model end holds any more."""
        if self.host is None:
            return
        r, w = self.host
        if not self.readers and r != -1:
            os.close(r)
            r = -1
        if not self.writers and w != -1:
            os.close(w)
            w = -1
        self.host = (r, w)

    def notify_readers(self) -> None:
        for end in self.ends:
            if end.readable:
                end.changed(writable=False)

    def notify_writers(self) -> None:
        for end in self.ends:
            if end.writable:
                end.changed(readable=False)

    @property
    def full(self) -> bool:
        """No room for an atomic PIPE_BUF write (all of the kernel's slots in use)."""
        return len(self.buffer) > PIPE_CAPACITY - 4096


class PipeEnd(File):
    """One end of a pipe created by the guest (pipe2); lives in the emulator until a host
    process takes an end (Pipe.to_host)."""

    kind = "pipe"

    def __init__(self, pipe: Pipe, flags: int) -> None:
        self.shared: int | None = None
        """The host description this end is for host processes (see host_description)."""
        super().__init__(flags, f"pipe:[{pipe.ino}]")
        self.pipe = pipe
        pipe.ends.append(self)
        if self.readable:
            pipe.readers += 1
        else:
            pipe.writers += 1

    def read(self, size: int) -> bytes:
        if not self.readable:
            raise SyscallError(Errno.EBADF)
        p = self.pipe
        if p.host is not None:
            try:
                return os.read(p.host[0], size)
            except BlockingIOError:
                raise WouldBlock from None
            except OSError as exc:
                raise from_os_error(exc) from None
        if not p.buffer:
            if p.writers == 0:
                return b""
            raise WouldBlock
        was_full = p.full
        data = bytes(p.buffer[:size])
        del p.buffer[:size]
        # Like pipe_read(): only writers are woken, and only if the pipe was full.
        if was_full:
            p.notify_writers()
        return data

    def write(self, data: bytes) -> int:
        if not self.writable:
            raise SyscallError(Errno.EBADF)
        p = self.pipe
        if p.host is not None:
            try:
                return os.write(p.host[1], data)
            except BlockingIOError:
                raise WouldBlock from None
            except OSError as exc:
                raise from_os_error(exc) from None
        if p.readers == 0:
            raise SyscallError(Errno.EPIPE)
        room = PIPE_CAPACITY - len(p.buffer)
        if room <= 0 or (len(data) <= 4096 and room < len(data)):
            # Writes of up to PIPE_BUF bytes are atomic: all or nothing.
            raise WouldBlock
        chunk = data[:room]
        p.buffer += chunk
        p.notify_readers()
        return len(chunk)

    def poll(self) -> int:
        p = self.pipe
        if p.host is not None:
            if self.readable:
                return _host_ready(p.host[0], EPOLLIN)
            return _host_ready(p.host[1], EPOLLOUT)
        ready = 0
        if self.readable:
            if p.buffer:
                ready |= EPOLLIN | EPOLLRDNORM
            if p.writers == 0:
                ready |= EPOLLHUP
        else:
            if len(p.buffer) < PIPE_CAPACITY:
                ready |= EPOLLOUT | EPOLLWRNORM
            if p.readers == 0:
                ready |= EPOLLERR
        return ready

    def stat(self) -> StatResult:
        return StatResult(0xC, self.pipe.ino, stat_mod.S_IFIFO | 0o600, 1, os.getuid(),
                          os.getgid(), 0, 0, 4096, 0, 0, 0, 0)

    def host_poll_fd(self) -> int | None:
        host = self.pipe.host
        if host is None:
            return None
        return host[0] if self.readable else host[1]

    @property  # type: ignore[override]
    def flags(self) -> int:
        return self._flags

    @flags.setter
    def flags(self, value: int) -> None:
        self._flags = value
        if self.shared is not None:
            # One description, as on Linux: the guest's O_NONBLOCK is its children's too.
            os.set_blocking(self.shared, not value & O_NONBLOCK)

    def host_description(self) -> int:
        """A host fd for a host process to hold this end by: one description per guest
        description, kept while the guest's is open (it holds the pipe open as the guest's
        does), with the guest's O_NONBLOCK."""
        if self.shared is None:
            fd = self.pipe.to_host(self.readable)
            os.set_blocking(fd, not self._flags & O_NONBLOCK)
            self.shared = fd
        return self.shared

    def release(self) -> None:
        p = self.pipe
        if self.shared is not None:
            os.close(self.shared)
            self.shared = None
        if self.readable:
            p.readers -= 1
            p.notify_writers()  # EPOLLERR for writers
        else:
            p.writers -= 1
            p.notify_readers()  # EPOLLHUP for readers
        p.close_unheld()


class EventFd(File):
    """eventfd2(2): a 64-bit counter."""

    kind = "eventfd"

    def __init__(self, initial: int, flags: int, semaphore: bool, ino: int) -> None:
        super().__init__(O_RDWR | (flags & O_NONBLOCK), "anon_inode:[eventfd]")
        self.counter = initial
        self.semaphore = semaphore
        self.ino = ino

    def read(self, size: int) -> bytes:
        if size < 8:
            raise SyscallError(Errno.EINVAL)
        if self.counter == 0:
            raise WouldBlock
        value = 1 if self.semaphore else self.counter
        self.counter -= value
        self.changed(readable=False)
        return value.to_bytes(8, "little")

    def write(self, data: bytes) -> int:
        if len(data) < 8:
            raise SyscallError(Errno.EINVAL)
        value = int.from_bytes(data[:8], "little")
        if value == 0xFFFFFFFFFFFFFFFF:
            raise SyscallError(Errno.EINVAL)
        if self.counter + value > 0xFFFFFFFFFFFFFFFE:
            raise WouldBlock
        self.counter += value
        self.changed(writable=False)
        return 8

    def poll(self) -> int:
        ready = EPOLLOUT | EPOLLWRNORM if self.counter < 0xFFFFFFFFFFFFFFFE else 0
        if self.counter:
            ready |= EPOLLIN | EPOLLRDNORM
        return ready

    def stat(self) -> StatResult:
        return StatResult(0xE, self.ino, 0o600, 1, os.getuid(), os.getgid(), 0, 0, 4096, 0,
                          0, 0, 0)


@dataclass(slots=True)
class Interest:
    file: File
    events: int
    data: int
    last_in: int = -1
    last_out: int = -1
    disabled: bool = False


class Epoll(File):
    """An epoll instance. Edge-triggered interests report a file once per readiness change."""

    kind = "epoll"

    def __init__(self, flags: int, ino: int) -> None:
        super().__init__(O_RDWR, "anon_inode:[eventpoll]")
        self.interests: dict[int, Interest] = {}
        self.ino = ino
        self._listener: Callable[[], None] = self._watched_changed
        self._syncing = False

    def add(self, fd: int, file: File, events: int, data: int) -> None:
        if fd in self.interests:
            raise SyscallError(Errno.EEXIST)
        if file is self:
            raise SyscallError(Errno.EINVAL)
        self.interests[fd] = Interest(file, events, data)
        file.readq.listeners.append(self._listener)
        file.writeq.listeners.append(self._listener)
        self._wake_if_ready(file, events)

    def _wake_if_ready(self, file: File, events: int) -> None:
        # Linux polls a file as it is added or modified and wakes the instance's waiters if
        # it is ready already: its readiness edge may have come and gone before this call.
        file.sync_host()
        if file.poll() & (events | EPOLLERR | EPOLLHUP):
            self.changed(writable=False)

    def modify(self, fd: int, events: int, data: int) -> None:
        interest = self.interests.get(fd)
        if interest is None:
            raise SyscallError(Errno.ENOENT)
        interest.events, interest.data = events, data
        interest.last_in = interest.last_out = -1
        interest.disabled = False
        self._wake_if_ready(interest.file, events)

    def delete(self, fd: int) -> None:
        interest = self.interests.pop(fd, None)
        if interest is None:
            raise SyscallError(Errno.ENOENT)
        self._unlisten(interest.file)

    def _unlisten(self, file: File) -> None:
        for q in (file.readq, file.writeq):
            if self._listener in q.listeners:
                q.listeners.remove(self._listener)

    def forget_file(self, fd: int, file: File) -> None:
        """The guest closed ``fd``: Linux drops the interest when the description dies."""
        interest = self.interests.get(fd)
        if interest is not None and interest.file is file and file.refs == 0:
            del self.interests[fd]
            self._unlisten(file)

    def collect(self, max_events: int) -> list[tuple[int, int]]:
        """Ready (events, data) pairs, consuming edge-triggered and one-shot readiness."""
        self.sync_host()
        out: list[tuple[int, int]] = []
        for interest in self.interests.values():
            if len(out) >= max_events:
                break
            if interest.disabled:
                continue
            ready = interest.file.poll() & (interest.events | EPOLLERR | EPOLLHUP)
            if not ready:
                continue
            if interest.events & EPOLLET and interest.file.tracks_edges:
                f = interest.file
                new_in = ready & INPUT_EVENTS and f.seq_in != interest.last_in
                new_out = ready & OUTPUT_EVENTS and f.seq_out != interest.last_out
                if not (new_in or new_out):
                    continue
                interest.last_in, interest.last_out = f.seq_in, f.seq_out
                ready &= (INPUT_EVENTS if new_in else 0) | (OUTPUT_EVENTS if new_out else 0)
            if interest.events & EPOLLONESHOT:
                interest.disabled = True
            out.append((ready, interest.data))
        return out

    def _watched_changed(self) -> None:
        self.changed(writable=False)

    def sync_host(self) -> None:
        if self._syncing:
            return  # epoll instances watching each other
        self._syncing = True
        try:
            for interest in list(self.interests.values()):
                interest.file.sync_host()
        finally:
            self._syncing = False

    def host_waits(self) -> tuple[tuple[int, int], ...]:
        """(host fd, POLLIN/POLLOUT) pairs to select on while a thread waits here: only the
        directions each interest asks for, or a writable host pipe would wake it forever."""
        waits: set[tuple[int, int]] = set()
        for interest in self.interests.values():
            if interest.disabled:
                continue
            wanted = ((select.POLLIN if interest.events & INPUT_EVENTS else 0)
                      | (select.POLLOUT if interest.events & OUTPUT_EVENTS else 0))
            wait = interest.file.host_wait(wanted) if wanted else None
            if wait is not None:
                waits.add(wait)
        return tuple(sorted(waits))

    def poll(self) -> int:
        for interest in self.interests.values():
            if interest.file.poll() & interest.events:
                return EPOLLIN | EPOLLRDNORM
        return 0

    def stat(self) -> StatResult:
        return StatResult(0xE, self.ino, 0o600, 1, os.getuid(), os.getgid(), 0, 0, 4096, 0,
                          0, 0, 0)

    def release(self) -> None:
        for interest in self.interests.values():
            self._unlisten(interest.file)
        self.interests.clear()


@dataclass(slots=True)
class FdEntry:
    file: File
    cloexec: bool = False


class FdTable:
    """Guest fd numbers to open file descriptions; allocation takes the lowest free number."""

    def __init__(self, limit: int = 1024) -> None:
        self.entries: dict[int, FdEntry] = {}
        self.limit = limit
        self.epolls: list[Epoll] = []

    def get(self, fd: int) -> File:
        entry = self.entries.get(fd)
        if entry is None:
            raise SyscallError(Errno.EBADF)
        return entry.file

    def entry(self, fd: int) -> FdEntry:
        entry = self.entries.get(fd)
        if entry is None:
            raise SyscallError(Errno.EBADF)
        return entry

    def lowest_free(self, minimum: int = 0) -> int:
        fd = minimum
        while fd in self.entries:
            fd += 1
        if fd >= self.limit:
            raise SyscallError(Errno.EMFILE)
        return fd

    def install(self, file: File, *, cloexec: bool = False, minimum: int = 0) -> int:
        fd = self.lowest_free(minimum)
        self.install_at(fd, file, cloexec=cloexec)
        return fd

    def install_at(self, fd: int, file: File, *, cloexec: bool = False) -> None:
        if fd in self.entries:
            self.close(fd)
        file.refs += 1
        self.entries[fd] = FdEntry(file, cloexec)
        if isinstance(file, Epoll):
            self.epolls.append(file)

    def close(self, fd: int) -> None:
        entry = self.entries.pop(fd, None)
        if entry is None:
            raise SyscallError(Errno.EBADF)
        file = entry.file
        file.refs -= 1
        for ep in self.epolls:
            ep.forget_file(fd, file)
        if file.refs == 0:
            if isinstance(file, Epoll) and file in self.epolls:
                self.epolls.remove(file)
            file.release()

    def close_all(self) -> None:
        for fd in list(self.entries):
            self.close(fd)

    def fork(self) -> FdTable:
        """A copy for a child process (clone without CLONE_FILES): the same open file
        descriptions, under the same numbers and close-on-exec flags."""
        copy = FdTable(self.limit)
        for fd, entry in self.entries.items():
            copy.install_at(fd, entry.file, cloexec=entry.cloexec)
        return copy

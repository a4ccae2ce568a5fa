"""Where guest paths land on the host: the host's own root, or a directory confining them.

:class:`HostRoot` is the default: a guest path is the host path. :class:`ConfinedRoot`
(``--rootfs DIR``) makes DIR the guest's ``/``, as chroot(2) does, but without
privileges and without trusting strings: a guest path is resolved by the kernel with
``openat2(RESOLVE_IN_ROOT)`` against a descriptor of DIR, so ``..`` stops at DIR,
absolute symlinks start from DIR and every other symlink is followed inside it (on
kernels before 5.6 the same walk is done here, one component at a time with
``O_PATH|O_NOFOLLOW`` descriptors). The handlers then reach the result through
``/proc/self/fd/N``: the kernel follows that magic link to the very file or directory
found, so nothing a concurrent rename does to the path between resolving and using it
can lead outside DIR.

Both policies can be read-only (``--read-only``): every call that would change the file
system fails with EROFS, as on a read-only mount.
"""

from __future__ import annotations

import collections
import ctypes
import errno
import os
import posixpath
import stat
from enum import Enum

from syscalls.errno import Errno, SyscallError, from_os_error

# Character devices without host state the guest may use inside a confined root, the way
# a container runtime bind-mounts them: opened from the host's /dev.
PASSTHROUGH_DEVICES = frozenset({"/dev/null", "/dev/zero", "/dev/full", "/dev/random",
                                 "/dev/urandom"})

SYS_OPENAT2_X86_64 = 437
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_IN_ROOT = 0x10
MAXSYMLINKS = 40  # Linux's limit on symlinks followed in one lookup (ELOOP past it)
# Lookup descriptors kept alive so that the /proc/self/fd paths handed out stay valid
# while the handler that asked for them runs (handlers use at most two at a time, and
# run one after another).
KEPT_DESCRIPTORS = 16


class Lookup(Enum):
    """How the last component of a path is treated (the kernel's LOOKUP_FOLLOW and
    O_CREAT semantics)."""

    FOLLOW = "follow"
    """Follow a final symlink: stat, open, access, chdir, execve, truncate."""
    NOFOLLOW = "nofollow"
    """Name the final component itself: lstat, readlink, unlink, rename, mkdir, symlink."""
    CREATE = "create"
    """open(O_CREAT): follow a final symlink if it resolves, else create where it points."""


class HostRoot:
    """The guest's ``/`` is the host's ``/``."""

    def __init__(self, *, read_only: bool = False) -> None:
        self.read_only = read_only

    @property
    def description(self) -> str:
        return "/"

    def host(self, guest_abs: str, lookup: Lookup = Lookup.FOLLOW) -> str:
        """A host path that names what ``guest_abs`` (guest-absolute, normalized) names."""
        return guest_abs

    def check_write(self, guest_abs: str | None = None) -> None:
        """Refuse a change to the file system with EROFS when the root is read-only."""
        if self.read_only and guest_abs not in PASSTHROUGH_DEVICES:
            raise SyscallError(Errno.EROFS)

    def open(self, guest_abs: str, host_flags: int, mode: int) -> int:
        """open(2) of a guest path with host flags; OSError as the host reports it."""
        return os.open(guest_abs, host_flags, mode)


class ConfinedRoot(HostRoot):
    """A host directory as the guest's ``/`` (``--rootfs``)."""

    def __init__(self, directory: str, *, read_only: bool = False,
                 use_openat2: bool | None = None) -> None:
        super().__init__(read_only=read_only)
        self.directory = os.path.realpath(directory)
        self.root_fd = os.open(self.directory, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        self.use_openat2 = openat2_works(self.root_fd) if use_openat2 is None else use_openat2
        self._kept: collections.deque[int] = collections.deque()

    @property
    def description(self) -> str:
        return self.directory

    def close(self) -> None:
        while self._kept:
            os.close(self._kept.popleft())
        os.close(self.root_fd)

    def host(self, guest_abs: str, lookup: Lookup = Lookup.FOLLOW) -> str:
        if guest_abs in PASSTHROUGH_DEVICES:
            return guest_abs
        try:
            return self._host(guest_abs, lookup, 0)
        except OSError as exc:
            raise from_os_error(exc) from None

    def open(self, guest_abs: str, host_flags: int, mode: int) -> int:
        if guest_abs in PASSTHROUGH_DEVICES:
            return os.open(guest_abs, host_flags, mode)
        if host_flags & os.O_CREAT and not host_flags & (os.O_EXCL | os.O_NOFOLLOW):
            try:
                existing = self.host(guest_abs, Lookup.FOLLOW)
            except SyscallError as err:
                if err.errno != Errno.ENOENT:
                    raise
            else:
                return os.open(existing, host_flags & ~os.O_CREAT, mode)
        if host_flags & (os.O_CREAT | os.O_NOFOLLOW):
            # The parent is pinned by its descriptor; O_NOFOLLOW makes a symlink that a
            # racing thread puts at the name fail (ELOOP) instead of being followed.
            lookup = Lookup.CREATE if not host_flags & (os.O_EXCL | os.O_NOFOLLOW) \
                else Lookup.NOFOLLOW
            return os.open(self.host(guest_abs, lookup), host_flags | os.O_NOFOLLOW, mode)
        return os.open(self.host(guest_abs, Lookup.FOLLOW), host_flags, mode)

    def _host(self, guest_abs: str, lookup: Lookup, depth: int) -> str:
        if lookup is Lookup.FOLLOW:
            return self._keep(self.lookup(guest_abs, follow=True))
        parent, name = posixpath.split(guest_abs)
        if not name:  # the root itself
            return self._keep(self.lookup("/", follow=True))
        parent_fd = self._keep_fd(self.lookup(parent, follow=True))
        if lookup is Lookup.CREATE:
            try:
                st = os.lstat(name, dir_fd=parent_fd)
            except FileNotFoundError:
                st = None
            if st is not None and stat.S_ISLNK(st.st_mode):
                # O_CREAT through a symlink creates its target: find that inside the root.
                if depth >= MAXSYMLINKS:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP))
                target = os.readlink(name, dir_fd=parent_fd)
                return self._host(_join(parent, target), Lookup.CREATE, depth + 1)
        return f"/proc/self/fd/{parent_fd}/{name}"

    def lookup(self, guest_abs: str, *, follow: bool) -> int:
        """An O_PATH descriptor of what ``guest_abs`` names inside the root (the caller
        closes it); OSError as the kernel reports it (ENOENT, ENOTDIR, ELOOP...)."""
        relative = guest_abs.lstrip("/") or "."
        flags = os.O_PATH | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
        if self.use_openat2:
            while True:
                try:
                    return openat2(self.root_fd, relative, flags,
                                   RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
                except BlockingIOError:  # EAGAIN: a rename raced the lookup; retry
                    continue
        return self._walk(relative, follow)

    def _walk(self, relative: str, follow: bool) -> int:
        """RESOLVE_IN_ROOT by hand: one component at a time, never opening ``..`` (the
        parent is the descriptor we came from, and the root's parent is the root)."""
        stack = [os.dup(self.root_fd)]
        pending = [c for c in relative.split("/") if c and c != "."]
        pending.reverse()
        links = 0
        try:
            while pending:
                name = pending.pop()
                if name == "..":
                    if len(stack) > 1:
                        os.close(stack.pop())
                    continue
                fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=stack[-1])
                mode = os.fstat(fd).st_mode
                if stat.S_ISLNK(mode) and (pending or follow):
                    os.close(fd)
                    links += 1
                    if links > MAXSYMLINKS:
                        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP))
                    target = os.readlink(name, dir_fd=stack[-1])
                    if target.startswith("/"):
                        while len(stack) > 1:
                            os.close(stack.pop())
                    pending.extend(reversed([c for c in target.split("/") if c and c != "."]))
                    continue
                if pending and not stat.S_ISDIR(mode):
                    os.close(fd)
                    raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
                stack.append(fd)
            result = stack.pop()
        finally:
            for fd in stack:
                os.close(fd)
        return result

    def _keep_fd(self, fd: int) -> int:
        self._kept.append(fd)
        while len(self._kept) > KEPT_DESCRIPTORS:
            os.close(self._kept.popleft())
        return fd

    def _keep(self, fd: int) -> str:
        return f"/proc/self/fd/{self._keep_fd(fd)}"

    def guest_path_of_host(self, host_path: str) -> str | None:
        """The guest path of a host path inside the root (None if it is outside)."""
        real = os.path.realpath(host_path)
        if real == self.directory:
            return "/"
        if real.startswith(self.directory.rstrip("/") + "/"):
            return "/" + real[len(self.directory.rstrip("/")) + 1:]
        return None


def _join(directory: str, target: str) -> str:
    joined = target if target.startswith("/") else posixpath.join(directory, target)
    cleaned = posixpath.normpath(joined)
    return "/" + cleaned.lstrip("/")


class _OpenHow(ctypes.Structure):
    _fields_ = (("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64))


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def openat2(dirfd: int, path: str, flags: int, resolve: int) -> int:
    """openat2(2) through libc's syscall(); OSError on failure."""
    how = _OpenHow(flags, 0, resolve)
    fd = _libc.syscall(ctypes.c_long(SYS_OPENAT2_X86_64), ctypes.c_int(dirfd),
                       ctypes.c_char_p(os.fsencode(path)), ctypes.byref(how),
                       ctypes.c_size_t(ctypes.sizeof(how)))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), path)
    return int(fd)


def openat2_works(root_fd: int) -> bool:
    """Whether this host kernel has openat2 with RESOLVE_IN_ROOT (Linux 5.6+, x86-64)."""
    if os.uname().machine != "x86_64":
        return False
    try:
        os.close(openat2(root_fd, ".", os.O_PATH | os.O_CLOEXEC, RESOLVE_IN_ROOT))
    except OSError:
        return False
    return True

"""Extended attributes: getxattr, lgetxattr, fgetxattr, listxattr, llistxattr,
flistxattr, setxattr, lsetxattr, fsetxattr, removexattr, lremovexattr, fremovexattr.

A guest path or descriptor backed by a host file asks the host (``os.getxattr`` and
friends on the resolved host path, or on the host descriptor), so the answers, errors
included (ENODATA for a missing attribute, EOPNOTSUPP where the file system has none),
are the host kernel's: coreutils' ``ls -l`` asks for ``security.selinux`` and the POSIX
ACLs of every file it lists. Files that live only in elftrace (its /proc renderings,
pipes, eventfds, epoll instances) have no attributes: reads find none (ENODATA, an
empty list) and writes are refused (EOPNOTSUPP), as for a file system without xattrs.

Sizes follow Linux: a size of 0 asks for the size needed, a buffer too small is ERANGE,
names longer than 255 bytes are ERANGE and values above 64 KiB E2BIG.
"""

from __future__ import annotations

import os

from syscalls import abi as A
from syscalls.context import SyscallContext
from syscalls.errno import Errno, SyscallError, from_os_error
from syscalls.fs import guest_path, resolver
from syscalls.kernel.rootfs import Lookup
from syscalls.spec import DESC, FILE, Fd, Flags, InBuf, OutBuf, Path, Size, spec

XATTR_CREATE, XATTR_REPLACE = 1, 2
XATTR_NAME_MAX = 255
XATTR_SIZE_MAX = 65536
XATTR_LIST_MAX = 65536

Target = str | int
"""A host path, or a host descriptor."""


def _name(ctx: SyscallContext, name_ptr: int) -> str:
    try:
        raw = ctx.mem.read_cstring(name_ptr, XATTR_NAME_MAX + 1)
    except SyscallError as err:
        if err.errno == Errno.ENAMETOOLONG:
            raise SyscallError(Errno.ERANGE) from None
        raise
    if not raw or len(raw) > XATTR_NAME_MAX:
        raise SyscallError(Errno.ERANGE)
    return os.fsdecode(raw)


def _path_target(ctx: SyscallContext, path_ptr: int, follow: bool, *,
                 write: bool = False) -> Target | None:
    """The host path for a guest path; None for a file that exists only in elftrace."""
    path = guest_path(ctx, A.AT_FDCWD, path_ptr)
    r = resolver(ctx)
    if r.proc_target(path, ctx.task) is not None:
        return None
    if write and r.root.read_only:
        r.root.check_write(path)
    return r.host(path, Lookup.FOLLOW if follow else Lookup.NOFOLLOW)


def _fd_target(ctx: SyscallContext, fd: int) -> Target | None:
    file = ctx.fds.get(fd)
    host = getattr(file, "fd", None)
    if isinstance(host, int) and file.kind in ("host", "socket"):
        return host
    return None


def _get(ctx: SyscallContext, target: Target | None, follow: bool, name_ptr: int,
         value: int, size: int) -> int:
    name = _name(ctx, name_ptr)
    if target is None:
        raise SyscallError(Errno.ENODATA)
    try:
        data = os.getxattr(target, name, follow_symlinks=follow)
    except OSError as exc:
        raise from_os_error(exc) from None
    return _copy_out(ctx, value, size, data)


def _copy_out(ctx: SyscallContext, buf: int, size: int, data: bytes) -> int:
    """Linux's rule for both reads: size 0 asks for the size, a short buffer is ERANGE."""
    if size == 0:
        return len(data)
    if len(data) > size:
        raise SyscallError(Errno.ERANGE)
    ctx.mem.write(buf, data)
    return len(data)


def _list(ctx: SyscallContext, target: Target | None, follow: bool, buf: int,
          size: int) -> int:
    if target is None:
        return 0
    try:
        names = os.listxattr(target, follow_symlinks=follow)
    except OSError as exc:
        raise from_os_error(exc) from None
    return _copy_out(ctx, buf, size, b"".join(os.fsencode(n) + b"\0" for n in names))


def _set(ctx: SyscallContext, target: Target | None, follow: bool, name_ptr: int,
         value: int, size: int, flags: int) -> int:
    if flags & ~(XATTR_CREATE | XATTR_REPLACE):
        raise SyscallError(Errno.EINVAL)
    name = _name(ctx, name_ptr)
    if size > XATTR_SIZE_MAX:
        raise SyscallError(Errno.E2BIG)
    data = ctx.mem.read(value, size) if size else b""
    if target is None:
        raise SyscallError(Errno.EOPNOTSUPP)
    try:
        os.setxattr(target, name, data, flags, follow_symlinks=follow)
    except OSError as exc:
        raise from_os_error(exc) from None
    return 0


def _remove(ctx: SyscallContext, target: Target | None, follow: bool, name_ptr: int) -> int:
    name = _name(ctx, name_ptr)
    if target is None:
        raise SyscallError(Errno.EOPNOTSUPP)
    try:
        os.removexattr(target, name, follow_symlinks=follow)
    except OSError as exc:
        raise from_os_error(exc) from None
    return 0


def sys_getxattr(ctx: SyscallContext, path: int, name: int, value: int, size: int) -> int:
    return _get(ctx, _path_target(ctx, path, True), True, name, value, size)


def sys_lgetxattr(ctx: SyscallContext, path: int, name: int, value: int, size: int) -> int:
    return _get(ctx, _path_target(ctx, path, False), False, name, value, size)


def sys_fgetxattr(ctx: SyscallContext, fd: int, name: int, value: int, size: int) -> int:
    return _get(ctx, _fd_target(ctx, fd), True, name, value, size)


def sys_listxattr(ctx: SyscallContext, path: int, buf: int, size: int) -> int:
    return _list(ctx, _path_target(ctx, path, True), True, buf, size)


def sys_llistxattr(ctx: SyscallContext, path: int, buf: int, size: int) -> int:
    return _list(ctx, _path_target(ctx, path, False), False, buf, size)


def sys_flistxattr(ctx: SyscallContext, fd: int, buf: int, size: int) -> int:
    return _list(ctx, _fd_target(ctx, fd), True, buf, size)


def sys_setxattr(ctx: SyscallContext, path: int, name: int, value: int, size: int,
                 flags: int) -> int:
    return _set(ctx, _path_target(ctx, path, True, write=True), True, name, value, size, flags)


def sys_lsetxattr(ctx: SyscallContext, path: int, name: int, value: int, size: int,
                  flags: int) -> int:
    return _set(ctx, _path_target(ctx, path, False, write=True), False, name, value, size, flags)


def sys_fsetxattr(ctx: SyscallContext, fd: int, name: int, value: int, size: int,
                  flags: int) -> int:
    return _set(ctx, _fd_target(ctx, fd), True, name, value, size, flags)


def sys_removexattr(ctx: SyscallContext, path: int, name: int) -> int:
    return _remove(ctx, _path_target(ctx, path, True, write=True), True, name)


def sys_lremovexattr(ctx: SyscallContext, path: int, name: int) -> int:
    return _remove(ctx, _path_target(ctx, path, False, write=True), False, name)


def sys_fremovexattr(ctx: SyscallContext, fd: int, name: int) -> int:
    return _remove(ctx, _fd_target(ctx, fd), True, name)


SPECS = (
    spec("getxattr", sys_getxattr, Path(), Path(), OutBuf(length=3), Size(), classes=(FILE,)),
    spec("lgetxattr", sys_lgetxattr, Path(), Path(), OutBuf(length=3), Size(),
         classes=(FILE,)),
    spec("fgetxattr", sys_fgetxattr, Fd(), Path(), OutBuf(length=3), Size(), classes=(DESC,)),
    spec("listxattr", sys_listxattr, Path(), OutBuf(length=2), Size(), classes=(FILE,)),
    spec("llistxattr", sys_llistxattr, Path(), OutBuf(length=2), Size(), classes=(FILE,)),
    spec("flistxattr", sys_flistxattr, Fd(), OutBuf(length=2), Size(), classes=(DESC,)),
    spec("setxattr", sys_setxattr, Path(), Path(), InBuf(length=3), Size(),
         Flags(table="xattr"), classes=(FILE,)),
    spec("lsetxattr", sys_lsetxattr, Path(), Path(), InBuf(length=3), Size(),
         Flags(table="xattr"), classes=(FILE,)),
    spec("fsetxattr", sys_fsetxattr, Fd(), Path(), InBuf(length=3), Size(),
         Flags(table="xattr"), classes=(DESC,)),
    spec("removexattr", sys_removexattr, Path(), Path(), classes=(FILE,)),
    spec("lremovexattr", sys_lremovexattr, Path(), Path(), classes=(FILE,)),
    spec("fremovexattr", sys_fremovexattr, Fd(), Path(), classes=(DESC,)),
)

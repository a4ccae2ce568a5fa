"""Memory syscalls: mmap/mmap2, munmap, mprotect, madvise, brk, mremap, mincore, msync.

Semantics follow mm/mmap.c and mm/mprotect.c: lengths round up to pages, MAP_FIXED
replaces existing mappings, MAP_FIXED_NOREPLACE fails with EEXIST, a hint is used
when its range is free. File mappings are private copies of the file's bytes;
writes to a MAP_SHARED file mapping do not reach the file (noted as partial).
"""

from __future__ import annotations

import os

from syscalls.context import SyscallContext
from syscalls.errno import Errno, SyscallError, from_os_error
from syscalls.kernel.files import HostFile
from syscalls.kernel.vm import (
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_FIXED_NOREPLACE,
    MAP_PRIVATE,
    MAP_SHARED,
    PAGE,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
    page_up,
)
from syscalls.spec import (
    MEMORY,
    Enum_,
    Fd,
    Flags,
    Hex,
    Off,
    Ptr,
    Ret,
    Size,
    Support,
    UInt,
    spec,
)

MAP_SHARED_VALIDATE = 0x03
PROT_MASK = PROT_READ | PROT_WRITE | PROT_EXEC
PROT_GROWSDOWN = 0x01000000
PROT_GROWSUP = 0x02000000

MADV_NORMAL = 0
MADV_RANDOM = 1
MADV_SEQUENTIAL = 2
MADV_WILLNEED = 3
MADV_DONTNEED = 4
MADV_FREE = 8
MADV_REMOVE = 9
MADV_HWPOISON = 100
MADV_KNOWN = set(range(0, 4)) | {4, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
                                 22, 23, 24, 25}


def do_mmap(ctx: SyscallContext, addr: int, length: int, prot: int, flags: int, fd: int,
            offset: int) -> int:
    vm = ctx.vm
    if length == 0:
        raise SyscallError(Errno.EINVAL)
    size = page_up(length)
    if size < length or size > vm.task_size:
        raise SyscallError(Errno.ENOMEM)
    if offset % PAGE:
        raise SyscallError(Errno.EINVAL)
    if prot & ~(PROT_MASK | PROT_GROWSDOWN | PROT_GROWSUP):
        raise SyscallError(Errno.EINVAL)
    map_type = flags & 0x0F
    if map_type not in (MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE):
        raise SyscallError(Errno.EINVAL)
    data = b""
    name = ""
    inode = 0
    device = (0, 0)
    if not flags & MAP_ANONYMOUS:
        file = ctx.fds.get(fd)
        if not isinstance(file, HostFile):
            raise SyscallError(Errno.ENODEV)
        if not file.readable:
            raise SyscallError(Errno.EACCES)
        if map_type != MAP_PRIVATE and prot & PROT_WRITE and not file.writable:
            raise SyscallError(Errno.EACCES)
        try:
            data = os.pread(file.fd, size, offset)
            st = os.fstat(file.fd)
        except OSError as exc:
            raise from_os_error(exc) from None
        name, inode = file.path, st.st_ino
        device = (os.major(st.st_dev), os.minor(st.st_dev))
    if flags & (MAP_FIXED | MAP_FIXED_NOREPLACE):
        if addr % PAGE:
            raise SyscallError(Errno.EINVAL)
        if addr < vm.mmap_min or addr + size > vm.task_size:
            raise SyscallError(Errno.EPERM if addr < vm.mmap_min else Errno.ENOMEM)
        if flags & MAP_FIXED_NOREPLACE and not flags & MAP_FIXED and vm.overlapping(
                addr, addr + size):
            raise SyscallError(Errno.EEXIST)
        start = addr
    else:
        start = vm.find_free(size, addr)
    vm.map_fixed(start, size, prot & PROT_MASK, shared=map_type != MAP_PRIVATE, name=name,
                 offset=offset, inode=inode, device=device, data=data)
    return start


def sys_mmap(ctx: SyscallContext, addr: int, length: int, prot: int, flags: int, fd: int,
             offset: int) -> int:
    return do_mmap(ctx, addr, length, prot, flags, fd, offset)


def sys_mmap2(ctx: SyscallContext, addr: int, length: int, prot: int, flags: int, fd: int,
              pgoffset: int) -> int:
    """ARM's mmap2: the offset is in 4096-byte units."""
    return do_mmap(ctx, addr, length, prot, flags, fd, (pgoffset & 0xFFFFFFFF) * 4096)


def sys_munmap(ctx: SyscallContext, addr: int, length: int) -> int:
    if addr % PAGE or length == 0 or addr + length > ctx.vm.task_size:
        raise SyscallError(Errno.EINVAL)
    ctx.vm.unmap(addr, length)
    return 0


def sys_mprotect(ctx: SyscallContext, addr: int, length: int, prot: int) -> int:
    if addr % PAGE or prot & ~(PROT_MASK | PROT_GROWSDOWN | PROT_GROWSUP):
        raise SyscallError(Errno.EINVAL)
    if length == 0:
        return 0
    ctx.vm.protect(addr, length, prot & PROT_MASK)
    return 0


def sys_madvise(ctx: SyscallContext, addr: int, length: int, advice: int) -> int:
    if addr % PAGE or (advice not in MADV_KNOWN and advice != MADV_HWPOISON):
        raise SyscallError(Errno.EINVAL)
    if length == 0:
        return 0
    end = addr + page_up(length)
    if not ctx.vm.covered(addr, end):
        raise SyscallError(Errno.ENOMEM)
    if advice == MADV_HWPOISON:
        raise SyscallError(Errno.EPERM)
    if advice in (MADV_DONTNEED, MADV_REMOVE):
        ctx.vm.discard(addr, length)
    # MADV_FREE lets the kernel reclaim lazily; keeping the contents is one valid outcome.
    return 0


def sys_brk(ctx: SyscallContext, addr: int) -> int:
    return ctx.vm.brk(addr)


MREMAP_MAYMOVE = 1
MREMAP_FIXED = 2


def sys_mremap(ctx: SyscallContext, old: int, old_size: int, new_size: int, flags: int,
               new_addr: int) -> int:
    vm = ctx.vm
    if old % PAGE or flags & ~7 or new_size == 0:
        raise SyscallError(Errno.EINVAL)
    old_size, new_size = page_up(old_size), page_up(new_size)
    vma = vm.find(old)
    if vma is None or old + old_size > vma.end:
        raise SyscallError(Errno.EFAULT)
    if flags & MREMAP_FIXED:
        raise SyscallError(Errno.EINVAL, "MREMAP_FIXED is not supported")
    if new_size <= old_size:
        if new_size < old_size:
            vm.unmap(old + new_size, old_size - new_size)
        return old
    if vm.is_free(old + old_size, old + new_size):
        vm.map_fixed(old + old_size, new_size - old_size, vma.prot, name=vma.name)
        return old
    if not flags & MREMAP_MAYMOVE:
        raise SyscallError(Errno.ENOMEM)
    contents = ctx.mem.read(old, old_size)
    dest = vm.find_free(new_size)
    vm.map_fixed(dest, new_size, vma.prot, shared=vma.shared, name=vma.name, data=contents)
    vm.unmap(old, old_size)
    return dest


def sys_mincore(ctx: SyscallContext, addr: int, length: int, vec: int) -> int:
    if addr % PAGE:
        raise SyscallError(Errno.EINVAL)
    end = addr + page_up(length)
    if not ctx.vm.covered(addr, end):
        raise SyscallError(Errno.ENOMEM)
    ctx.mem.write(vec, b"\x01" * ((end - addr) // PAGE))
    return 0


def sys_msync(ctx: SyscallContext, addr: int, length: int, flags: int) -> int:
    if addr % PAGE or flags & ~7:
        raise SyscallError(Errno.EINVAL)
    if not ctx.vm.covered(addr, addr + page_up(length)):
        raise SyscallError(Errno.ENOMEM)
    return 0


def sys_mlock(ctx: SyscallContext, addr: int, length: int) -> int:
    start = addr & ~(PAGE - 1)
    if not ctx.vm.covered(start, page_up(addr + length)):
        raise SyscallError(Errno.ENOMEM)
    return 0


SPECS = (
    spec("mmap", sys_mmap, Ptr(), Size(), Flags(table="prot"), Flags(table="map"), Fd(), Off(),
         ret=Ret.HEX, classes=(MEMORY,), printer="mmap", support=Support.PARTIAL,
         note="file mappings are private copies: MAP_SHARED writes do not reach the file"),
    spec("mmap2", sys_mmap2, Ptr(), Size(), Flags(table="prot"), Flags(table="map"), Fd(),
         Hex(), ret=Ret.HEX, classes=(MEMORY,), printer="mmap", support=Support.PARTIAL,
         note="file mappings are private copies: MAP_SHARED writes do not reach the file"),
    spec("munmap", sys_munmap, Ptr(), Size(), classes=(MEMORY,)),
    spec("mprotect", sys_mprotect, Ptr(), Size(), Flags(table="prot"), classes=(MEMORY,)),
    spec("madvise", sys_madvise, Ptr(), Size(), Enum_(table="madvise"), classes=(MEMORY,)),
    spec("brk", sys_brk, Ptr(), ret=Ret.HEX, classes=(MEMORY,)),
    spec("mremap", sys_mremap, Ptr(), Size(), Size(), Flags(table="mremap"), Ptr(),
         ret=Ret.HEX, classes=(MEMORY,), support=Support.PARTIAL,
         note="MREMAP_FIXED is refused with EINVAL"),
    spec("mincore", sys_mincore, Ptr(), Size(), Ptr(), classes=(MEMORY,)),
    spec("msync", sys_msync, Ptr(), Size(), Hex(), classes=(MEMORY,)),
    spec("mlock", sys_mlock, Ptr(), Size(), classes=(MEMORY,)),
    spec("munlock", sys_mlock, Ptr(), Size(), classes=(MEMORY,)),
    spec("mlockall", lambda ctx, flags: 0, Hex(), classes=(MEMORY,)),
    spec("munlockall", lambda ctx: 0, classes=(MEMORY,)),
)

_ = UInt

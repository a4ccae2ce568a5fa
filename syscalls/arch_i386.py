"""i386-only syscalls: set_thread_area and get_thread_area (arch/x86/kernel/tls.c).

A 32-bit process on Linux reaches its thread-local storage through %gs, a segment
selector whose descriptor lives in the GDT; set_thread_area installs a TLS descriptor
in one of three per-thread GDT slots. An x86-64 kernel running i386 code (the case
elftrace reproduces) numbers those slots 12, 13 and 14 (GDT_ENTRY_TLS_MIN on x86-64).
The descriptor itself is built and installed by the emulator's i386 Arch, through
``ctx.cpu.set_tls_entry``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from syscalls.context import SyscallContext
from syscalls.errno import Errno, SyscallError
from syscalls.spec import Ptr, spec

GDT_ENTRY_TLS_MIN = 12
GDT_ENTRY_TLS_ENTRIES = 3
USER_DESC_SIZE = 16


@dataclass(frozen=True, slots=True)
class UserDesc:
    """struct user_desc (arch/x86/include/uapi/asm/ldt.h)."""

    entry_number: int
    base_addr: int
    limit: int
    flags: int
    """seg_32bit:1, contents:2, read_exec_only:1, limit_in_pages:1, seg_not_present:1,
    useable:1 — the bit field word as the guest packed it."""

    @classmethod
    def unpack(cls, data: bytes) -> UserDesc:
        entry, base, limit, flags = struct.unpack("<iIII", data)
        return cls(entry, base, limit, flags)

    def pack(self) -> bytes:
        return struct.pack("<iIII", self.entry_number, self.base_addr, self.limit, self.flags)

    @property
    def empty(self) -> bool:
        """LDT_empty(): a descriptor that clears the slot."""
        read_exec_only = (self.flags >> 3) & 1
        not_present = (self.flags >> 5) & 1
        contents = (self.flags >> 1) & 3
        return (self.base_addr == 0 and self.limit == 0 and contents == 0
                and read_exec_only == 1 and not self.flags & 1 and not_present == 1
                and not (self.flags >> 4) & 1 and not (self.flags >> 6) & 1) or (
            self.base_addr == 0 and self.limit == 0 and self.flags == 0)


def descriptor_of(desc: UserDesc) -> int:
    """The 8-byte GDT descriptor fill_ldt() builds from a user_desc (0 for an empty one),
    with the accessed bit set so that loading it never writes the GDT."""
    if desc.empty:
        return 0
    f = desc.flags
    seg_32bit, contents, read_exec_only = f & 1, (f >> 1) & 3, (f >> 3) & 1
    limit_in_pages, not_present, useable = (f >> 4) & 1, (f >> 5) & 1, (f >> 6) & 1
    base, limit = desc.base_addr, desc.limit
    low = ((base & 0xFFFF) << 16) | (limit & 0xFFFF)
    access = 0x1 | ((read_exec_only ^ 1) << 1) | (contents << 2) | 0x10 | (3 << 5)
    access |= (not_present ^ 1) << 7
    high = ((base >> 16) & 0xFF) | (access << 8) | (limit & 0xF0000)
    high |= (useable << 20) | (seg_32bit << 22) | (limit_in_pages << 23) | (base & 0xFF000000)
    return low | (high << 32)


def user_desc_of(entry: int, descriptor: int) -> UserDesc:
    """fill_user_desc(): the user_desc get_thread_area reports for a GDT slot."""
    low, high = descriptor & 0xFFFFFFFF, descriptor >> 32
    base = (low >> 16) | ((high & 0xFF) << 16) | (high & 0xFF000000)
    limit = (low & 0xFFFF) | (high & 0xF0000)
    access = (high >> 8) & 0xFF
    flags = ((high >> 22) & 1) | (((access >> 2) & 3) << 1) | ((((access >> 1) & 1) ^ 1) << 3)
    flags |= ((high >> 23) & 1) << 4 | ((((access >> 7) & 1) ^ 1) << 5) | ((high >> 20) & 1) << 6
    if descriptor == 0:
        flags = 0x28  # read_exec_only and seg_not_present, as an empty slot reads back
    return UserDesc(entry, base, limit, flags)


def sys_set_thread_area(ctx: SyscallContext, u_info: int) -> int:
    desc = UserDesc.unpack(ctx.mem.read(u_info, USER_DESC_SIZE))
    entry = desc.entry_number
    if entry == -1:
        free = [i for i in range(GDT_ENTRY_TLS_MIN, GDT_ENTRY_TLS_MIN + GDT_ENTRY_TLS_ENTRIES)
                if ctx.cpu.get_tls_entry(i) == 0]
        if not free:
            raise SyscallError(Errno.ESRCH)
        entry = free[0]
        ctx.mem.write(u_info, struct.pack("<i", entry))
    if not GDT_ENTRY_TLS_MIN <= entry < GDT_ENTRY_TLS_MIN + GDT_ENTRY_TLS_ENTRIES:
        raise SyscallError(Errno.EINVAL)
    if (desc.flags >> 1) & 3 == 3 and not desc.empty:  # contents == 3: a conforming code segment
        raise SyscallError(Errno.EINVAL)
    ctx.cpu.set_tls_entry(entry, descriptor_of(desc))
    return 0


def sys_get_thread_area(ctx: SyscallContext, u_info: int) -> int:
    entry = struct.unpack("<i", ctx.mem.read(u_info, 4))[0]
    if not GDT_ENTRY_TLS_MIN <= entry < GDT_ENTRY_TLS_MIN + GDT_ENTRY_TLS_ENTRIES:
        raise SyscallError(Errno.EINVAL)
    ctx.mem.write(u_info, user_desc_of(entry, ctx.cpu.get_tls_entry(entry)).pack())
    return 0


SPECS = (
    spec("set_thread_area", sys_set_thread_area, Ptr()),
    spec("get_thread_area", sys_get_thread_area, Ptr()),
)

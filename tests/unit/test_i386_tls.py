"""i386 TLS descriptors: struct user_desc <-> the 8-byte GDT descriptor (arch/x86/kernel/tls.c,
fill_ldt / fill_user_desc), checked against the Intel SDM's descriptor format."""

from __future__ import annotations

import pytest

from syscalls.arch_i386 import UserDesc, descriptor_of, user_desc_of

# What Go's runtime.setldt passes (seen natively under strace: base, limit 0xfffff,
# seg_32bit=1, limit_in_pages=1, useable=1) and what glibc's TLS set-up passes.
GO_DESC = UserDesc(12, 0x0819EF0C, 0xFFFFF, 0x51)
GLIBC_DESC = UserDesc(12, 0xF7D8A740, 0xFFFFF, 0x51)


def base_of(descriptor: int) -> int:
    return ((descriptor >> 16) & 0xFFFFFF) | ((descriptor >> 56) & 0xFF) << 24


def limit_of(descriptor: int) -> int:
    return (descriptor & 0xFFFF) | ((descriptor >> 48) & 0xF) << 16


@pytest.mark.parametrize("desc", [GO_DESC, GLIBC_DESC])
def test_descriptor_fields(desc: UserDesc) -> None:
    d = descriptor_of(desc)
    assert base_of(d) == desc.base_addr
    assert limit_of(d) == desc.limit
    access = (d >> 40) & 0xFF
    assert access == 0xF3  # present, DPL 3, data read/write, accessed
    flags = (d >> 52) & 0xF
    assert flags == 0b1101  # granularity 4 KiB, 32-bit, AVL (useable)


@pytest.mark.parametrize("desc", [GO_DESC, GLIBC_DESC, UserDesc(13, 0x1000, 0x10, 0x1)])
def test_user_desc_round_trip(desc: UserDesc) -> None:
    assert user_desc_of(desc.entry_number, descriptor_of(desc)) == desc


def test_empty_descriptor_clears_the_slot() -> None:
    assert descriptor_of(UserDesc(12, 0, 0, 0)) == 0
    assert descriptor_of(UserDesc(12, 0, 0, 0x28)) == 0  # read_exec_only + seg_not_present
    assert user_desc_of(12, 0).flags == 0x28

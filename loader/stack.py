"""The initial process stack: argc, argv, envp and the auxiliary vector.

Layout as Linux's fs/binfmt_elf.c (create_elf_tables) and fs/exec.c build it, from
the top of the stack down: the executable's file name (AT_EXECFN), the environment
strings, the argument strings, then the AT_PLATFORM string and the 16 AT_RANDOM
bytes, then (16-byte aligned) argc, argv[], NULL, envp[], NULL, auxv pairs, AT_NULL.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum


class AT(IntEnum):
    """Auxiliary vector tags (include/uapi/linux/auxvec.h)."""

    NULL = 0
    IGNORE = 1
    EXECFD = 2
    PHDR = 3
    PHENT = 4
    PHNUM = 5
    PAGESZ = 6
    BASE = 7
    FLAGS = 8
    ENTRY = 9
    NOTELF = 10
    UID = 11
    EUID = 12
    GID = 13
    EGID = 14
    PLATFORM = 15
    HWCAP = 16
    CLKTCK = 17
    SECURE = 23
    BASE_PLATFORM = 24
    RANDOM = 25
    HWCAP2 = 26
    EXECFN = 31
    SYSINFO = 32
    SYSINFO_EHDR = 33
    MINSIGSTKSZ = 51


# An auxv value is a number, or bytes to be placed on the stack and replaced by their address.
AuxValue = int | bytes


@dataclass(frozen=True, slots=True)
class InitialStack:
    """The bytes to write at ``[sp, top)`` and the stack pointer the program starts with."""

    sp: int
    top: int
    data: bytes
    auxv: tuple[tuple[int, int], ...]
    argv_addrs: tuple[int, ...]
    envp_addrs: tuple[int, ...]

    @property
    def base(self) -> int:
        return self.sp


def build_initial_stack(*, top: int, word_size: int, argv: list[bytes], envp: list[bytes],
                        auxv: list[tuple[int, AuxValue]], execfn: bytes,
                        align: int = 16) -> InitialStack:
    """Build the initial stack image ending at ``top`` (exclusive)."""
    fmt = "<Q" if word_size == 8 else "<I"
    blob = bytearray()
    # Strings are laid out downwards from the top, so build them top-first and reverse.
    pos = top - word_size  # Linux leaves the last word of the stack as a NULL end marker.
    placed: list[tuple[int, bytes]] = []

    def place(value: bytes) -> int:
        nonlocal pos
        pos -= len(value)
        placed.append((pos, value))
        return pos

    execfn_addr = place(execfn + b"\0")
    envp_addrs = [place(s + b"\0") for s in reversed(envp)][::-1]
    argv_addrs = [place(s + b"\0") for s in reversed(argv)][::-1]
    pos &= ~(word_size - 1)
    # create_elf_tables copies the platform strings (NUL-terminated) first, then the 16
    # AT_RANDOM bytes below them; other byte values are placed after, in auxv order.
    addresses: dict[int, int] = {AT.EXECFN: execfn_addr}
    for tag in (AT.PLATFORM, AT.BASE_PLATFORM):
        for t, value in auxv:
            if t == tag and isinstance(value, bytes):
                addresses[t] = place(value + b"\0")
    for t, value in auxv:
        if isinstance(value, bytes) and t not in addresses:
            addresses[t] = place(value)
    resolved: list[tuple[int, int]] = []
    for tag, value in auxv:
        resolved.append((tag, addresses[tag] if isinstance(value, bytes) or tag == AT.EXECFN
                         else value))
    resolved.append((AT.NULL, 0))
    table_words = 1 + len(argv) + 1 + len(envp) + 1 + 2 * len(resolved)
    sp = (pos - table_words * word_size) & ~(align - 1)
    blob = bytearray(top - sp)
    for addr, value in placed:
        blob[addr - sp:addr - sp + len(value)] = value
    words = [len(argv), *argv_addrs, 0, *envp_addrs, 0]
    for tag, value in resolved:
        words += [tag, value]
    mask = (1 << (word_size * 8)) - 1
    offset = 0
    for w in words:
        struct.pack_into(fmt, blob, offset, w & mask)
        offset += word_size
    return InitialStack(sp, top, bytes(blob), tuple(resolved), tuple(argv_addrs),
                        tuple(envp_addrs))

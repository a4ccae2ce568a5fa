"""Tiny static ELF executables built in memory, for tests that need exact machine code.

The code bytes in the tests were produced by GNU as (x86-64) and arm-linux-gnueabihf-as;
the assembly is written next to each one.
"""

from __future__ import annotations

import struct
from pathlib import Path

EM_X86_64 = 62
EM_ARM = 40
EM_AARCH64 = 183
EM_386 = 3


PT_GNU_STACK = 0x6474E551


def static_elf(code: bytes, *, machine: int = EM_X86_64, thumb: bool = False,
               base: int | None = None, elf_class: int | None = None,
               gnu_stack: int | None = None) -> bytes:
    """An ET_EXEC image: one R+X PT_LOAD holding the headers and ``code``; entry = code.
    ``gnu_stack``: add a PT_GNU_STACK with these flags (6: RW, 7: RWX)."""
    is64 = (elf_class or (2 if machine in (EM_X86_64, EM_AARCH64) else 1)) == 2
    base = base if base is not None else (0x400000 if is64 else 0x10000)
    ehsize, phentsize = (64, 56) if is64 else (52, 32)
    phnum = 1 if gnu_stack is None else 2
    code_off = ehsize + phentsize * phnum
    entry = base + code_off + (1 if thumb else 0)
    total = code_off + len(code)
    ident = b"\x7fELF" + bytes([2 if is64 else 1, 1, 1]) + bytes(9)
    flags = 0x05000400 if machine == EM_ARM else 0
    if is64:
        ehdr = ident + struct.pack("<HHIQQQIHHHHHH", 2, machine, 1, entry, ehsize, 0, flags,
                                   ehsize, phentsize, phnum, 0, 0, 0)
        phdr = struct.pack("<IIQQQQQQ", 1, 5, 0, base, base, total, total, 0x1000)
        if gnu_stack is not None:
            phdr += struct.pack("<IIQQQQQQ", PT_GNU_STACK, gnu_stack, 0, 0, 0, 0, 0, 16)
    else:
        ehdr = ident + struct.pack("<HHIIIIIHHHHHH", 2, machine, 1, entry, ehsize, 0, flags,
                                   ehsize, phentsize, phnum, 0, 0, 0)
        phdr = struct.pack("<IIIIIIII", 1, 0, base, base, total, total, 5, 0x1000)
        if gnu_stack is not None:
            phdr += struct.pack("<IIIIIIII", PT_GNU_STACK, 0, 0, 0, 0, 0, gnu_stack, 16)
    return ehdr + phdr + code


def arm(*words: int) -> bytes:
    return b"".join(struct.pack("<I", w) for w in words)


def write_exe(directory: Path, name: str, image: bytes) -> Path:
    path = directory / name
    path.write_bytes(image)
    path.chmod(0o755)
    return path

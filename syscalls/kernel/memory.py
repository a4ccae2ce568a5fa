"""Guest memory as handlers see it: typed reads and writes that fail with EFAULT.

The emulator supplies the raw accessors (Unicorn's mem_read/mem_write) and the
backend that mirrors the address space into the CPU; this module does not know
about Unicorn, so handlers and the address space are tested against a bytearray.
"""

from __future__ import annotations

import struct
from typing import Protocol

from syscalls.errno import Errno, SyscallError


class MemoryFault(Exception):
    """Raised by a raw accessor for an address range that is not mapped."""

    def __init__(self, addr: int, size: int) -> None:
        super().__init__(f"bad guest address {addr:#x}+{size}")
        self.addr = addr
        self.size = size


class RawMemory(Protocol):
    """The two operations the emulator provides; both raise MemoryFault on unmapped ranges."""

    def read(self, addr: int, size: int) -> bytes: ...

    def write(self, addr: int, data: bytes) -> None: ...


class MemoryBackend(Protocol):
    """How an AddressSpace keeps the CPU's page tables in step with its VMAs."""

    def map(self, start: int, size: int, prot: int) -> None: ...

    def unmap(self, start: int, size: int) -> None: ...

    def protect(self, start: int, size: int, prot: int) -> None: ...

    def discard(self, start: int, size: int) -> None:
        """Make the mapped range read back as zeros (MADV_DONTNEED)."""

    def write(self, addr: int, data: bytes) -> None: ...


class GuestMemory:
    """Typed access to guest memory for one ABI (word size, little-endian)."""

    __slots__ = ("_fmt_word", "raw", "word_size")

    def __init__(self, raw: RawMemory, word_size: int) -> None:
        self.raw = raw
        self.word_size = word_size
        self._fmt_word = "<Q" if word_size == 8 else "<I"

    def read(self, addr: int, size: int) -> bytes:
        if size <= 0:
            return b""
        try:
            return self.raw.read(addr, size)
        except MemoryFault:
            raise SyscallError(Errno.EFAULT) from None

    def write(self, addr: int, data: bytes) -> None:
        if not data:
            return
        try:
            self.raw.write(addr, data)
        except MemoryFault:
            raise SyscallError(Errno.EFAULT) from None

    def read_word(self, addr: int) -> int:
        return int(struct.unpack(self._fmt_word, self.read(addr, self.word_size))[0])

    def write_word(self, addr: int, value: int) -> None:
        self.write(addr, struct.pack(self._fmt_word, value & ((1 << (8 * self.word_size)) - 1)))

    def read_u32(self, addr: int) -> int:
        return int.from_bytes(self.read(addr, 4), "little")

    def write_u32(self, addr: int, value: int) -> None:
        self.write(addr, (value & 0xFFFFFFFF).to_bytes(4, "little"))

    def read_u64(self, addr: int) -> int:
        return int.from_bytes(self.read(addr, 8), "little")

    def write_u64(self, addr: int, value: int) -> None:
        self.write(addr, (value & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little"))

    def read_cstring(self, addr: int, limit: int = 4096) -> bytes:
        """A NUL-terminated string; ENAMETOOLONG past ``limit``, EFAULT if unmapped."""
        out = bytearray()
        chunk = 64
        while len(out) < limit:
            # Read up to the end of the page so a string ending near unmapped memory works.
            page_left = 4096 - ((addr + len(out)) & 4095)
            size = min(chunk, page_left, limit - len(out))
            data = self.read(addr + len(out), size)
            nul = data.find(b"\0")
            if nul >= 0:
                out += data[:nul]
                return bytes(out)
            out += data
            chunk = min(chunk * 4, 4096)
        raise SyscallError(Errno.ENAMETOOLONG)

    def try_read(self, addr: int, size: int) -> bytes | None:
        """For the tracer: bytes if readable, else None (it prints the address instead)."""
        try:
            return self.raw.read(addr, size) if size > 0 else b""
        except MemoryFault:
            return None

    def try_cstring(self, addr: int, limit: int) -> tuple[bytes, bool] | None:
        """For the tracer: up to ``limit`` bytes of a C string and whether it was complete."""
        if addr == 0:
            return None
        try:
            return self.read_cstring(addr, limit + 1), True
        except SyscallError as err:
            if err.errno == Errno.ENAMETOOLONG:
                data = self.try_read(addr, limit)
                return (data, False) if data is not None else None
            return None

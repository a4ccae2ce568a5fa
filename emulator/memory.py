"""Guest memory in Unicorn: raw access for the kernel model and the page-table mirror.

:class:`UnicornMemory` is both the ``RawMemory`` the handlers read and write through
and the ``MemoryBackend`` an :class:`~syscalls.kernel.vm.AddressSpace` keeps in step
with its VMAs. Linux's PROT_* bits and Unicorn's UC_PROT_* bits have the same values.

Guest pages live in anonymous host mappings elftrace owns, given to Unicorn with
``mem_map_ptr``. Two reasons: Unicorn copies a whole region it allocated itself when
a munmap or mprotect splits it (uc.c: split_region/copy_region), which for Go's
64 MiB arenas costs tens of milliseconds and touches every page; preallocated regions
are split without copying. And MADV_DONTNEED becomes a host madvise on the same pages:
instant, and the host memory is really returned.

Because the pages are ours, reads (the syscall path's ``write(2)`` buffers, paths,
structs) slice the host mapping directly; a call into Unicorn costs about 1 us more.
The last live range read from is remembered, so the common case is one comparison.
Unicorn's ``uc_mem_read`` ignores page protections too, so both paths agree. Writes
still go through ``uc_mem_write``: it invalidates translated code on the pages
written, which a direct store would not.
"""

from __future__ import annotations

import ctypes
import mmap
from dataclasses import dataclass, field

from unicorn import Uc, UcError

from emulator.cpu import RAW
from syscalls.kernel.memory import MemoryFault

_mem_read = RAW.uc_mem_read
_mem_write = RAW.uc_mem_write
_NO_HIT: tuple[int, int, int, mmap.mmap | None] = (0, -1, 0, None)

MAP_NORESERVE = 0x4000


@dataclass(eq=False)
class HostBlock:
    """One host mapping backing the guest range [start, start + size)."""

    start: int
    size: int
    buffer: mmap.mmap
    anchor: ctypes.Array[ctypes.c_char] | None
    live: list[tuple[int, int]] = field(init=False)
    """Guest ranges of this block still mapped; the block is released when none is."""

    def __post_init__(self) -> None:
        self.live = [(self.start, self.end)]

    def cut(self, lo: int, hi: int) -> None:
        kept = []
        for a, b in self.live:
            if b <= lo or a >= hi:
                kept.append((a, b))
                continue
            if a < lo:
                kept.append((a, lo))
            if b > hi:
                kept.append((hi, b))
        self.live = kept

    @property
    def end(self) -> int:
        return self.start + self.size

    def release(self) -> None:
        self.anchor = None  # the ctypes view must go before the mmap can close
        self.buffer.close()


SMALL_READ = 1 << 16


class UnicornMemory:
    def __init__(self, uc: Uc) -> None:
        self.uc = uc
        self._uch = uc._uch
        self._raw_uch = ctypes.c_void_p(self._uch.value)
        self._blocks: list[HostBlock] = []
        # Reads Unicorn serves go through one reusable buffer: the binding allocates one
        # per call.
        self._buffer = ctypes.create_string_buffer(SMALL_READ)
        self._buffer_view = memoryview(self._buffer).cast("B")
        self._hit = _NO_HIT
        """(lo, hi, block start, block buffer) of the live range last read from."""

    # RawMemory ---------------------------------------------------------------------------

    def read(self, addr: int, size: int) -> bytes:
        lo, hi, start, buffer = self._hit
        if lo <= addr and addr + size <= hi:
            return buffer[addr - start:addr + size - start]  # type: ignore[index]
        return self._read_slow(addr, size)

    def _read_slow(self, addr: int, size: int) -> bytes:
        for block in reversed(self._blocks):
            if block.start <= addr < block.end:
                for lo, hi in block.live:
                    if lo <= addr and addr + size <= hi:
                        self._hit = (lo, hi, block.start, block.buffer)
                        return block.buffer[addr - block.start:addr + size - block.start]
        if size > SMALL_READ or addr < 0 or addr + size > 1 << 64:
            try:
                return bytes(self.uc.mem_read(addr, size))
            except (UcError, OverflowError):
                raise MemoryFault(addr, size) from None
        if _mem_read(self._raw_uch, ctypes.c_uint64(addr), self._buffer, ctypes.c_size_t(size)):
            raise MemoryFault(addr, size)
        return bytes(self._buffer_view[:size])

    def write(self, addr: int, data: bytes) -> None:
        if addr < 0 or addr + len(data) > 1 << 64:
            raise MemoryFault(addr, len(data))
        if _mem_write(self._raw_uch, ctypes.c_uint64(addr), bytes(data),
                      ctypes.c_size_t(len(data))):
            raise MemoryFault(addr, len(data))

    # MemoryBackend -----------------------------------------------------------------------

    def map(self, start: int, size: int, prot: int) -> None:
        buffer = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_NORESERVE,
                           prot=mmap.PROT_READ | mmap.PROT_WRITE)
        anchor = (ctypes.c_char * size).from_buffer(buffer)
        self.uc.mem_map_ptr(start, size, prot & 7, ctypes.addressof(anchor))
        self._blocks.append(HostBlock(start, size, buffer, anchor))
        self._hit = _NO_HIT

    def unmap(self, start: int, size: int) -> None:
        self.uc.mem_unmap(start, size)
        self._hit = _NO_HIT
        for block, lo, hi in self._overlaps(start, start + size):
            block.cut(lo, hi)
            if not block.live:
                self._drop(block)
            else:
                block.buffer.madvise(mmap.MADV_DONTNEED, lo - block.start, hi - lo)

    def protect(self, start: int, size: int, prot: int) -> None:
        self.uc.mem_protect(start, size, prot & 7)

    def discard(self, start: int, size: int) -> None:
        """MADV_DONTNEED: the range reads back as zeros and its host pages are freed."""
        for block, lo, hi in self._overlaps(start, start + size):
            block.buffer.madvise(mmap.MADV_DONTNEED, lo - block.start, hi - lo)

    def _overlaps(self, start: int, end: int) -> list[tuple[HostBlock, int, int]]:
        """Live parts of blocks within [start, end). Blocks may nest (a new mapping over an
        unmapped part of an old one); there are few, and this runs only on munmap/madvise."""
        out = []
        for block in self._blocks:
            if block.start >= end or block.end <= start:
                continue
            for a, b in block.live:
                lo, hi = max(start, a), min(end, b)
                if lo < hi:
                    out.append((block, lo, hi))
        return out

    def _drop(self, block: HostBlock) -> None:
        self._hit = _NO_HIT
        self._blocks.remove(block)
        block.release()

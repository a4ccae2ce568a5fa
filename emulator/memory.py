"""Guest memory in Unicorn: raw access for the kernel model and the page-table mirror.

:class:`UnicornMemory` is both the ``RawMemory`` the handlers read and write through
and the ``MemoryBackend`` an :class:`~syscalls.kernel.vm.AddressSpace` keeps in step
with its VMAs. Linux's PROT_* bits and Unicorn's UC_PROT_* bits have the same values.

Guest pages live in host memory elftrace owns, given to Unicorn with ``mem_map_ptr``:
the guest address space is cut into large aligned *windows*, and each window the
guest uses is one anonymous host mapping (MAP_NORESERVE, so untouched pages cost
nothing) in which guest address ``a`` lives at ``window + (a - window_start)``. Why:

- Unicorn copies a region it allocated itself when a munmap or mprotect splits it
  (uc.c: split_region/copy_region), which for Go's 64 MiB arenas costs tens of
  milliseconds; regions over our own memory split without copying.
- MADV_DONTNEED becomes a host madvise on the same pages: instant, and the memory is
  really returned.
- Every map, unmap and protect costs time that grows faster than linearly with the
  number of Unicorn regions (QEMU rebuilds its flat view of memory each time), so a
  program making thousands of mappings would crawl. Inside a window, neighbouring
  regions with the same protection have contiguous host memory and are joined into
  one region while the result is small (Unicorn's unmap flushes its TLB page by page,
  so re-creating a large region is itself slow). Past ``MAX_REGIONS`` regions, a new
  mapping fails with ENOMEM, as the kernel's ``vm.max_map_count`` makes it fail.

Because the pages are ours, reads (the syscall path's ``write(2)`` buffers, paths,
structs) slice the window's host mapping directly; a call into Unicorn costs about 1 us
more. The region last read from is remembered, so the common case is one comparison.
Unicorn's ``uc_mem_read`` ignores page protections too, so both paths agree. Writes
still go through ``uc_mem_write``: it invalidates translated code on the pages written,
which a direct store would not.
"""

from __future__ import annotations

import bisect
import contextlib
import ctypes
import mmap
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from unicorn import Uc, UcError

from emulator.cpu import RAW, RegionTable
from syscalls.kernel.memory import MemoryFault

_mem_read = RAW.uc_mem_read
_mem_write = RAW.uc_mem_write
_NO_HIT: tuple[int, int, int, mmap.mmap | None] = (0, -1, 0, None)

def _nothing() -> None: ...


PROT_EXEC, PROT_ALL = 4, 7
MAP_NORESERVE = 0x4000
MAX_REGIONS = 2048
"""Unicorn regions a guest may have; each map costs more the more there are."""
MERGE_LIMIT = 2 << 20
"""Neighbouring regions are joined while the joined region is at most this large."""


@dataclass(eq=False)
class Window:
    """The host mapping behind guest addresses [start, start + size)."""

    start: int
    size: int
    buffer: mmap.mmap
    anchor: ctypes.c_char | None
    live: int = 0
    """Bytes of the window mapped in Unicorn; the window is released when none are."""

    @property
    def host(self) -> int:
        assert self.anchor is not None
        return ctypes.addressof(self.anchor)

    def release(self) -> None:
        self.anchor = None  # the ctypes view must go before the mmap can close
        self.buffer.close()


SMALL_READ = 1 << 16


class UnicornMemory:
    def __init__(self, uc: Uc, address_bits: int = 64) -> None:
        self.uc = uc
        self._uch = uc._uch
        self.window_size = 1 << min(address_bits, 40)
        self._windows: dict[int, Window] = {}
        self.region_table = RegionTable()
        """The mappings for the TLB hook's host code (Cpu.use_page_permissions)."""
        self._regions = RegionMap(self.region_table)
        self._fixed = RegionMap()
        """Regions the Arch mapped into the engine itself (i386's GDT): no window, never
        changed, but the TLB must let the CPU read them."""
        for lo, last, prot in uc.mem_regions():
            self._fixed.add(lo, last + 1, prot)
        self._raw_uch = ctypes.c_void_p(self._uch.value)
        # Reads Unicorn serves go through one reusable buffer: the binding allocates one
        # per call.
        self._buffer = ctypes.create_string_buffer(SMALL_READ)
        self._buffer_view = memoryview(self._buffer).cast("B")
        self._hit = _NO_HIT
        """(lo, hi, window start, window buffer) of the region last read from."""
        self._reshaping = 0
        self.on_protect: Callable[[], None] = _nothing
        """Called after a protection change (the Cpu flushes its TLB)."""

    # RawMemory ---------------------------------------------------------------------------

    def read(self, addr: int, size: int) -> bytes:
        lo, hi, start, buffer = self._hit
        if lo <= addr and addr + size <= hi:
            return buffer[addr - start:addr + size - start]  # type: ignore[index]
        return self._read_slow(addr, size)

    def _read_slow(self, addr: int, size: int) -> bytes:
        regions = self._regions
        i = regions.index_of(addr)
        if i is not None and addr + size <= regions.ends[i]:
            if not regions.prots[i]:
                # The kernel cannot read PROT_NONE pages either (write(2) gets EFAULT).
                raise MemoryFault(addr, size)
            window = self._windows[addr & ~(self.window_size - 1)]
            self._hit = (regions.starts[i], regions.ends[i], window.start, window.buffer)
            return window.buffer[addr - window.start:addr + size - window.start]
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
        """Map fresh zeroed pages; MemoryError if the host cannot provide the address space."""
        self._hit = _NO_HIT
        if len(self._regions) >= MAX_REGIONS:
            raise MemoryError(f"the guest has {MAX_REGIONS} mappings, elftrace's limit")
        for window, lo, hi in self._pieces(start, start + size, create=True):
            try:
                with self.reshaping():
                    self.uc.mem_map_ptr(lo, hi - lo, prot & 7,
                                        window.host + lo - window.start)
            except UcError:
                self.unmap(start, lo - start)
                raise MemoryError(f"cannot map {hi - lo:#x} bytes at {lo:#x}") from None
            window.live += hi - lo
            self._regions.add(lo, hi, prot & 7)
        self._coalesce(start, start + size)

    def unmap(self, start: int, size: int) -> None:
        if size <= 0:
            return
        with self.reshaping():
            self.uc.mem_unmap(start, size)
        self._hit = _NO_HIT
        self._regions.remove(start, start + size)
        for window, lo, hi in self._pieces(start, start + size, create=False):
            window.live -= hi - lo
            if window.live <= 0:
                del self._windows[window.start]
                window.release()
            else:
                window.buffer.madvise(mmap.MADV_DONTNEED, lo - window.start, hi - lo)

    def protect(self, start: int, size: int, prot: int) -> None:
        self._hit = _NO_HIT  # reads check the protection when they find the region
        with self.reshaping():
            self.uc.mem_protect(start, size, prot & 7)
        pieces = self._regions.remove(start, start + size)
        for lo, hi, _ in pieces:
            self._regions.add(lo, hi, prot & 7)
        if prot & PROT_EXEC:
            # Code written while the pages were not executable left blocks translated
            # before it in Unicorn's cache (it drops them only for writes to executable
            # memory): a JIT's write-then-mprotect(PROT_EXEC) must run the new code.
            with self.reshaping():
                for lo, hi, _ in pieces:
                    self.uc.ctl_remove_cache(lo, hi)
        self._coalesce(start, start + size)
        # The TLB keeps what the page-permission hook granted; Unicorn flushes it on
        # some protection changes, not all (read-only to none keeps readable entries).
        self.on_protect()

    def readable_span(self, addr: int) -> tuple[int, int, int] | None:
        """The readable region holding ``addr``, as (start, end, host address of start),
        for the syscall gate's write lane; None if there is none in a window of ours.
        Readable as the kernel sees it: any protection but PROT_NONE (x86 and ARM page
        tables cannot make a writable or executable page unreadable)."""
        regions = self._regions
        i = regions.index_of(addr)
        if i is None or not regions.prots[i]:
            return None
        start = regions.starts[i]
        window = self._windows.get(start & ~(self.window_size - 1))
        if window is None or window.anchor is None:
            return None
        return start, regions.ends[i], window.host + start - window.start

    def prot_at(self, page: int) -> int:
        """UC_PROT_* of the page at ``page``, -1 if unmapped (the TLB hook's question)."""
        prot = self._regions.prot_at(page)
        if prot < 0:
            prot = self._fixed.prot_at(page)
        if self._reshaping:
            # Unicorn itself asks, to drop cached code on the page (unmap, protect,
            # remove_cache): a refusal would fail the next emu_start. What it is
            # granted now is flushed before the guest runs again.
            return prot | PROT_EXEC if prot >= 0 else PROT_ALL
        return prot

    @contextlib.contextmanager
    def reshaping(self) -> Iterator[None]:
        """Around calls that make Unicorn look pages up itself (see :meth:`prot_at`)."""
        self._reshaping += 1
        self.region_table.python_only += 1
        try:
            yield
        finally:
            self._reshaping -= 1
            self.region_table.python_only -= 1

    def discard(self, start: int, size: int) -> None:
        """MADV_DONTNEED: the range reads back as zeros and its host pages are freed."""
        for window, lo, hi in self._pieces(start, start + size, create=False):
            window.buffer.madvise(mmap.MADV_DONTNEED, lo - window.start, hi - lo)

    @property
    def region_count(self) -> int:
        return len(self._regions)

    def _pieces(self, start: int, end: int, *, create: bool) -> list[tuple[Window, int, int]]:
        """[start, end) cut at window boundaries, with each piece's window."""
        out = []
        pos = start
        while pos < end:
            base = pos & ~(self.window_size - 1)
            hi = min(end, base + self.window_size)
            window = self._windows.get(base)
            if window is None and create:
                window = self._open_window(base)
            if window is not None:
                out.append((window, pos, hi))
            pos = hi
        return out

    def _open_window(self, base: int) -> Window:
        try:
            buffer = mmap.mmap(-1, self.window_size,
                               flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_NORESERVE,
                               prot=mmap.PROT_READ | mmap.PROT_WRITE)
        except OSError:
            raise MemoryError(f"the host has no address space left for {base:#x}") from None
        window = Window(base, self.window_size, buffer, ctypes.c_char.from_buffer(buffer))
        self._windows[base] = window
        return window

    def _coalesce(self, start: int, end: int) -> None:
        """Join the Unicorn regions around [start, end) that share protection and window,
        while the joined region stays small."""
        regions = self._regions
        i = regions.index_of(start)
        j = regions.index_of(end - 1)
        if i is None or j is None:
            return
        if any(not self._joinable(k, k + 1) for k in range(i, j)):
            return

        def small(lo: int, hi: int) -> bool:
            return regions.ends[hi] - regions.starts[lo] <= MERGE_LIMIT

        while i > 0 and self._joinable(i - 1, i) and small(i - 1, j):
            i -= 1
        while j + 1 < len(regions) and self._joinable(j, j + 1) and small(i, j + 1):
            j += 1
        if i == j or not small(i, j):
            return
        lo, hi, prot = regions.starts[i], regions.ends[j], regions.prots[i]
        window = self._windows[lo & ~(self.window_size - 1)]
        with self.reshaping():
            self.uc.mem_unmap(lo, hi - lo)
            self.uc.mem_map_ptr(lo, hi - lo, prot, window.host + lo - window.start)
        regions.remove(lo, hi)
        regions.add(lo, hi, prot)

    def _joinable(self, i: int, j: int) -> bool:
        r = self._regions
        mask = ~(self.window_size - 1)
        return (r.ends[i] == r.starts[j] and r.prots[i] == r.prots[j]
                and r.starts[i] & mask == (r.ends[j] - 1) & mask)


class RegionMap:
    """Our copy of Unicorn's region list (its own costs a Python object per region per
    call): sorted, non-overlapping [start, end) ranges with their protection."""

    def __init__(self, table: RegionTable | None = None) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.prots: list[int] = []
        self.table = table
        """A copy for host code (the TLB hook's), updated with every change."""
        self._arrays: tuple[ctypes.Array[ctypes.c_uint64], ...] = ()

    def __len__(self) -> int:
        return len(self.starts)

    def index_of(self, addr: int) -> int | None:
        i = bisect.bisect_right(self.starts, addr) - 1
        return i if i >= 0 and self.ends[i] > addr else None

    def prot_at(self, addr: int) -> int:
        """The protection of the range holding ``addr``, -1 if none does."""
        i = bisect.bisect_right(self.starts, addr) - 1
        return self.prots[i] if i >= 0 and self.ends[i] > addr else -1

    def add(self, start: int, end: int, prot: int) -> None:
        i = bisect.bisect_left(self.starts, start)
        self.starts.insert(i, start)
        self.ends.insert(i, end)
        self.prots.insert(i, prot)
        if self.table is not None:
            self._publish(self.table)

    def _publish(self, table: RegionTable) -> None:
        count = len(self.starts)
        if not self._arrays or count > len(self._arrays[0]):
            capacity = max(64, 2 * count)
            self._arrays = tuple((ctypes.c_uint64 * capacity)() for _ in range(3))
            table.count = 0
            table.starts, table.ends, table.prots = (ctypes.addressof(a) for a in self._arrays)
        starts, ends, prots = self._arrays
        starts[:count] = self.starts
        ends[:count] = self.ends
        prots[:count] = self.prots
        table.count = count

    def remove(self, start: int, end: int) -> list[tuple[int, int, int]]:
        """Take [start, end) out, splitting ranges at its edges; return what was there."""
        i = max(0, bisect.bisect_right(self.starts, start) - 1)
        removed = []
        while i < len(self.starts) and self.starts[i] < end:
            a, b, prot = self.starts[i], self.ends[i], self.prots[i]
            if b <= start:
                i += 1
                continue
            del self.starts[i], self.ends[i], self.prots[i]
            removed.append((max(a, start), min(b, end), prot))
            if a < start:
                self.add(a, start, prot)
                i += 1
            if b > end:
                self.add(end, b, prot)
                i += 1
        if self.table is not None:
            self._publish(self.table)
        return removed

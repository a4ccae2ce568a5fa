"""The guest's address space: typed VMAs, mirrored into the CPU through a backend.

Placement follows Linux's top-down allocator (mm/mmap.c with the legacy layout off):
a request without a usable hint gets the highest free gap below ``mmap_base``; a
hint is honoured when its range is free, as Go's randomised arena hints expect.
PROT_NONE reservations are bookkeeping only: a range is mapped in the CPU (and can
then use host memory) the first time it becomes accessible, so Go's GiB-sized
arena reservations cost nothing. /proc/self/maps is rendered from these records.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace

from syscalls.errno import Errno, SyscallError
from syscalls.kernel.memory import MemoryBackend

PAGE = 4096
PROT_NONE = 0
PROT_READ = 1
PROT_WRITE = 2
PROT_EXEC = 4

MAP_SHARED = 0x01
MAP_PRIVATE = 0x02
MAP_FIXED = 0x10
MAP_ANONYMOUS = 0x20
MAP_GROWSDOWN = 0x100
MAP_STACK = 0x20000
MAP_FIXED_NOREPLACE = 0x100000


def format_size(size: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if size >= 1 << shift:
            value = size / (1 << shift)
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{size} bytes"


def page_up(value: int) -> int:
    return (value + PAGE - 1) & ~(PAGE - 1)


@dataclass(slots=True)
class Vma:
    start: int
    end: int
    prot: int
    shared: bool = False
    name: str = ""
    """What /proc/self/maps shows in its last column: a path, ``[heap]``, ``[anon:...]``."""
    offset: int = 0
    inode: int = 0
    device: tuple[int, int] = (0, 0)
    committed: bool = False
    """Mapped in the CPU. False only for ranges that have never been accessible."""

    @property
    def size(self) -> int:
        return self.end - self.start

    def split_at(self, addr: int) -> tuple[Vma, Vma]:
        left = replace(self, end=addr)
        right = replace(self, start=addr, offset=self.offset + (addr - self.start)
                        if self.inode else self.offset)
        return left, right


class AddressSpace:
    """VMAs of one process. Every change is applied to the backend in the same call."""

    def __init__(self, backend: MemoryBackend, *, mmap_base: int, mmap_min: int,
                 task_size: int) -> None:
        self.backend = backend
        self.mmap_base = mmap_base
        self.mmap_min = mmap_min
        self.task_size = task_size
        self.vmas: list[Vma] = []
        self._starts: list[int] = []
        self.brk_start = 0
        self.brk_current = 0
        self.committed_bytes = 0
        self.commit_limit: int | None = None
        """At most this many bytes of accessible guest memory (None: no limit)."""
        self.limit_refusals = 0
        """How many requests the commit limit refused."""

    # Lookup -------------------------------------------------------------------------------

    def find(self, addr: int) -> Vma | None:
        """The VMA containing ``addr``, if any."""
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0 and self.vmas[i].end > addr:
            return self.vmas[i]
        return None

    def overlapping(self, start: int, end: int) -> list[Vma]:
        i = max(0, bisect.bisect_right(self._starts, start) - 1)
        out = []
        while i < len(self.vmas) and self.vmas[i].start < end:
            if self.vmas[i].end > start:
                out.append(self.vmas[i])
            i += 1
        return out

    def is_free(self, start: int, end: int) -> bool:
        return (self.mmap_min <= start < end <= self.task_size
                and not self.overlapping(start, end))

    def covered(self, start: int, end: int) -> bool:
        """Every page of [start, end) belongs to some VMA."""
        pos = start
        for vma in self.overlapping(start, end):
            if vma.start > pos:
                return False
            pos = vma.end
        return pos >= end

    # Changes ------------------------------------------------------------------------------

    def _insert(self, vma: Vma) -> None:
        i = bisect.bisect_left(self._starts, vma.start)
        self.vmas.insert(i, vma)
        self._starts.insert(i, vma.start)

    def _remove(self, vma: Vma) -> None:
        i = self.vmas.index(vma)
        del self.vmas[i]
        del self._starts[i]

    def _carve(self, start: int, end: int) -> list[Vma]:
        """Split VMAs at start and end; return those now lying inside [start, end)."""
        inside: list[Vma] = []
        for vma in self.overlapping(start, end):
            self._remove(vma)
            pieces = [vma]
            if vma.start < start:
                left, rest = vma.split_at(start)
                self._insert(left)
                pieces = [rest]
            piece = pieces[0]
            if piece.end > end:
                mid, right = piece.split_at(end)
                self._insert(right)
                piece = mid
            self._insert(piece)
            inside.append(piece)
        return inside

    def map_fixed(self, start: int, size: int, prot: int, *, shared: bool = False,
                  name: str = "", offset: int = 0, inode: int = 0,
                  device: tuple[int, int] = (0, 0), data: bytes = b"") -> Vma:
        """Map [start, start+size) replacing whatever was there; ``data`` fills its start."""
        end = start + page_up(size)
        commits = prot != PROT_NONE or bool(data)
        if commits:
            replaced = sum(min(end, v.end) - max(start, v.start)
                           for v in self.overlapping(start, end) if v.committed)
            self._charge(end - start - replaced)
        self.unmap(start, end - start)
        vma = Vma(start, end, prot, shared, name, offset, inode, device)
        self._insert(vma)
        if commits:
            try:
                self._commit(vma)
            except SyscallError:
                self._remove(vma)
                raise
            if data:
                self.backend.write(start, data)
        if not shared and not inode:
            self._merge_around(start, end)
            vma = self.find(start) or vma
        return vma

    def _charge(self, more: int) -> None:
        """ENOMEM if committing ``more`` bytes would pass the limit (``--max-memory``)."""
        limit = self.commit_limit
        if limit is not None and more > 0 and self.committed_bytes + more > limit:
            self.limit_refusals += 1
            raise SyscallError(Errno.ENOMEM, f"--max-memory {format_size(limit)} reached")

    def _commit(self, vma: Vma) -> None:
        try:
            self.backend.map(vma.start, vma.size, vma.prot)
        except MemoryError as exc:
            raise SyscallError(Errno.ENOMEM, f"host: {exc}") from None
        vma.committed = True
        self.committed_bytes += vma.size

    def unmap(self, start: int, size: int) -> None:
        end = start + page_up(size)
        for vma in self._carve(start, end):
            if vma.committed:
                self.backend.unmap(vma.start, vma.size)
                self.committed_bytes -= vma.size
            self._remove(vma)

    def protect(self, start: int, size: int, prot: int) -> None:
        """mprotect(2). Like mm/mprotect.c, VMAs before a hole are changed before the hole
        makes the call fail with ENOMEM."""
        end = start + page_up(size)
        pos = start
        for vma in self.overlapping(start, end):
            if vma.start > pos:
                break
            pos = vma.end
        covered_end = min(max(pos, start), end)
        if covered_end > start:
            self._protect_covered(start, covered_end, prot)
        if covered_end < end:
            raise SyscallError(Errno.ENOMEM)

    def _protect_covered(self, start: int, end: int, prot: int) -> None:
        if prot != PROT_NONE:
            self._charge(sum(min(end, v.end) - max(start, v.start)
                             for v in self.overlapping(start, end) if not v.committed))
        for vma in self._carve(start, end):
            vma.prot = prot
            if vma.committed:
                self.backend.protect(vma.start, vma.size, prot)
            elif prot != PROT_NONE:
                self._commit(vma)
        self._merge_around(start, end)

    def _merge_around(self, start: int, end: int) -> None:
        """Join neighbours with identical attributes, as the kernel's vma_merge does."""
        i = max(0, bisect.bisect_right(self._starts, start) - 2)
        while i + 1 < len(self.vmas) and self.vmas[i].start <= end:
            a, b = self.vmas[i], self.vmas[i + 1]
            if (a.end == b.start and a.prot == b.prot and a.shared == b.shared
                    and a.name == b.name and a.inode == b.inode == 0
                    and a.committed == b.committed):
                a.end = b.end
                del self.vmas[i + 1]
                del self._starts[i + 1]
                continue
            i += 1

    def discard(self, start: int, size: int) -> None:
        """MADV_DONTNEED on private anonymous memory: the range reads back as zeros."""
        end = start + page_up(size)
        for vma in self.overlapping(start, end):
            lo, hi = max(start, vma.start), min(end, vma.end)
            if vma.committed and not vma.shared and not vma.inode:
                self.backend.discard(lo, hi - lo)

    def rename(self, start: int, size: int, name: str) -> None:
        """PR_SET_VMA_ANON_NAME: name anonymous VMAs (shown as ``[anon:name]``)."""
        end = start + page_up(size)
        if not self.covered(start, end):
            raise SyscallError(Errno.ENOMEM)
        vmas = self._carve(start, end)
        if any(v.inode for v in vmas):
            raise SyscallError(Errno.EBADF)
        for vma in vmas:
            vma.name = f"[anon:{name}]" if name else ""

    # Placement ----------------------------------------------------------------------------

    def find_free(self, size: int, hint: int = 0) -> int:
        size = page_up(size)
        if hint:
            hint = hint & ~(PAGE - 1)
            if self.is_free(hint, hint + size):
                return hint
        top = self.mmap_base
        i = bisect.bisect_left(self._starts, top)
        # Walk gaps downwards from mmap_base.
        candidates = self.vmas[:i]
        gap_end = top
        for vma in reversed(candidates):
            if vma.end < gap_end and gap_end - max(vma.end, self.mmap_min) >= size:
                return gap_end - size
            gap_end = min(gap_end, vma.start)
        if gap_end - self.mmap_min >= size:
            return gap_end - size
        # Nothing below mmap_base: try above it (bottom-up), as the kernel falls back.
        pos = top
        for vma in self.vmas[i:]:
            if vma.start - pos >= size:
                return pos
            pos = max(pos, vma.end)
        if self.task_size - pos >= size:
            return pos
        raise SyscallError(Errno.ENOMEM)

    # brk ----------------------------------------------------------------------------------

    def set_brk_start(self, addr: int) -> None:
        self.brk_start = self.brk_current = page_up(addr)

    def brk(self, new: int) -> int:
        """brk(2): move the break; on failure return the current one, as the kernel does."""
        if new < self.brk_start:
            return self.brk_current
        old_top, new_top = page_up(self.brk_current), page_up(new)
        if new_top > old_top:
            if not self.is_free(old_top, new_top):
                return self.brk_current
            self.map_fixed(old_top, new_top - old_top, PROT_READ | PROT_WRITE, name="[heap]")
            self._merge_around(old_top - 1, new_top)
        elif new_top < old_top:
            self.unmap(new_top, old_top - new_top)
        self.brk_current = new
        return new

    # /proc/self/maps ----------------------------------------------------------------------

    def render_maps(self, word_size: int) -> str:
        """/proc/self/maps as fs/proc/task_mmu.c's show_map_vma prints it: ``%08lx`` addresses,
        and the name after padding to 25 + 6 * sizeof(void *) - 1 columns plus one space."""
        width = 25 + 6 * word_size - 1
        lines = []
        for v in self.vmas:
            perms = ("r" if v.prot & PROT_READ else "-") + ("w" if v.prot & PROT_WRITE else "-") \
                + ("x" if v.prot & PROT_EXEC else "-") + ("s" if v.shared else "p")
            head = (f"{v.start:08x}-{v.end:08x} {perms} {v.offset:08x} "
                    f"{v.device[0]:02x}:{v.device[1]:02x} {v.inode} ")
            lines.append(head.ljust(width) + " " + v.name if v.name else head)
        return "".join(line + "\n" for line in lines)

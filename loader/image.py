"""From a validated ELF file to the page mappings of a loaded image.

Follows Linux's fs/binfmt_elf.c: each PT_LOAD becomes a page-aligned mapping whose
first pages hold the file's bytes (whole file pages, as mmap would map them), the
tail of the last file page is zeroed when the segment has a bss part, and a later
segment's pages replace an earlier one's where they share a page (MAP_FIXED order).
The load bias of an ET_DYN image is chosen by the caller (Linux's ELF_ET_DYN_BASE
for the arch unless ``--base`` says otherwise).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from loader.elf import PF_R, PF_W, PF_X, PT, ElfInfo, ElfType
from loader.errors import MalformedElf, UnsupportedImage
from loader.relocations import RelocationReport, apply_relocations

PAGE_SIZE = 4096

PROT_READ = 1
PROT_WRITE = 2
PROT_EXEC = 4


def page_down(value: int) -> int:
    return value & ~(PAGE_SIZE - 1)


def page_up(value: int) -> int:
    return (value + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)


def segment_prot(flags: int) -> int:
    prot = 0
    if flags & PF_R:
        prot |= PROT_READ
    if flags & PF_W:
        prot |= PROT_WRITE
    if flags & PF_X:
        prot |= PROT_EXEC
    return prot


@dataclass(slots=True)
class Mapping:
    """One page-aligned mapping: ``data`` holds its first bytes, the rest reads as zero."""

    start: int
    end: int
    prot: int
    data: bytearray
    file_offset: int = 0

    @property
    def size(self) -> int:
        return self.end - self.start

    def contains(self, addr: int, size: int) -> bool:
        return self.start <= addr and addr + size <= self.end


@dataclass(slots=True)
class LoadedImage:
    """An image laid out in guest memory, relocated, ready to be mapped by the emulator."""

    info: ElfInfo
    bias: int
    mappings: list[Mapping]
    entry: int
    phdr_addr: int
    brk_start: int
    relocations: RelocationReport | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def low(self) -> int:
        return min(m.start for m in self.mappings)

    @property
    def high(self) -> int:
        return max(m.end for m in self.mappings)

    def mapping_for(self, addr: int, size: int) -> Mapping | None:
        for m in self.mappings:
            if m.contains(addr, size):
                return m
        return None

    def read(self, addr: int, size: int) -> bytes:
        """Bytes of the loaded (relocated) image at a guest address; zeros past a mapping's data."""
        m = self.mapping_for(addr, size)
        if m is None:
            raise MalformedElf(f"{self.info.path}: {addr:#x}+{size} is not inside the image")
        off = addr - m.start
        chunk = bytes(m.data[off:off + size])
        return chunk + bytes(size - len(chunk))

    def write(self, addr: int, value: bytes) -> None:
        m = self.mapping_for(addr, len(value))
        if m is None:
            raise MalformedElf(f"{self.info.path}: {addr:#x}+{len(value)} is not inside the image")
        off = addr - m.start
        if len(m.data) < off + len(value):
            m.data.extend(bytes(off + len(value) - len(m.data)))
        m.data[off:off + len(value)] = value


def max_alignment(info: ElfInfo) -> int:
    """The largest power-of-two p_align of the PT_LOADs (binfmt_elf's maximum_alignment)."""
    best = PAGE_SIZE
    for p in info.loads:
        if p.align and p.align & (p.align - 1) == 0:
            best = max(best, p.align)
    return best


def default_bias(info: ElfInfo, dyn_base: int) -> int:
    """Linux's load bias for an ET_DYN image without ASLR (fs/binfmt_elf.c, load_elf_binary):
    ELF_ET_DYN_BASE aligned down to the largest segment alignment, minus the first
    PT_LOAD's p_vaddr, rounded down to a page."""
    if info.type is not ElfType.DYN:
        return 0
    base = dyn_base & ~(max_alignment(info) - 1)
    return page_down(base - info.loads[0].vaddr)


def load_image(info: ElfInfo, *, base: int | None, dyn_base: int, address_limit: int,
               relocate: bool | None = None) -> LoadedImage:
    """Lay out ``info`` in memory.

    ``base`` is where the lowest PT_LOAD page of an ET_DYN image goes (None: Linux's
    default from ``dyn_base``). ``relocate`` forces relocation on or off; by default
    relocations are applied exactly when ld.so would apply them, i.e. for an image
    with PT_INTERP; a static-pie (ET_DYN without PT_INTERP) relocates itself.
    """
    loads = sorted(info.loads, key=lambda p: p.vaddr)
    if info.type is ElfType.DYN:
        low = page_down(loads[0].vaddr)
        bias = (base - low) if base is not None else default_bias(info, dyn_base)
        if base is not None and base % PAGE_SIZE:
            raise UnsupportedImage(f"--base {base:#x} is not page-aligned")
    else:
        if base is not None:
            raise UnsupportedImage(f"{info.path}: --base applies only to position-independent "
                                   "(ET_DYN) images; this one is ET_EXEC")
        bias = 0
    mappings: list[Mapping] = []
    for p in loads:
        start = page_down(p.vaddr + bias)
        end = page_up(p.vaddr + p.memsz + bias)
        if start < PAGE_SIZE and p.memsz:
            raise MalformedElf(f"{info.path}: segment at {p.vaddr + bias:#x} maps page zero")
        if end > address_limit or end < start:
            raise MalformedElf(
                f"{info.path}: segment {p.vaddr + bias:#x}+{p.memsz:#x} does not fit below "
                f"{address_limit:#x}")
        if p.memsz == 0:
            continue
        pageoff = (p.vaddr + bias) - start
        file_start = p.offset - pageoff
        if file_start < 0:
            raise MalformedElf(
                f"{info.path}: segment at {p.vaddr:#x} has file offset {p.offset:#x} smaller than "
                "its offset into the page")
        if p.memsz > p.filesz:
            # The kernel zeroes the rest of the last file page (padzero) before the bss.
            file_end = p.offset + p.filesz
        else:
            file_end = min(len(info.data), page_up(p.offset + p.filesz), file_start + end - start)
        data = bytearray(info.data[file_start:file_end]) if p.filesz else bytearray()
        new = Mapping(start, end, segment_prot(p.flags), data, file_start)
        _replace_overlap(mappings, new)
        mappings.append(new)
    entry = info.entry + bias
    phdr_addr = _phdr_address(info, bias)
    brk_start = page_up(max(m.end for m in mappings))
    image = LoadedImage(info, bias, mappings, entry, phdr_addr, brk_start)
    if relocate is None:
        relocate = info.interp is not None
    if relocate and info.dynamic is not None:
        dyn = info.first(PT.DYNAMIC)
        if dyn is not None and image.mapping_for(dyn.vaddr + bias, max(dyn.memsz, 1)) is None:
            # ld.so finds the dynamic section through this address (l_ld), not the file
            # offset: outside the image it would fault before relocating anything.
            raise MalformedElf(f"{info.path}: PT_DYNAMIC at {dyn.vaddr:#x}+{dyn.memsz:#x} is "
                               "outside every PT_LOAD segment")
        if info.dynamic.needed:
            raise UnsupportedImage(
                f"{info.path}: needs shared libraries ({', '.join(info.dynamic.needed)}); "
                "dynamically linked binaries are not supported yet")
        image.relocations = apply_relocations(image)
        _protect_relro(image)
    return image


def _protect_relro(image: LoadedImage) -> None:
    """After relocating, make PT_GNU_RELRO read-only, as ld.so's _dl_protect_relro does:
    from the page holding its start to the page boundary below its end."""
    relro = image.info.first(PT.GNU_RELRO)
    if relro is None:
        return
    start = page_down(relro.vaddr + image.bias)
    end = page_down(relro.vaddr + relro.memsz + image.bias)
    if end <= start:
        return
    pieces: list[Mapping] = []
    for m in image.mappings:
        if m.end <= start or m.start >= end:
            pieces.append(m)
            continue
        cuts = sorted({m.start, max(m.start, start), min(m.end, end), m.end})
        for lo, hi in itertools.pairwise(cuts):
            data = m.data[lo - m.start:hi - m.start]
            prot = PROT_READ if start <= lo and hi <= end else m.prot
            pieces.append(Mapping(lo, hi, prot, bytearray(data), m.file_offset + lo - m.start))
    image.mappings[:] = pieces


def _replace_overlap(mappings: list[Mapping], new: Mapping) -> None:
    """A later segment's pages replace an earlier one's where they share pages."""
    for m in list(mappings):
        if m.end <= new.start or m.start >= new.end:
            continue
        if m.start >= new.start:
            mappings.remove(m)
            continue
        keep = new.start - m.start
        m.end = new.start
        del m.data[keep:]


def _phdr_address(info: ElfInfo, bias: int) -> int:
    """Where the program headers are in memory (AT_PHDR), as binfmt_elf computes it."""
    phdr = info.first(PT.PHDR)
    if phdr is not None:
        return phdr.vaddr + bias
    for p in info.loads:
        if p.offset <= info.phoff < p.offset + p.filesz:
            return p.vaddr + (info.phoff - p.offset) + bias
    return 0

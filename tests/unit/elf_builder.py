"""Tiny synthetic ELF images for loader unit tests, written from the gABI, not from loader/.

Record layouts (System V gABI, "ELF Header" and "Program Header"):

* Elf64_Ehdr: e_ident[16], e_type H, e_machine H, e_version I, e_entry Q, e_phoff Q,
  e_shoff Q, e_flags I, e_ehsize H, e_phentsize H, e_phnum H, e_shentsize H, e_shnum H,
  e_shstrndx H (64 bytes). Elf32_Ehdr: the same with 4-byte addresses (52 bytes).
* Elf64_Phdr: p_type I, p_flags I, p_offset Q, p_vaddr Q, p_paddr Q, p_filesz Q,
  p_memsz Q, p_align Q (56 bytes). Elf32_Phdr: p_type, p_offset, p_vaddr, p_paddr,
  p_filesz, p_memsz, p_flags, p_align, all 4 bytes (32 bytes): p_flags moves.
* Elf64_Dyn: d_tag q, d_val Q. Elf64_Rela: r_offset Q, r_info Q (sym << 32 | type),
  r_addend q. Elf32_Rel: r_offset I, r_info I (sym << 8 | type).
* SHT_RELR (gABI 2022): words; an even word is an address to relocate, an odd word is
  a bitmap whose bit i (i >= 1) marks the word at base + (i - 1) * wordsize, where base
  starts right after the last address and advances by (bits - 1) words per bitmap.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

EM_386 = 3
EM_ARM = 40
EM_X86_64 = 62

ET_REL = 1
ET_EXEC = 2
ET_DYN = 3
ET_CORE = 4

PT_LOAD = 1
PT_DYNAMIC = 2
PT_INTERP = 3
PT_NOTE = 4
PT_GNU_STACK = 0x6474E551

PF_X = 1
PF_W = 2
PF_R = 4

DT_NULL = 0
DT_RELA = 7
DT_RELASZ = 8
DT_RELAENT = 9
DT_REL = 17
DT_RELSZ = 18
DT_RELENT = 19
DT_RELRSZ = 35
DT_RELR = 36
DT_RELRENT = 37

R_X86_64_RELATIVE = 8
R_ARM_RELATIVE = 23

PAGE = 0x1000


@dataclass
class Phdr:
    type: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int
    flags: int = PF_R | PF_W
    align: int = PAGE


@dataclass
class Elf:
    """An ELF file to serialise: header facts, program headers and byte blobs by offset."""

    bits: int
    machine: int
    type: int = ET_DYN
    entry: int = 0
    phdrs: list[Phdr] = field(default_factory=list)
    blobs: dict[int, bytes] = field(default_factory=dict)
    size: int = 0
    phoff: int | None = None
    flags: int = 0
    ident_data: int = 1  # ELFDATA2LSB
    phentsize: int | None = None
    phnum: int | None = None

    @property
    def ehsize(self) -> int:
        return 64 if self.bits == 64 else 52

    @property
    def std_phentsize(self) -> int:
        return 56 if self.bits == 64 else 32

    def build(self) -> bytes:
        phoff = self.ehsize if self.phoff is None else self.phoff
        phentsize = self.std_phentsize if self.phentsize is None else self.phentsize
        phnum = len(self.phdrs) if self.phnum is None else self.phnum
        table_end = phoff + len(self.phdrs) * self.std_phentsize
        end = max([self.size, table_end] + [o + len(b) for o, b in self.blobs.items()])
        out = bytearray(end)
        ident = b"\x7fELF" + bytes([2 if self.bits == 64 else 1, self.ident_data, 1])
        out[0:len(ident)] = ident
        if self.bits == 64:
            struct.pack_into("<HHIQQQIHHHHHH", out, 16, self.type, self.machine, 1, self.entry,
                             phoff, 0, self.flags, self.ehsize, phentsize, phnum, 0, 0, 0)
        else:
            struct.pack_into("<HHIIIIIHHHHHH", out, 16, self.type, self.machine, 1, self.entry,
                             phoff, 0, self.flags, self.ehsize, phentsize, phnum, 0, 0, 0)
        for i, p in enumerate(self.phdrs):
            pos = phoff + i * self.std_phentsize
            if self.bits == 64:
                struct.pack_into("<IIQQQQQQ", out, pos, p.type, p.flags, p.offset, p.vaddr,
                                 p.vaddr, p.filesz, p.memsz, p.align)
            else:
                struct.pack_into("<IIIIIIII", out, pos, p.type, p.offset, p.vaddr, p.vaddr,
                                 p.filesz, p.memsz, p.flags, p.align)
        for offset, blob in self.blobs.items():
            out[offset:offset + len(blob)] = blob
        return bytes(out)


def word_bytes(value: int, bits: int) -> bytes:
    return (value % (1 << bits)).to_bytes(bits // 8, "little")


def dyn_entries(entries: list[tuple[int, int]], bits: int) -> bytes:
    fmt = "<qQ" if bits == 64 else "<iI"
    return b"".join(struct.pack(fmt, t, v) for t, v in [*entries, (DT_NULL, 0)])


def rela64(entries: list[tuple[int, int, int, int]]) -> bytes:
    """(r_offset, type, sym, addend) -> Elf64_Rela records."""
    return b"".join(struct.pack("<QQq", off, (sym << 32) | rtype, addend)
                    for off, rtype, sym, addend in entries)


def rel32(entries: list[tuple[int, int, int]]) -> bytes:
    """(r_offset, type, sym) -> Elf32_Rel records."""
    return b"".join(struct.pack("<II", off, (sym << 8) | rtype) for off, rtype, sym in entries)


def relr_encode(addresses: list[int], bits: int) -> list[int]:
    """The gABI/lld RELR encoder: addresses must be word-aligned."""
    word = bits // 8
    span = bits - 1
    addrs = sorted(set(addresses))
    out: list[int] = []
    i = 0
    while i < len(addrs):
        out.append(addrs[i])
        base = addrs[i] + word
        i += 1
        while True:
            bitmap = 0
            while i < len(addrs):
                delta = addrs[i] - base
                if delta >= span * word or delta % word:
                    break
                bitmap |= 1 << (delta // word)
                i += 1
            if bitmap == 0:
                break
            out.append((bitmap << 1) | 1)
            base += span * word
    return out


def relr_bytes(entries: list[int], bits: int) -> bytes:
    return b"".join(word_bytes(e, bits) for e in entries)


# A two-segment ET_DYN layout shared by the relocation tests (offsets in the file):
#   0x000 headers, 0x300 PT_INTERP string, 0x400 PT_DYNAMIC, 0x800 REL/RELA table,
#   0xC00 RELR table, 0x1000-0x2000 data words (relocation targets).
# PT_LOAD #1 maps file [0, 0x2000) at vbase; PT_LOAD #2 maps file [0x2000, 0x3000) at
# vbase + 0x5000, leaving the hole [vbase + 0x2000, vbase + 0x5000) in no segment.
INTERP_OFF = 0x300
DYNAMIC_OFF = 0x400
RELTAB_OFF = 0x800
RELR_OFF = 0xC00
DATA_OFF = 0x1000
DATA_END = 0x2000
SECOND_OFF = 0x2000
SECOND_VADDR_DELTA = 0x5000
INTERP_PATHS = {64: b"/lib64/ld-linux-x86-64.so.2", 32: b"/lib/ld-linux-armhf.so.3"}


def dyn_image(*, bits: int, machine: int, vbase: int = 0, interp: bool = True,
              rela: list[tuple[int, int, int, int]] | None = None,
              rel: list[tuple[int, int, int]] | None = None,
              relr: list[int] | None = None,
              words: dict[int, int] | None = None) -> bytes:
    """An ET_DYN image with the layout above; relocation offsets and ``words`` keys are
    link-time virtual addresses (vbase already included)."""
    elf = Elf(bits=bits, machine=machine, type=ET_DYN, entry=vbase + DATA_OFF, size=0x3000)
    dyn: list[tuple[int, int]] = []
    if rela is not None:
        table = rela64(rela)
        elf.blobs[RELTAB_OFF] = table
        dyn += [(DT_RELA, vbase + RELTAB_OFF), (DT_RELASZ, len(table)), (DT_RELAENT, 24)]
    if rel is not None:
        table = rel32(rel)
        elf.blobs[RELTAB_OFF] = table
        dyn += [(DT_REL, vbase + RELTAB_OFF), (DT_RELSZ, len(table)), (DT_RELENT, 8)]
    if relr is not None:
        table = relr_bytes(relr, bits)
        elf.blobs[RELR_OFF] = table
        dyn += [(DT_RELR, vbase + RELR_OFF), (DT_RELRSZ, len(table)),
                (DT_RELRENT, bits // 8)]
    dynamic = dyn_entries(dyn, bits)
    elf.blobs[DYNAMIC_OFF] = dynamic
    for vaddr, value in (words or {}).items():
        elf.blobs[vaddr - vbase] = word_bytes(value, bits)
    elf.phdrs.append(Phdr(PT_LOAD, 0, vbase, DATA_END, DATA_END, PF_R | PF_W))
    elf.phdrs.append(Phdr(PT_LOAD, SECOND_OFF, vbase + SECOND_VADDR_DELTA, 0x1000, 0x1000,
                          PF_R | PF_W))
    elf.phdrs.append(Phdr(PT_DYNAMIC, DYNAMIC_OFF, vbase + DYNAMIC_OFF, len(dynamic),
                          len(dynamic), PF_R | PF_W, 8))
    if interp:
        path = INTERP_PATHS[bits] + b"\0"
        elf.blobs[INTERP_OFF] = path
        elf.phdrs.insert(0, Phdr(PT_INTERP, INTERP_OFF, vbase + INTERP_OFF, len(path),
                                 len(path), PF_R, 1))
    return elf.build()


def minimal(bits: int = 64, machine: int = EM_X86_64, etype: int = ET_EXEC) -> Elf:
    """A valid one-segment executable at 0x400000 (0x10000 on 32-bit), for mutating."""
    vaddr = 0x400000 if bits == 64 else 0x10000
    elf = Elf(bits=bits, machine=machine, type=etype, entry=vaddr + 0x200, size=0x1000)
    elf.phdrs.append(Phdr(PT_LOAD, 0, vaddr, 0x1000, 0x1000, PF_R | PF_X))
    elf.blobs[0x200] = b"\xcc" * 16
    return elf

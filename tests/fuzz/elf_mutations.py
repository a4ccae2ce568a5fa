"""Structure-aware damage to real ELF files, shared by the hypothesis tests and the atheris
harness in this directory.

A :class:`Layout` lists the fields of a binary from bins/ that a loader reads — the ELF
header and e_ident, every program and section header, the PT_DYNAMIC entries, the
dynamic relocation records and the Go pclntab header and function table — by file offset
and width. A mutation overwrites one field with a value chosen to hit edge cases (zero,
all ones, the file size, off-by-one, a flipped bit), truncates the file at a structural
boundary, or overwrites raw bytes. Choices come from a :class:`Chooser`, so the same
engine is driven by hypothesis (shrinkable) and by atheris (coverage-guided).

Record layouts are those of the System V gABI (see tests/unit/elf_builder.py); the
pclntab header is Go's runtime/symtab.go ``pcHeader``.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from elftools.elf.elffile import ELFFile

REPO = Path(__file__).resolve().parents[2]
BINS = REPO / "bins"

# A spread of what bins/ holds: PIE with relocations (Go 1.19 and 1.27, one stripped),
# static ARM (GOARM 5 and 7), static amd64.
FUZZ_BINARIES = (
    "hello-1.27-amd64-pie-stripped",
    "hello-1.19-amd64-pie",
    "hello-1.27-amd64-static",
    "hello-1.27-arm7-static-stripped",
    "hello-1.19-arm5-static",
)


class Chooser(Protocol):
    def integer(self, lo: int, hi: int) -> int:
        """An integer in [lo, hi]."""
        ...


@dataclass(frozen=True, slots=True)
class Field:
    region: str
    name: str
    offset: int
    size: int


@dataclass(slots=True)
class Layout:
    name: str
    data: bytes
    word: int
    regions: dict[str, list[Field]] = field(default_factory=dict)
    boundaries: list[int] = field(default_factory=list)

    def add(self, region: str, name: str, offset: int, size: int) -> None:
        if offset >= 0 and offset + size <= len(self.data):
            self.regions.setdefault(region, []).append(Field(region, name, offset, size))
            self.boundaries.extend((offset, offset + size))


_EHDR64 = (("e_type", 16, 2), ("e_machine", 18, 2), ("e_version", 20, 4), ("e_entry", 24, 8),
           ("e_phoff", 32, 8), ("e_shoff", 40, 8), ("e_flags", 48, 4), ("e_ehsize", 52, 2),
           ("e_phentsize", 54, 2), ("e_phnum", 56, 2), ("e_shentsize", 58, 2),
           ("e_shnum", 60, 2), ("e_shstrndx", 62, 2))
_EHDR32 = (("e_type", 16, 2), ("e_machine", 18, 2), ("e_version", 20, 4), ("e_entry", 24, 4),
           ("e_phoff", 28, 4), ("e_shoff", 32, 4), ("e_flags", 36, 4), ("e_ehsize", 40, 2),
           ("e_phentsize", 42, 2), ("e_phnum", 44, 2), ("e_shentsize", 46, 2),
           ("e_shnum", 48, 2), ("e_shstrndx", 50, 2))
_PHDR64 = (("p_type", 0, 4), ("p_flags", 4, 4), ("p_offset", 8, 8), ("p_vaddr", 16, 8),
           ("p_paddr", 24, 8), ("p_filesz", 32, 8), ("p_memsz", 40, 8), ("p_align", 48, 8))
_PHDR32 = (("p_type", 0, 4), ("p_offset", 4, 4), ("p_vaddr", 8, 4), ("p_paddr", 12, 4),
           ("p_filesz", 16, 4), ("p_memsz", 20, 4), ("p_flags", 24, 4), ("p_align", 28, 4))
_SHDR64 = (("sh_name", 0, 4), ("sh_type", 4, 4), ("sh_flags", 8, 8), ("sh_addr", 16, 8),
           ("sh_offset", 24, 8), ("sh_size", 32, 8), ("sh_link", 40, 4), ("sh_info", 44, 4),
           ("sh_addralign", 48, 8), ("sh_entsize", 56, 8))
_SHDR32 = (("sh_name", 0, 4), ("sh_type", 4, 4), ("sh_flags", 8, 4), ("sh_addr", 12, 4),
           ("sh_offset", 16, 4), ("sh_size", 20, 4), ("sh_link", 24, 4), ("sh_info", 28, 4),
           ("sh_addralign", 32, 4), ("sh_entsize", 36, 4))
PCLNTAB_SECTIONS = (".gopclntab", ".data.rel.ro.gopclntab")
# How many function-table words of the pclntab to offer as fields (its start is where
# every lookup begins; deeper damage is covered by the raw-byte mutation).
PCLNTAB_FUNCTAB_WORDS = 64


@functools.cache
def layout_of(name: str) -> Layout:
    data = (BINS / name).read_bytes()
    is64 = data[4] == 2
    word = 8 if is64 else 4
    lay = Layout(name, data, word)
    for i, fname in enumerate(("EI_CLASS", "EI_DATA", "EI_VERSION", "EI_OSABI")):
        lay.add("ident", fname, 4 + i, 1)
    for fname, off, size in _EHDR64 if is64 else _EHDR32:
        lay.add("ehdr", fname, off, size)
    fmt = "<QQ" if is64 else "<II"
    (phoff,) = struct.unpack_from("<Q" if is64 else "<I", data, 32 if is64 else 28)
    (shoff,) = struct.unpack_from("<Q" if is64 else "<I", data, 40 if is64 else 32)
    phentsize, phnum, shentsize, shnum = struct.unpack_from(
        "<HHHH", data, 54 if is64 else 42)[0:4]
    for i in range(phnum):
        for fname, off, size in _PHDR64 if is64 else _PHDR32:
            lay.add("phdr", f"phdr[{i}].{fname}", phoff + i * phentsize + off, size)
    for i in range(shnum):
        for fname, off, size in _SHDR64 if is64 else _SHDR32:
            lay.add("shdr", f"shdr[{i}].{fname}", shoff + i * shentsize + off, size)
    with (BINS / name).open("rb") as f:
        elf = ELFFile(f)
        for seg in elf.iter_segments():
            lay.boundaries.extend((seg["p_offset"], seg["p_offset"] + seg["p_filesz"]))
            if seg["p_type"] == "PT_DYNAMIC":
                base = seg["p_offset"]
                for i in range(seg["p_filesz"] // (2 * word)):
                    tag, _ = struct.unpack_from(fmt, data, base + i * 2 * word)
                    lay.add("dynamic", f"dyn[{i}].d_tag", base + i * 2 * word, word)
                    lay.add("dynamic", f"dyn[{i}].d_val", base + i * 2 * word + word, word)
                    if tag == 0:
                        break
        for sec in elf.iter_sections():
            lay.boundaries.extend((sec["sh_offset"], sec["sh_offset"] + sec["sh_size"]))
            if sec["sh_type"] in ("SHT_RELA", "SHT_REL") and sec["sh_flags"] & 2:
                entsize = sec["sh_entsize"] or (3 if sec["sh_type"] == "SHT_RELA" else 2) * word
                count = sec["sh_size"] // entsize
                # Every record is a target; keep the list bounded by sampling a stride.
                for i in range(0, count, max(1, count // 256)):
                    at = sec["sh_offset"] + i * entsize
                    lay.add("relocs", f"{sec.name}[{i}].r_offset", at, word)
                    lay.add("relocs", f"{sec.name}[{i}].r_info", at + word, word)
                    if sec["sh_type"] == "SHT_RELA":
                        lay.add("relocs", f"{sec.name}[{i}].r_addend", at + 2 * word, word)
            if sec.name in PCLNTAB_SECTIONS:
                base = sec["sh_offset"]
                lay.add("pclntab", "magic", base, 4)
                lay.add("pclntab", "pad", base + 4, 2)
                lay.add("pclntab", "minLC", base + 6, 1)
                lay.add("pclntab", "ptrSize", base + 7, 1)
                for i, hname in enumerate(("nfunc", "nfiles", "textStart", "funcnameOffset",
                                           "cuOffset", "filetabOffset", "pctabOffset",
                                           "pclnOffset")):
                    lay.add("pclntab", hname, base + 8 + i * word, word)
                lay.boundaries.append(base)
                # The function table: pclnOffset words into the table.
                (pcln_off,) = struct.unpack_from("<Q" if is64 else "<I", data, base + 8 + 7 * word)
                for i in range(PCLNTAB_FUNCTAB_WORDS):
                    lay.add("pclntab", f"functab[{i}]", base + pcln_off + 4 * i, 4)
    lay.boundaries = sorted({b for b in lay.boundaries if 0 <= b <= len(data)})
    return lay


REGIONS = ("ident", "ehdr", "phdr", "shdr", "dynamic", "relocs", "pclntab")
KINDS = ("field", "field", "field", "truncate", "bytes")


def interesting_value(choose: Chooser, size: int, original: int, file_size: int) -> int:
    top = (1 << (8 * size)) - 1
    pick = choose.integer(0, 11)
    candidates = (0, 1, top, top >> 1, (top >> 1) + 1, file_size & top, (file_size + 1) & top,
                  (original + 1) & top, (original - 1) & top)
    if pick < len(candidates):
        return candidates[pick]
    if pick == 9:
        return original ^ (1 << choose.integer(0, 8 * size - 1))
    if pick == 10:
        return (original << choose.integer(1, 4)) & top
    return choose.integer(0, top)


def mutate(lay: Layout, choose: Chooser, count: int) -> tuple[bytes, list[str]]:
    """Apply ``count`` mutations to ``lay.data``; return the bytes and what was done."""
    data = bytearray(lay.data)
    done: list[str] = []
    regions = [r for r in REGIONS if lay.regions.get(r)]
    for _ in range(count):
        kind = KINDS[choose.integer(0, len(KINDS) - 1)]
        if kind == "field":
            fields = lay.regions[regions[choose.integer(0, len(regions) - 1)]]
            f = fields[choose.integer(0, len(fields) - 1)]
            if f.offset + f.size > len(data):
                continue
            original = int.from_bytes(data[f.offset:f.offset + f.size], "little")
            value = interesting_value(choose, f.size, original, len(lay.data))
            data[f.offset:f.offset + f.size] = value.to_bytes(f.size, "little")
            done.append(f"{f.name}@{f.offset:#x}: {original:#x} -> {value:#x}")
        elif kind == "truncate":
            edge = lay.boundaries[choose.integer(0, len(lay.boundaries) - 1)]
            cut = max(0, min(len(data), edge + choose.integer(-8, 8)))
            del data[cut:]
            done.append(f"truncate at {cut:#x}")
        else:
            if not data:
                continue
            at = choose.integer(0, len(data) - 1)
            length = choose.integer(1, 16)
            chunk = bytes(choose.integer(0, 255) for _ in range(min(length, len(data) - at)))
            data[at:at + len(chunk)] = chunk
            done.append(f"bytes at {at:#x} := {chunk.hex()}")
    return bytes(data), done

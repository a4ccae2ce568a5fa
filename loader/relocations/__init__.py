"""Dynamic relocations: found through PT_DYNAMIC, applied by per-architecture tables.

The tables are located the way ld.so finds them, from the dynamic section's
DT_RELA/DT_REL/DT_RELR/DT_JMPREL entries (section headers may be stripped), and read
from the laid-out image. Each architecture module maps ``r_type`` to a
:class:`RelocType` whose handler computes the value to store; an unknown type, a
symbol that would need a shared library, or a target outside the image raises
:class:`~loader.errors.RelocationError` naming type and offset. Nothing is skipped.
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from loader.elf import DT, Machine
from loader.errors import RelocationError

if TYPE_CHECKING:
    from loader.image import LoadedImage

SHN_UNDEF = 0


@dataclass(frozen=True, slots=True)
class Relocation:
    """One dynamic relocation entry. ``addend`` is None for REL entries (addend in place)."""

    offset: int
    type: int
    sym: int
    addend: int | None
    table: str


@dataclass(frozen=True, slots=True)
class Symbol:
    name: str
    value: int
    shndx: int

    @property
    def defined(self) -> bool:
        return self.shndx != SHN_UNDEF


@dataclass(slots=True)
class RelocContext:
    """What a relocation handler may look at: the bias (B), symbols (S) and the image bytes."""

    image: LoadedImage
    word_size: int
    symbols: list[Symbol]

    @property
    def bias(self) -> int:
        return self.image.bias

    def read_word(self, addr: int) -> int:
        return int.from_bytes(self.image.read(addr, self.word_size), "little")

    def symbol_value(self, rel: Relocation, rtype: RelocType) -> int:
        """S: the run-time address of the relocation's symbol, defined in this image."""
        if rel.sym == 0:
            return 0
        if rel.sym >= len(self.symbols):
            raise RelocationError(
                f"{rtype.name} at {rel.offset:#x}: symbol index {rel.sym} outside .dynsym")
        sym = self.symbols[rel.sym]
        if not sym.defined:
            raise RelocationError(
                f"{rtype.name} at {rel.offset:#x} needs symbol {sym.name!r} from a shared library;"
                " dynamically linked binaries are not supported yet")
        return sym.value + self.bias


Handler = Callable[[RelocContext, Relocation, "RelocType"], int]


@dataclass(frozen=True, slots=True)
class RelocType:
    """A relocation type: its psABI name, the width it writes, and how its value is computed."""

    name: str
    size: int
    compute: Handler | None

    def addend(self, ctx: RelocContext, rel: Relocation) -> int:
        """A: explicit for RELA, read from the target word for REL."""
        if rel.addend is not None:
            return rel.addend
        return int.from_bytes(ctx.image.read(rel.offset, self.size), "little")


@dataclass(slots=True)
class RelocationReport:
    """What was applied: counts per type name, and every (offset, old, new) for verification."""

    counts: Counter[str] = field(default_factory=Counter)
    writes: list[tuple[int, int, int]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def table_for(machine: int) -> dict[int, RelocType]:
    # Imported here so that loader.relocations can be imported by either arch module.
    from loader.relocations import aarch64, arm, i386, x86_64

    tables = {Machine.X86_64: x86_64.TABLE, Machine.ARM: arm.TABLE,
              Machine.AARCH64: aarch64.TABLE, Machine.I386: i386.TABLE}
    try:
        return tables[machine]  # type: ignore[index]
    except KeyError:
        raise RelocationError(f"no relocation table for e_machine {machine}") from None


def iter_relocations(image: LoadedImage) -> Iterator[Relocation]:
    """Every dynamic relocation of the image, in ld.so's order: RELR, REL/RELA, then JMPREL."""
    dyn = image.info.dynamic
    if dyn is None:
        return
    word = image.info.word_size
    bias = image.bias
    yield from _iter_relr(image, dyn.get(DT.RELR), dyn.get(DT.RELRSZ), word)
    rela_ent = 3 * word
    rel_ent = 2 * word
    yield from _iter_table(image, "RELA", dyn.get(DT.RELA), dyn.get(DT.RELASZ),
                           dyn.get(DT.RELAENT), rela_ent, True, bias)
    yield from _iter_table(image, "REL", dyn.get(DT.REL), dyn.get(DT.RELSZ),
                           dyn.get(DT.RELENT), rel_ent, False, bias)
    jmprel = dyn.get(DT.JMPREL)
    if jmprel is not None:
        is_rela = dyn.get(DT.PLTREL) == DT.RELA
        yield from _iter_table(image, "JMPREL", jmprel, dyn.get(DT.PLTRELSZ),
                               rela_ent if is_rela else rel_ent, rela_ent if is_rela else rel_ent,
                               is_rela, bias)


def _iter_table(image: LoadedImage, name: str, addr: int | None, size: int | None,
                entsize: int | None, expected: int, is_rela: bool, bias: int
                ) -> Iterator[Relocation]:
    if addr is None:
        return
    path = image.info.path
    if size is None:
        raise RelocationError(f"{path}: DT_{name} without its size tag")
    if entsize is not None and entsize != expected:
        raise RelocationError(f"{path}: DT_{name} entry size {entsize}, expected {expected}")
    if size % expected:
        raise RelocationError(f"{path}: DT_{name} size {size} is not a multiple of {expected}")
    try:
        raw = image.read(addr + bias, size)
    except Exception as exc:
        raise RelocationError(f"{path}: DT_{name} table at {addr:#x}: {exc}") from None
    word = image.info.word_size
    if word == 8:
        fmt = "<QQq" if is_rela else "<QQ"
        sym_shift, type_mask = 32, 0xFFFFFFFF
    else:
        fmt = "<IIi" if is_rela else "<II"
        sym_shift, type_mask = 8, 0xFF
    for entry in struct.iter_unpack(fmt, raw):
        info = entry[1]
        yield Relocation(entry[0] + bias, info & type_mask, info >> sym_shift,
                         entry[2] if is_rela else None, name)


RELR_TYPE = -1  # RELR entries carry no type: each is "add B to the word in place".


def _iter_relr(image: LoadedImage, addr: int | None, size: int | None, word: int
               ) -> Iterator[Relocation]:
    """Decode SHT_RELR: even entries are addresses, odd entries are bitmaps of following words."""
    if addr is None:
        return
    if size is None or size % word:
        raise RelocationError(f"{image.info.path}: malformed DT_RELR/DT_RELRSZ")
    raw = image.read(addr + image.bias, size)
    fmt = "<Q" if word == 8 else "<I"
    bits = word * 8
    where = 0
    for (entry,) in struct.iter_unpack(fmt, raw):
        if entry & 1 == 0:
            where = entry + image.bias
            yield Relocation(where, RELR_TYPE, 0, None, "RELR")
            where += word
        else:
            bitmap = entry >> 1
            for i in range(bits - 1):
                if bitmap & (1 << i):
                    yield Relocation(where + i * word, RELR_TYPE, 0, None, "RELR")
            where += (bits - 1) * word


def read_dynsym(image: LoadedImage) -> list[Symbol]:
    """The dynamic symbol table, sized from DT_HASH/DT_GNU_HASH-free bounds: up to DT_STRTAB."""
    dyn = image.info.dynamic
    if dyn is None:
        return []
    symtab = dyn.get(DT.SYMTAB)
    strtab = dyn.get(DT.STRTAB)
    strsz = dyn.get(DT.STRSZ) or 0
    if symtab is None or strtab is None:
        return []
    word = image.info.word_size
    entsize = 24 if word == 8 else 16
    # ld.so never needs the symbol count; for our purposes the table ends where the string
    # table begins when it follows it (the usual layout), or at the end of its mapping.
    bias = image.bias
    mapping = image.mapping_for(symtab + bias, entsize)
    if mapping is None:
        raise RelocationError(f"{image.info.path}: DT_SYMTAB {symtab:#x} is outside the image")
    limit = strtab if strtab > symtab else mapping.end - bias
    count = max(0, min((limit - symtab) // entsize, 1 << 20))
    raw = image.read(symtab + bias, count * entsize)
    strings = image.read(strtab + bias, strsz) if strsz else b""
    symbols: list[Symbol] = []
    for i in range(count):
        if word == 8:
            name_off, _info, _other, shndx, value, _size = struct.unpack_from(
                "<IBBHQQ", raw, i * entsize)
        else:
            name_off, value, _size, _info, _other, shndx = struct.unpack_from(
                "<IIIBBH", raw, i * entsize)
        end = strings.find(b"\0", name_off)
        name = strings[name_off:end if end >= 0 else None].decode(errors="replace")
        symbols.append(Symbol(name, value, shndx))
    return symbols


def relocation_targets(image: LoadedImage) -> list[tuple[Relocation, RelocType | None]]:
    """Every relocation with its type (None for RELR), without applying anything."""
    table = table_for(image.info.machine)
    out: list[tuple[Relocation, RelocType | None]] = []
    for rel in iter_relocations(image):
        out.append((rel, None if rel.type == RELR_TYPE else table.get(rel.type)))
    return out


def apply_relocations(image: LoadedImage) -> RelocationReport:
    """Apply every dynamic relocation to the image's bytes, in ld.so's order."""
    table = table_for(image.info.machine)
    word = image.info.word_size
    ctx = RelocContext(image, word, read_dynsym(image))
    report = RelocationReport()
    mask = (1 << (word * 8)) - 1
    for rel in iter_relocations(image):
        if rel.type == RELR_TYPE:
            name, size = "RELR", word
            old = _read_target(image, rel, size, name)
            new = (old + image.bias) & mask
        else:
            rtype = table.get(rel.type)
            if rtype is None:
                raise RelocationError(
                    f"{image.info.path}: unknown relocation type {rel.type} at offset "
                    f"{rel.offset - image.bias:#x} (in {rel.table})")
            name, size = rtype.name, rtype.size
            if rtype.compute is None:
                report.counts[name] += 1
                continue
            old = _read_target(image, rel, size, name)
            new = rtype.compute(ctx, rel, rtype) & ((1 << (size * 8)) - 1)
        image.write(rel.offset, new.to_bytes(size, "little"))
        report.counts[name] += 1
        report.writes.append((rel.offset, old, new))
    return report


def _read_target(image: LoadedImage, rel: Relocation, size: int, name: str) -> int:
    if image.mapping_for(rel.offset, size) is None:
        raise RelocationError(
            f"{image.info.path}: {name} relocation at offset {rel.offset - image.bias:#x} "
            "targets memory outside every PT_LOAD segment")
    return int.from_bytes(image.read(rel.offset, size), "little")

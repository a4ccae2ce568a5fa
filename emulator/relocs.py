"""``elftrace relocs``: every dynamic relocation of an image, and proof that elftrace's
own relocator agrees with the real dynamic loader.

The listing reads the tables through PT_DYNAMIC as ld.so does
(:mod:`loader.relocations`) from an image laid out at the chosen base but not
relocated, so a REL entry's addend is the word in place, and computes the value each
entry gets with the same per-architecture handlers the loader applies. Entries whose
value depends on another object (a symbol from a shared library, TLS, an IRELATIVE
resolver's answer) say so instead of inventing a value.

``--verify`` lays the image out twice at the same base. Once relocated by
:func:`loader.relocations.apply_relocations` (symbols from shared libraries are looked
up in the libraries the real loader mapped, in its search order), once by the real
thing running under emulation and stopped before the program's own code runs: for a
program with PT_INTERP, glibc's ld.so from the sysroot (LD_BIND_NOW=1, so PLT slots
hold their final targets) stopped at the program's entry; for a static-pie, its own
start-up code stopped at ``main``. Every word a relocation targets is compared, and
every other word of the image's writable pages is compared too and reported apart
(start-up code legitimately writes there: ld.so's r_debug slot, libc's globals).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from emulator.arch import Arch, arch_for
from loader.elf import PT, ElfInfo, ElfType, read_elf
from loader.errors import LoaderError, RelocationError
from loader.image import LoadedImage, load_image
from loader.relocations import (
    RELR_TYPE,
    RelocContext,
    read_dynsym,
    relocation_targets,
)

if TYPE_CHECKING:
    from emulator.machine import Machine
    from syscalls.kernel.memory import GuestMemory


@dataclass(frozen=True, slots=True)
class RelocRow:
    """One dynamic relocation as listed: ``offset`` is the link-time address (p_vaddr
    space), ``address`` where it lands at the chosen base."""

    table: str
    type: str
    offset: int
    address: int
    size: int
    symbol: str
    addend: int
    addend_in_place: bool
    value: int | None
    note: str = ""

    def as_json(self) -> dict[str, object]:
        return {"table": self.table, "type": self.type, "offset": self.offset,
                "address": self.address, "size": self.size, "symbol": self.symbol or None,
                "addend": self.addend, "addend_in_place": self.addend_in_place,
                "value": self.value, "note": self.note or None}


@dataclass(slots=True)
class RelocListing:
    info: ElfInfo
    base: int
    bias: int
    rows: list[RelocRow]


def layout(info: ElfInfo, arch: Arch, base: int | None) -> LoadedImage:
    """The image at ``base`` (elftrace's default placement when None), not relocated."""
    from emulator.machine import image_base

    return load_image(info, base=image_base(info, arch, base), dyn_base=arch.layout.dyn_base,
                      address_limit=arch.layout.task_size, relocate=False)


def list_relocations(path: str, base: int | None = None) -> RelocListing:
    info = read_elf(path)
    arch = arch_for(info)
    image = layout(info, arch, base)
    return RelocListing(info, image.low, image.bias, list(_rows(image)))


def _rows(image: LoadedImage) -> Iterator[RelocRow]:
    word = image.info.word_size
    symbols = read_dynsym(image) if image.info.dynamic is not None else []
    ctx = RelocContext(image, word, symbols)
    bias = image.bias
    for rel, rtype in relocation_targets(image):
        link = rel.offset - bias
        if rel.type == RELR_TYPE:
            addend = _word(image, rel.offset, word)
            yield RelocRow("RELR", "RELR", link, rel.offset, word, "", addend, True,
                           (addend + bias) & _mask(word))
            continue
        sym = symbols[rel.sym] if 0 < rel.sym < len(symbols) else None
        name = sym.name if sym is not None else ""
        if rtype is None:
            yield RelocRow(rel.table, f"type {rel.type}", link, rel.offset, word, name,
                           rel.addend or 0, rel.addend is None, None, "unknown type")
            continue
        in_place = rel.addend is None
        addend = rtype.addend(ctx, rel) if image.mapping_for(rel.offset, rtype.size) else 0
        value: int | None = None
        note = ""
        if rtype.compute is None:
            note = "no-op"
        elif sym is not None and not sym.defined:
            note = "from a shared library"
        elif rtype.name.endswith("IRELATIVE"):
            note = f"resolver at {(addend + bias) & _mask(word):#x}"
        else:
            try:
                value = rtype.compute(ctx, rel, rtype) & _mask(rtype.size)
            except RelocationError:
                note = "needs the dynamic loader (TLS or copy)"
        yield RelocRow(rel.table, rtype.name, link, rel.offset, rtype.size, name, addend,
                       in_place, value, note)


def _word(image: LoadedImage, addr: int, size: int) -> int:
    return int.from_bytes(image.read(addr, size), "little")


def _mask(size: int) -> int:
    return (1 << (size * 8)) - 1


# Verification ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Mismatch:
    type: str
    offset: int
    address: int
    expected: int
    actual: int
    symbol: str = ""


@dataclass(slots=True)
class Verification:
    path: str
    base: int
    stopped_at: str
    checked: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    unverifiable: list[RelocRow] = field(default_factory=list)
    """Entries whose value only running code decides (IRELATIVE, IFUNC symbols, TLS)."""
    other_words: int = 0
    """Words of writable pages outside relocation targets that were compared."""
    other_differences: list[tuple[int, int, int]] = field(default_factory=list)
    """(address, file value, value at the stop): writes by start-up code, not relocations."""
    dynamic_range: tuple[int, int] = (0, 0)
    """PT_DYNAMIC at run time: glibc's ld.so rewrites its d_ptr entries and DT_DEBUG."""

    def in_dynamic(self, address: int) -> bool:
        return self.dynamic_range[0] <= address < self.dynamic_range[1]

    @property
    def ok(self) -> bool:
        return not self.mismatches and self.checked > 0


class VerifyError(LoaderError):
    """The image cannot be verified (not position-independent, no way to stop it)."""


def verify(path: str, base: int | None = None, *, sysroot: str | None = None,
           perturb: int | None = None) -> Verification:
    """Compare elftrace's relocation of ``path`` with the real loader's at the same base.

    ``perturb`` (a test hook) flips the low bit of the word elftrace computes for the
    relocation at that link-time offset, to prove a wrong image is caught."""
    from emulator.machine import Machine, RunOptions

    info = read_elf(path)
    if info.type is not ElfType.DYN:
        raise VerifyError(f"{path}: not position-independent (ET_EXEC): it is never relocated")
    if info.dynamic is None:
        raise VerifyError(f"{path}: no PT_DYNAMIC, so no dynamic relocations to verify")
    arch = arch_for(info)
    image = layout(info, arch, base)
    env = [b"LD_BIND_NOW=1", b"PATH=/usr/bin:/bin"]
    options = RunOptions(base=image.low, env=env, sysroot=sysroot,
                         interpreter="always" if info.interp else "never")
    machine = Machine(path, [path], options)
    reached: list[int] = []

    def at_stop(pc: int) -> None:
        reached.append(pc)
        machine.halt()

    if info.interp:
        stopped_at = "the program's entry (after ld.so)"
        machine.add_breakpoint(image.entry & ~1, at_stop)
    else:
        stopped_at = _stop_static_pie(machine, info, image.bias, at_stop)
    machine.run()
    if not reached:
        raise VerifyError(f"{path}: the program exited before reaching {stopped_at}")
    real = machine.mem
    libraries = _library_symbols(machine) if info.dynamic.needed else []
    ours = layout(info, arch, image.low)
    result = Verification(path, image.low, stopped_at)
    dynamic = info.first(PT.DYNAMIC)
    if dynamic is not None:
        result.dynamic_range = (dynamic.vaddr + image.bias,
                                dynamic.vaddr + dynamic.memsz + image.bias)
    expected_words = _our_relocation(ours, libraries, result)
    if perturb is not None:
        address = perturb + ours.bias
        if address not in expected_words:
            raise VerifyError(f"--perturb {perturb:#x}: no relocation there")
        typ, size, value, sym = expected_words[address]
        expected_words[address] = (typ, size, value ^ 1, sym)
    for address, (typ, size, value, sym) in sorted(expected_words.items()):
        actual = int.from_bytes(real.read(address, size), "little")
        result.checked += 1
        if actual != value:
            result.mismatches.append(Mismatch(typ, address - ours.bias, address, value,
                                              actual, sym))
    targets = {r.address: r.size for r in _rows(ours)}
    _compare_writable(ours, real, targets, result)
    return result


def _our_relocation(image: LoadedImage, libraries: Scope,
                    result: Verification) -> dict[int, tuple[str, int, int, str]]:
    """address -> (type, size, value, symbol) as elftrace's relocator computes them, with
    symbols missing from the image looked up in the loaded libraries."""
    out: dict[int, tuple[str, int, int, str]] = {}
    weak = _weak_undefined(image.info.path)
    for row in _rows(image):
        if row.value is not None:
            out[row.address] = (row.type, row.size, row.value, row.symbol)
            continue
        if row.note == "from a shared library" and row.type.endswith(
                ("GLOB_DAT", "JUMP_SLOT", "_64", "ABS32")):
            found = _lookup(row.symbol, libraries)
            if found is None and row.symbol in weak:
                # An undefined weak reference nobody defines resolves to 0 (S = 0).
                found = (0, False)
            if found is None:
                result.unverifiable.append(row)
                continue
            value, ifunc = found
            if ifunc:
                result.unverifiable.append(row)
                continue
            extra = 0 if row.type.endswith(("GLOB_DAT", "JUMP_SLOT")) else row.addend
            out[row.address] = (row.type, row.size, (value + extra) & _mask(row.size),
                                row.symbol)
            continue
        if row.note != "no-op":
            result.unverifiable.append(row)
    return out


def _compare_writable(image: LoadedImage, real: GuestMemory, relocated: Mapping[int, int],
                      result: Verification) -> None:
    """Compare the writable pages' words that no relocation targets (``relocated``:
    address -> size of every relocation, checkable or not)."""
    from loader.image import PROT_WRITE

    word = image.info.word_size
    covered: set[int] = set()
    for address, size in relocated.items():
        covered.update(range(address - address % word, address + size, word))
    for m in image.mappings:
        if not m.prot & PROT_WRITE:
            continue
        actual = real.read(m.start, m.size)
        ours = bytes(m.data) + bytes(m.size - len(m.data))
        fmt = "<Q" if word == 8 else "<I"
        for i, ((a,), (b,)) in enumerate(zip(struct.iter_unpack(fmt, ours),
                                             struct.iter_unpack(fmt, actual), strict=True)):
            address = m.start + i * word
            if address in covered:
                continue
            result.other_words += 1
            if a != b:
                result.other_differences.append((address, a, b))


def _stop_static_pie(machine: Machine, info: ElfInfo, bias: int,
                     at_stop: Callable[[int], None]) -> str:
    """Arrange to stop a static-pie right after its start-up code relocated it, before
    libc's initialisation writes its own globals (glibc sets program_invocation_name,
    which a RELATIVE entry initialised, before main): on return from glibc's
    _dl_relocate_static_pie, at musl's __libc_start_main (its rcrt1 relocates first),
    else at main."""
    from loader.elfsym import ElfSymbols

    symbols = ElfSymbols.load(info)
    relocate = symbols.address_of("_dl_relocate_static_pie")
    if relocate is not None:
        def at_relocate(_pc: int) -> None:
            cpu, arch = machine.cpu, machine.arch
            if arch.lr_reg is not None:
                back = cpu.reg(arch.lr_reg)
            else:
                back = int.from_bytes(machine.mem.read(cpu.sp, arch.word_size), "little")
            machine.add_breakpoint(back & ~1, at_stop)

        machine.add_breakpoint((relocate + bias) & ~1, at_relocate)
        return "the return from _dl_relocate_static_pie (its self-relocation)"
    for name, where in (("__libc_start_main", "__libc_start_main (after rcrt1's "
                                              "self-relocation)"),
                        ("main", "main (after the start-up code relocated the image)")):
        address = symbols.address_of(name)
        if address is not None:
            machine.add_breakpoint((address + bias) & ~1, at_stop)
            return where
    raise VerifyError(f"{info.path}: a static-pie relocates itself, and without symbols "
                      "(main, __libc_start_main) there is no point known to stop it after that")


def _weak_undefined(path: str) -> frozenset[str]:
    """Names the image references weakly without defining them (.dynsym)."""
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    with open(path, "rb") as f:
        dynsym = ELFFile(f).get_section_by_name(".dynsym")
        if not isinstance(dynsym, SymbolTableSection):
            return frozenset()
        return frozenset(s.name for s in dynsym.iter_symbols()
                         if s["st_shndx"] == "SHN_UNDEF" and s["st_info"]["bind"] == "STB_WEAK")


def _symbol_address(info: ElfInfo, name: str) -> int | None:
    from loader.elfsym import ElfSymbols

    return ElfSymbols.load(info).address_of(name)


@dataclass(frozen=True, slots=True)
class LibrarySymbol:
    value: int
    ifunc: bool


Scope = list[dict[str, LibrarySymbol]]


def _lookup(name: str, scope: Scope) -> tuple[int, bool] | None:
    """The first definition of ``name`` in load order (ld.so's global scope)."""
    for table in scope:
        sym = table.get(name)
        if sym is not None:
            return sym.value, sym.ifunc
    return None


def _library_symbols(machine: Machine) -> Scope:
    """The default-version dynamic symbols of every shared object the real loader mapped,
    run-time addresses, in its global search order: libraries in the order ld.so mapped
    them (breadth-first over DT_NEEDED; top-down mmap puts later ones lower), ld.so last."""
    vm = machine.process.vm
    root = machine.process.root
    program = machine.process.exe
    interp = machine.interp_image
    interp_path = os.path.realpath(interp.info.path) if interp is not None else ""
    seen: set[str] = set()
    objects: list[tuple[int, str]] = []
    for vma in sorted(vm.vmas, key=lambda v: -v.start):
        if not vma.name.startswith("/") or vma.offset != 0 or vma.name in seen:
            continue
        host = root.host(vma.name)
        if os.path.realpath(host) in (program, interp_path):
            continue
        seen.add(vma.name)
        objects.append((vma.start, host))
    if interp is not None:
        objects.append((interp.low, interp.info.path))
    scope: Scope = []
    for start, host in objects:
        try:
            scope.append(_dynamic_symbols(host, start))
        except (LoaderError, OSError, ValueError):
            continue
    return scope


def _dynamic_symbols(host: str, start: int) -> dict[str, LibrarySymbol]:
    """``host``'s exported symbols at the run-time addresses of a copy mapped at ``start``;
    of several versions of a name, the default one (versym without the hidden bit)."""
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    out: dict[str, LibrarySymbol] = {}
    with open(host, "rb") as f:
        elf = ELFFile(f)
        if elf.header["e_type"] != "ET_DYN":
            raise ValueError("not a shared object")
        low = min(seg["p_vaddr"] for seg in elf.iter_segments() if seg["p_type"] == "PT_LOAD")
        bias = start - (low & ~0xFFF)
        dynsym = elf.get_section_by_name(".dynsym")
        versym = elf.get_section_by_name(".gnu.version")
        if not isinstance(dynsym, SymbolTableSection):
            return out
        hidden = b""
        if versym is not None:
            hidden = versym.data()
        for i, sym in enumerate(dynsym.iter_symbols()):
            if sym["st_shndx"] == "SHN_UNDEF" or not sym.name:
                continue
            if sym["st_info"]["bind"] not in ("STB_GLOBAL", "STB_WEAK", "STB_GNU_UNIQUE"):
                continue
            if hidden and i * 2 + 2 <= len(hidden) and int.from_bytes(
                    hidden[i * 2:i * 2 + 2], "little") & 0x8000:
                continue
            kind = sym["st_info"]["type"]
            value = sym["st_value"] + (bias if sym["st_shndx"] != "SHN_ABS" else 0)
            previous = out.get(sym.name)
            if previous is None:
                out[sym.name] = LibrarySymbol(value, kind == "STT_LOOS" or kind == "STT_GNU_IFUNC")
    return out


__all__ = ["RelocListing", "RelocRow", "Verification", "list_relocations", "verify"]

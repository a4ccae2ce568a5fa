"""ELF symbols and DWARF line numbers, for naming addresses in non-Go binaries (and in Go
binaries when their pclntab cannot be used).

Sources: the System V gABI "Symbol Table" (st_value, st_size, STT_*/STB_* in st_info,
st_shndx, SHN_UNDEF and the reserved indexes); ELF for the Arm Architecture (AAELF32)
§5.5.3 "Symbol values": an STT_FUNC symbol's bit 0 is the Thumb bit, and the function
starts at ``st_value & ~1``; the DWARF 4 and 5 standards §6.2 "Line Number
Information" for the line table (sequences, end_sequence rows, file and directory
numbering: 1-based files and directory 0 = the compilation directory before DWARF 5,
0-based entries listed in the header from DWARF 5 on). pyelftools parses the section
headers, the symbol tables and the line programs; it raises an open-ended set of
exceptions on hostile input, so every call into it is guarded here and a damaged table
reads as empty, never as a traceback.

Addresses given to :meth:`ElfSymbols.lookup` and :meth:`DwarfLines.lookup` are run-time
addresses: link-time values plus the load bias of a PIE.
"""

from __future__ import annotations

import bisect
import io
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from elftools.dwarf.lineprogram import LineProgram
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import Symbol, SymbolTableSection

from loader.elf import ElfInfo, Machine

SHF_ALLOC = 0x2
# st_info types kept, by pyelftools' names: STT_LOOS is STT_GNU_IFUNC (10), a function
# whose value is its resolver's address (code, as ``nm`` shows with type "i").
_FUNC_TYPES = {"STT_FUNC": "func", "STT_LOOS": "func"}
_OBJECT_TYPES = {"STT_OBJECT": "object", "STT_COMMON": "object"}
_BINDING_RANK = {"global": 0, "weak": 1, "local": 2}


# Section headers ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SectionHeader:
    """One section header as pyelftools reads it (``type`` is its name, e.g. SHT_PROGBITS)."""

    index: int
    name: str
    type: str
    flags: int
    addr: int
    offset: int
    size: int

    @property
    def allocated(self) -> bool:
        return bool(self.flags & SHF_ALLOC)


def open_elffile(info: ElfInfo) -> ELFFile | None:
    """pyelftools' view of the same (already validated) bytes; None if it refuses them."""
    try:
        return ELFFile(io.BytesIO(info.data))
    except Exception:
        return None


def read_sections(info: ElfInfo) -> tuple[SectionHeader, ...]:
    """Every section header, or () when there are none or they cannot be read whole
    (``sstrip``-ed or damaged files: section headers are optional for execution)."""
    elf = open_elffile(info)
    if elf is None:
        return ()
    out: list[SectionHeader] = []
    try:
        for i, sec in enumerate(elf.iter_sections()):
            h = sec.header
            out.append(SectionHeader(i, str(sec.name), str(h["sh_type"]), int(h["sh_flags"]),
                                     int(h["sh_addr"]), int(h["sh_offset"]),
                                     int(h["sh_size"])))
    except Exception:
        return ()
    return tuple(out)


def find_section(info: ElfInfo, name: str) -> tuple[int, int] | None:
    """(sh_addr, sh_size) of the first section called ``name``, or None."""
    for sec in read_sections(info):
        if sec.name == name:
            return sec.addr, sec.size
    return None


# Symbols ------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ElfSymbol:
    """A defined function or data object. ``addr`` is the link-time start (Thumb bit
    cleared, see ``thumb``); ``kind`` is ``func`` or ``object``; ``binding`` is
    ``global``, ``weak`` or ``local``; ``table`` is ``.symtab`` or ``.dynsym``."""

    name: str
    addr: int
    size: int
    kind: str
    binding: str
    thumb: bool
    table: str


class ElfSymbols:
    """Address -> symbol for one image, from ``.symtab`` and ``.dynsym``.

    Each address belongs to at most one symbol. Symbols at the same start are aliases
    and the most telling one names the address: a function before an object, then
    global before weak before local, then a sized symbol, then the name with fewer
    leading underscores (``write`` rather than ``__libc_write``), then the name itself.
    A sized symbol covers [start, start + size); a symbol of size 0 (hand-written
    assembly, linker-defined labels) covers up to the next symbol's start, but not past
    the end of its section or segment. Where sized symbols nest, the innermost (latest
    starting) one wins. The table is flattened into disjoint ranges once, and
    :meth:`lookup` is a bisection.
    """

    def __init__(self, symbols: Iterable[ElfSymbol], *, bias: int = 0,
                 limits: dict[int, int] | None = None) -> None:
        """``limits`` maps a size-0 symbol's start to the end of its section or segment
        (link-time); without an entry such a symbol names only its own address."""
        self.bias = bias
        self.symbols: tuple[ElfSymbol, ...] = tuple(sorted(
            set(symbols), key=lambda s: (s.addr, _rank(s))))
        self._by_name: dict[str, ElfSymbol] = {}
        for sym in self.symbols:
            self._by_name.setdefault(sym.name, sym)
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._names: list[ElfSymbol] = []
        self._flatten(limits or {})

    @classmethod
    def load(cls, info: ElfInfo, bias: int = 0) -> ElfSymbols:
        """Every defined STT_FUNC/STT_GNU_IFUNC/STT_OBJECT symbol of both tables (possibly
        none: a stripped static binary has neither)."""
        sections = read_sections(info)
        symbols, limits = _read_symbols(info, sections)
        return cls(symbols, bias=bias, limits=limits)

    def __len__(self) -> int:
        return len(self.symbols)

    def lookup_symbol(self, addr: int) -> ElfSymbol | None:
        """The symbol whose range holds the run-time address ``addr``."""
        link = addr - self.bias
        i = bisect.bisect_right(self._starts, link) - 1
        if i < 0 or link >= self._ends[i]:
            return None
        return self._names[i]

    def lookup(self, addr: int) -> tuple[str, int] | None:
        """(name, offset from its start) for a run-time address, or None."""
        sym = self.lookup_symbol(addr)
        if sym is None:
            return None
        return sym.name, addr - self.bias - sym.addr

    def address_of(self, name: str) -> int | None:
        """Run-time start address of a symbol by name (the first of that name)."""
        sym = self._by_name.get(name)
        return None if sym is None else sym.addr + self.bias

    def _flatten(self, limits: dict[int, int]) -> None:
        # One interval per distinct start: the best alias names it, and it reaches as far
        # as the largest alias, or (all aliases of size 0) to the next start / the limit.
        groups: dict[int, list[ElfSymbol]] = {}
        for sym in self.symbols:
            groups.setdefault(sym.addr, []).append(sym)
        starts = sorted(groups)
        intervals: list[tuple[int, int, ElfSymbol]] = []
        for n, start in enumerate(starts):
            aliases = groups[start]
            best = min(aliases, key=_rank)
            size = max(s.size for s in aliases)
            if size:
                end = start + size
            else:
                following = starts[n + 1] if n + 1 < len(starts) else None
                end = limits.get(start, start + 1)
                if following is not None:
                    end = min(end, following)
                end = max(end, start + 1)
            intervals.append((start, end, best))
        # Sweep: the innermost open interval names each stretch of addresses.
        stack: list[tuple[int, ElfSymbol]] = []
        pos = 0

        def emit(lo: int, hi: int, sym: ElfSymbol) -> None:
            if lo >= hi:
                return
            if self._names and self._names[-1] is sym and self._ends[-1] == lo:
                self._ends[-1] = hi
                return
            self._starts.append(lo)
            self._ends.append(hi)
            self._names.append(sym)

        def close_until(limit: int | None) -> None:
            nonlocal pos
            while stack and (limit is None or pos < limit):
                top_end, top = stack[-1]
                if limit is None or top_end <= limit:
                    emit(pos, top_end, top)
                    pos = max(pos, top_end)
                    stack.pop()
                else:
                    emit(pos, limit, top)
                    pos = limit

        for start, end, sym in intervals:
            close_until(start)
            pos = start
            stack.append((end, sym))
        close_until(None)


def _rank(sym: ElfSymbol) -> tuple[int, int, int, int, str]:
    return (0 if sym.kind == "func" else 1, _BINDING_RANK.get(sym.binding, 3),
            0 if sym.size else 1, len(sym.name) - len(sym.name.lstrip("_")), sym.name)


def _read_symbols(info: ElfInfo, sections: tuple[SectionHeader, ...]
                  ) -> tuple[list[ElfSymbol], dict[int, int]]:
    symbols: list[ElfSymbol] = []
    limits: dict[int, int] = {}
    if not sections:
        return symbols, limits
    elf = open_elffile(info)
    if elf is None:
        return symbols, limits
    is_arm = info.machine == Machine.ARM
    for sec in sections:
        if sec.type not in ("SHT_SYMTAB", "SHT_DYNSYM"):
            continue
        try:
            table = elf.get_section(sec.index)
            if not isinstance(table, SymbolTableSection):
                continue
            for sym in table.iter_symbols():
                entry = _convert(sym, sec.name, is_arm)
                if entry is None:
                    continue
                symbols.append(entry)
                if entry.size == 0:
                    limit = _limit(info, sections, sym["st_shndx"], entry.addr)
                    if limit is not None:
                        limits[entry.addr] = max(limits.get(entry.addr, 0), limit)
        except Exception:
            # A damaged table contributes what was read before the damage.
            continue
    return symbols, limits


def _convert(sym: Symbol, table: str, is_arm: bool) -> ElfSymbol | None:
    name = str(sym.name)
    st_info = sym["st_info"]
    stype = str(st_info["type"])
    kind = _FUNC_TYPES.get(stype) or _OBJECT_TYPES.get(stype)
    shndx = sym["st_shndx"]
    # SHN_ABS values are numbers, not addresses (e.g. glibc's _nl_current_*_used).
    if kind is None or not name or shndx in ("SHN_UNDEF", "SHN_ABS"):
        return None
    value = int(sym["st_value"])
    size = int(sym["st_size"])
    thumb = is_arm and kind == "func" and bool(value & 1)
    if thumb:
        value &= ~1
    binding = str(st_info["bind"]).removeprefix("STB_").lower()
    return ElfSymbol(name, value, size, kind, binding, thumb, table)


def _limit(info: ElfInfo, sections: tuple[SectionHeader, ...], shndx: object,
           addr: int) -> int | None:
    """Where a size-0 symbol's reach ends: its section's end, else its segment's."""
    if isinstance(shndx, int) and 0 < shndx < len(sections):
        sec = sections[shndx]
        if sec.allocated and sec.addr <= addr < sec.addr + sec.size:
            return sec.addr + sec.size
    for p in info.loads:
        if p.vaddr <= addr < p.vaddr + p.memsz:
            return p.vaddr + p.memsz
    return None


# DWARF line numbers -------------------------------------------------------------------------

class DwarfLines:
    """Address -> (file, line) from ``.debug_line``, decoded on first use.

    The table is every row of every sequence as a range [row address, next row's
    address) in a sorted list; rows at the same address leave only the last one (the
    state the line program ends that address with), and an end_sequence row closes its
    sequence. File names are joined as ``addr2line`` prints them: the file's directory
    entry, under the compilation directory when relative.
    """

    def __init__(self, info: ElfInfo, bias: int = 0) -> None:
        self.info = info
        self.bias = bias
        self.error: str | None = None
        self._loaded = False
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._rows: list[tuple[int, int]] = []  # (file index into _files, line)
        self._files: list[str] = []
        self._versions: set[int] = set()

    @classmethod
    def load(cls, info: ElfInfo, bias: int = 0) -> DwarfLines | None:
        """A lazy line table, or None when the file has no ``.debug_line``."""
        names = {s.name for s in read_sections(info)}
        if ".debug_line" not in names and ".zdebug_line" not in names:
            return None
        return cls(info, bias)

    def __len__(self) -> int:
        self._ensure()
        return len(self._starts)

    @property
    def versions(self) -> frozenset[int]:
        """The line program versions seen (2-5; Go 1.19 writes 2, Go 1.27 and GCC 12 5)."""
        self._ensure()
        return frozenset(self._versions)

    def lookup(self, addr: int) -> tuple[str, int] | None:
        """(file, line) of the run-time address ``addr``, or None."""
        self._ensure()
        link = addr - self.bias
        i = bisect.bisect_right(self._starts, link) - 1
        if i < 0 or link >= self._ends[i]:
            return None
        file_index, line = self._rows[i]
        return self._files[file_index], line

    def _ensure(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        ranges: list[tuple[int, int, int, int]] = []
        file_ids: dict[str, int] = {}
        try:
            for start, end, name, line in _line_ranges(self.info, self._versions):
                fid = file_ids.setdefault(name, len(file_ids))
                ranges.append((start, end, fid, line))
        except Exception as exc:
            # Keep the sequences decoded before the damage; say why the rest is missing.
            self.error = f"{self.info.path}: .debug_line: {type(exc).__name__}: {exc}"
        ranges.sort()
        self._files = list(file_ids)
        for start, end, fid, line in ranges:
            if self._starts and start < self._ends[-1]:
                # Overlapping sequences (e.g. discarded COMDAT code left at address 0):
                # the earlier range keeps its addresses.
                if end <= self._ends[-1]:
                    continue
                start = self._ends[-1]
            self._starts.append(start)
            self._ends.append(end)
            self._rows.append((fid, line))


def _line_ranges(info: ElfInfo, versions: set[int]) -> Iterator[tuple[int, int, str, int]]:
    """(start, end, file, line) for every non-empty row range of every sequence; the line
    program versions met are added to ``versions``."""
    elf = open_elffile(info)
    if elf is None or not elf.has_dwarf_info(strict=True):
        return
    # follow_links=False: a hostile file must not make us open other files.
    dwarf = elf.get_dwarf_info(follow_links=False)
    for cu in dwarf.iter_CUs():
        program = dwarf.line_program_for_CU(cu)
        if program is None:
            continue
        top = cu.get_top_DIE()
        comp_dir_attr = top.attributes.get("DW_AT_comp_dir")
        comp_dir = _decode(comp_dir_attr.value) if comp_dir_attr is not None else ""
        versions.add(int(program["version"]))
        files = _file_names(program, comp_dir)
        prev: tuple[int, int, int] | None = None  # address, file, line of the open row
        for entry in program.get_entries():
            state = entry.state
            if state is None:
                continue
            if prev is not None and state.address > prev[0]:
                yield prev[0], state.address, _file(files, prev[1]), prev[2]
            prev = None if state.end_sequence else (state.address, state.file, state.line)


def _file_names(program: LineProgram, comp_dir: str) -> dict[int, str]:
    """File number -> path, numbered as the line program's ``file`` register counts."""
    version = int(program["version"])
    dirs = [_decode(d) for d in (program["include_directory"] or ())]
    entries = program["file_entry"] or ()
    out: dict[int, str] = {}
    first = 0 if version >= 5 else 1
    for n, entry in enumerate(entries, start=first):
        name = _decode(entry["name"])
        dir_index = int(entry["dir_index"] or 0)
        if version >= 5:
            directory = dirs[dir_index] if dir_index < len(dirs) else ""
        else:
            directory = comp_dir if dir_index == 0 else (
                dirs[dir_index - 1] if dir_index - 1 < len(dirs) else "")
        out[n] = os.path.join(comp_dir, directory, name)
    return out


def _file(files: dict[int, str], number: int) -> str:
    return files.get(number, "??")


def _decode(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)

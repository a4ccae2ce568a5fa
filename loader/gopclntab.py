"""Go's own symbol table (pclntab): function names and entries, pc -> file:line, the SP
delta at a pc, and the inlined calls at a pc, for every table layout since Go 1.2.

Sources, read in the Go 1.27.3 and 1.19.8 trees (layouts of older releases as the newer
readers describe them):

* ``src/debug/gosym/pclntab.go`` (``parsePclnTab``): the header check (magic, two zero
  pad bytes, pc quantum in {1, 2, 4}, pointer size in {4, 8}), the header words of each
  layout, the functab (pairs of pc and _func offset, then the end pc), the pc-value
  encoding (``step``: zig-zag value delta, then pc delta times the quantum) and the
  file tables (Go 1.2: an array of name offsets; Go 1.16+: per-CU ``cutab`` into
  ``filetab``).
* ``src/internal/abi/symtab.go``: the magics (0xfffffffb Go 1.2-1.15, 0xfffffffa
  1.16-1.17, 0xfffffff0 1.18-1.19, 0xfffffff1 1.20+), FuncFlag bits, FuncID numbering,
  PCDATA_/FUNCDATA_ indexes.
* ``src/runtime/runtime2.go`` (``_func``) and ``src/runtime/symtab.go`` (``pcvalue``,
  ``funcline1``, ``funcfile``, ``funcspdelta``, ``pcdatavalue``, ``funcdata``,
  ``moduledata``, ``Frames.Next``); ``src/runtime/symtabinl.go`` (``inlinedCall`` and
  ``inlineUnwinder``: an inlined frame's caller is found again from the
  ``PCDATA_InlTreeIndex`` table at ``entry + parentPc``, whose file:line is the call site).
* ``src/cmd/link/internal/ld/pcln.go``, ``data.go`` and ``symtab.go``: what the linker
  writes. In the Go 1.27 linker (the change came with Go 1.26) the header's textStart
  word is written as 0, as it needed a relocation, and the funcdata blob ``go:func.*``
  is the last part of the table, right after the _func records; in Go 1.18-1.25 it lies
  in .rodata, reachable through ``runtime.firstmoduledata.gofunc`` (or the symbol).
  moduledata has its own ``.go.module`` section (not in Go 1.19), and ``.go.func``
  holds closure descriptors (go:funcdesc), not funcdata. Nothing here tests the
  release number: both are recognised from the table itself.

Addresses: Go 1.18+ tables store function entries as offsets from ``runtime.text``; older
ones store link-time addresses. Internally everything is a link-time address; a
:class:`GoSymbols` adds its load bias. ``runtime.text`` (the link-time base) is taken,
in order, from ``runtime.firstmoduledata.text`` (found by its pointer to the table and
checked against ``minpc``), the header's textStart word (Go 1.18-1.25 only), the
``runtime.text`` ELF symbol, then the ``.text`` section; in the linker's internal mode
these agree, while in external (cgo) links ``.text`` starts with C code and only the
first three are right.

Every read is bounds-checked: a damaged table raises :class:`PclntabError`, never
IndexError or struct.error; and cross-checks (a sorted functab, _func records repeating
their functab entry, names and pc-value tables inside their parts of the table,
well-formed inline records) turn damage into that error rather than a wrong answer
wherever the table has redundancy to check.

Not supported: big-endian tables (refused: their magic does not read as one); several
text sections (moduledata.textsectmap; the linker splits text only on ppc64 and
darwin/arm64 external links); inline trees of Go 1.2-1.11 tables, whose records had
another shape (the Go 1.12-1.15 shape is assumed, and records are checked as read).
"""

from __future__ import annotations

import bisect
import operator
import struct
import sys
import weakref
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum, IntFlag
from typing import Generic, TypeVar

from loader.elf import (
    PF_W,
    PF_X,
    SHT_NOBITS,
    SHT_NULL,
    ElfClass,
    ElfInfo,
    Machine,
    section_headers,
)
from loader.errors import PclntabError

# Magics (internal/abi/symtab.go), by the layout name used throughout this module.
MAGIC_GO12 = 0xFFFFFFFB
MAGIC_GO116 = 0xFFFFFFFA
MAGIC_GO118 = 0xFFFFFFF0
MAGIC_GO120 = 0xFFFFFFF1
_VERSIONS = {MAGIC_GO12: "1.2", MAGIC_GO116: "1.16", MAGIC_GO118: "1.18", MAGIC_GO120: "1.20"}

# Section names the Go linker gives the table: .gopclntab, or .data.rel.ro.gopclntab in a
# PIE whose table holds a relocated word (Go 1.19's textStart; Go 1.27 has none and uses
# .gopclntab). An external (cgo) link may merge it into another section: see _scan.
SECTION_NAMES = (".gopclntab", ".data.rel.ro.gopclntab")

# internal/abi/symtab.go (the same values in Go 1.19's runtime/symtab.go).
PCDATA_UNSAFE_POINT = 0
PCDATA_STACK_MAP_INDEX = 1
PCDATA_INL_TREE_INDEX = 2
FUNCDATA_INL_TREE = 3

# pcquantum per machine (cmd/internal/sys/arch.go MinLC): checked when a table is found
# by scanning, so a stray magic in another file is not taken for a table.
_QUANTUM = {Machine.X86_64: 1, Machine.I386: 1, Machine.ARM: 4, Machine.AARCH64: 4}

_NO_FUNCDATA = 0xFFFFFFFF  # runtime/symtab.go funcdata: ^uint32(0) means "none"
_BUILDINFO_MAGIC = b"\xff Go buildinf:"  # debug/buildinfo's magic: marks a Go binary
_MAX_INLINE_DEPTH = 1024  # a longer chain can only come from a cycle in a damaged table
_CACHE_LIMIT = 16384  # memoised pc-value tables / pcs, first-in first-out beyond this
_SMALL_GROUP = 4  # functions sharing a special (non-wrapper) funcID: one, or two with plugins

_V = TypeVar("_V")


class FuncID(IntEnum):
    """Special functions, numbered as Go 1.27 numbers them (internal/abi/symtab.go).

    Binaries store their own toolchain's numbering (e.g. goexit is 7 in Go 1.19, 8 in
    Go 1.27); :class:`GoSymbols` translates. IDs that no longer exist get values above
    0x7f; UNKNOWN marks a special ID of the binary that elftrace cannot name.
    """

    NORMAL = 0
    ABORT = 1
    ASMCGOCALL = 2
    ASYNC_PREEMPT = 3
    CGOCALLBACK = 4
    CORO_START = 5
    DEBUG_CALL_V2 = 6
    GC_BG_MARK_WORKER = 7
    GOEXIT = 8
    GOGO = 9
    GOPANIC = 10
    HANDLE_ASYNC_EVENT = 11
    MCALL = 12
    MORESTACK = 13
    MSTART = 14
    PANICWRAP = 15
    RT0_GO = 16
    RUNTIME_MAIN = 17
    RUN_FINALIZERS = 18
    RUN_CLEANUPS = 19
    SIGPANIC = 20
    SYSTEMSTACK = 21
    SYSTEMSTACK_SWITCH = 22
    WRAPPER = 23
    # Special functions of releases before Go 1.19 with no current ID, known by name only.
    JMPDEFER = 0x80
    EXTERNAL_THREAD_HANDLER = 0x81
    DEBUG_CALL_V1 = 0x82
    BGSWEEP = 0x83
    FORCEGC_HELPER = 0x84
    TIMERPROC = 0x85
    UNKNOWN = 0xFF


class FuncFlag(IntFlag):
    """_func.flag bits: the same values in Go 1.19 (runtime/symtab.go funcFlag_*) and
    1.27 (internal/abi/symtab.go). The byte is padding, so 0, in tables before Go 1.17,
    whose runtime had no flags."""

    TOPFRAME = 1
    SPWRITE = 2
    ASM = 4


# cmd/internal/objabi/funcid.go (1.19 and 1.27), plus names of older releases: the
# runtime functions each special ID is given to. The compiler assigns IDs by these
# names, so they identify the binary's numbering whatever its Go version.
_SPECIAL_NAMES: dict[str, FuncID] = {
    "runtime.abort": FuncID.ABORT,
    "runtime.asmcgocall": FuncID.ASMCGOCALL,
    "runtime.asyncPreempt": FuncID.ASYNC_PREEMPT,
    "runtime.cgocallback": FuncID.CGOCALLBACK,
    "runtime.cgocallback_gofunc": FuncID.CGOCALLBACK,
    "runtime.corostart": FuncID.CORO_START,
    "runtime.debugCallV2": FuncID.DEBUG_CALL_V2,
    "runtime.debugCallV1": FuncID.DEBUG_CALL_V1,
    "runtime.gcBgMarkWorker": FuncID.GC_BG_MARK_WORKER,
    "runtime.goexit": FuncID.GOEXIT,
    "runtime.gogo": FuncID.GOGO,
    "runtime.gopanic": FuncID.GOPANIC,
    "runtime.handleAsyncEvent": FuncID.HANDLE_ASYNC_EVENT,
    "runtime.main": FuncID.RUNTIME_MAIN,
    "runtime.mcall": FuncID.MCALL,
    "runtime.morestack": FuncID.MORESTACK,
    "runtime.mstart": FuncID.MSTART,
    "runtime.panicwrap": FuncID.PANICWRAP,
    "runtime.rt0_go": FuncID.RT0_GO,
    "runtime.runFinalizers": FuncID.RUN_FINALIZERS,
    "runtime.runfinq": FuncID.RUN_FINALIZERS,
    "runtime.runCleanups": FuncID.RUN_CLEANUPS,
    "runtime.sigpanic": FuncID.SIGPANIC,
    "runtime.systemstack": FuncID.SYSTEMSTACK,
    "runtime.systemstack_switch": FuncID.SYSTEMSTACK_SWITCH,
    "runtime.jmpdefer": FuncID.JMPDEFER,
    "runtime.externalthreadhandler": FuncID.EXTERNAL_THREAD_HANDLER,
    "runtime.bgsweep": FuncID.BGSWEEP,
    "runtime.forcegchelper": FuncID.FORCEGC_HELPER,
    "runtime.timerproc": FuncID.TIMERPROC,
    # "Don't show in call stack but otherwise not special" (objabi/funcid.go).
    "runtime.deferreturn": FuncID.WRAPPER,
    "runtime.runOpenDeferFrame": FuncID.WRAPPER,
    "runtime.deferCallSave": FuncID.WRAPPER,
    "runtime.reflectcallSave": FuncID.WRAPPER,
}


@dataclass(frozen=True, slots=True)
class Func:
    """One function of the table, at the addresses of the :class:`GoSymbols` it came from.

    ``end`` is the next function's entry (alignment padding included), as functab gives
    it. ``func_id`` is in :class:`FuncID` numbering, ``raw_func_id`` as stored.
    ``start_line`` (line of the ``func`` keyword / TEXT directive) exists from Go 1.20.
    """

    index: int
    entry: int
    end: int
    name: str
    func_id: int
    flag: int
    start_line: int
    args: int
    deferreturn: int
    raw_func_id: int

    def contains(self, pc: int) -> bool:
        return self.entry <= pc < self.end


@dataclass(frozen=True, slots=True)
class InlinedCall:
    """One inlined (logical) frame: the inlined function, and the position inside it."""

    name: str
    func_id: int
    file: str
    line: int
    start_line: int = 0


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where a table version keeps things (debug/gosym parsePclnTab, runtime2.go _func)."""

    version: str
    header_words: int  # pointer-sized words after the 8-byte magic/pad/quantum/ptrsize
    relative_entries: bool  # Go 1.18+: 32-bit offsets from runtime.text
    func_struct: struct.Struct  # the fixed part of _func
    has_cu: bool
    has_start_line: bool
    inline_record: int  # bytes per inlinedCall


_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")


def _layout(magic: int, ptr: int) -> _Layout:
    p = "Q" if ptr == 8 else "I"
    if magic == MAGIC_GO120:
        # entryOff nameOff args deferreturn pcsp pcfile pcln npcdata cuOffset startLine
        # funcID flag _ nfuncdata
        return _Layout("1.20", 8, True, struct.Struct("<IiiIIIIIIiBBxB"), True, True, 16)
    if magic == MAGIC_GO118:
        return _Layout("1.18", 8, True, struct.Struct("<IiiIIIIIIBBxB"), True, False, 20)
    if magic == MAGIC_GO116:
        # Go 1.16 has a pad byte where 1.17 added flag: it reads as 0 there.
        return _Layout("1.16", 7, False, struct.Struct(f"<{p}iiIIIIIIBBxB"), True, False, 20)
    # Go 1.2-1.15 (Go 1.10+ field meanings; before 1.10 the last word was nfuncdata, so
    # funcID / nfuncdata are checked by name before being trusted, see _id_map).
    return _Layout("1.2", 1, False, struct.Struct(f"<{p}iiIIIIIBBxB"), False, False, 20)


@dataclass(frozen=True, slots=True)
class _RawFunc:
    """A decoded _func record; ``off`` is its offset in the table."""

    off: int
    entry: int  # link-time address
    nameoff: int
    args: int
    deferreturn: int
    pcsp: int
    pcfile: int
    pcln: int
    npcdata: int
    cu_offset: int
    start_line: int
    raw_func_id: int
    flag: int
    nfuncdata: int


@dataclass(frozen=True, slots=True)
class _Region:
    """A part of the table: [start, end) in table offsets."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class _Location:
    """Where the table lies: ``buf[offset:offset + size]`` at link-time address ``vaddr``."""

    offset: int
    size: int
    vaddr: int | None


class _PCValues:
    """A pc-value table decoded so far: value ``vals[i]`` holds up to pc offset
    ``ends[i]`` (from the function entry); ``pos``/``pc``/``val`` resume decoding."""

    __slots__ = ("done", "ends", "pc", "pos", "val", "vals")

    def __init__(self, pos: int) -> None:
        self.pos = pos
        self.pc = 0
        self.val = -1
        self.ends: list[int] = []
        self.vals: list[int] = []
        self.done = False


class _Table:
    """One parsed pclntab. Addresses are link-time; offsets are from the table start."""

    def __init__(self, buf: bytes, loc: _Location, info: ElfInfo | None,
                 text_start: int | None) -> None:
        self.buf = buf
        self.base = loc.offset
        self.size = loc.size
        self.vaddr = loc.vaddr
        self.info = info
        self.where = f"{info.path}: " if info is not None else ""
        if self.size < 16:
            raise self.error(f"pclntab of {self.size} bytes is too short for a header")
        b = buf[self.base:self.base + 8]
        magic = _U32.unpack_from(b)[0]
        if magic not in _VERSIONS:
            raise self.error(f"pclntab magic {magic:#010x} is not a known Go table version")
        if b[4] != 0 or b[5] != 0:
            raise self.error("pclntab header pad bytes are not zero")
        if b[6] not in (1, 2, 4):
            raise self.error(f"pclntab pc quantum {b[6]} is not 1, 2 or 4")
        if b[7] not in (4, 8):
            raise self.error(f"pclntab pointer size {b[7]} is not 4 or 8")
        self.magic = magic
        self.quantum = b[6]
        self.ptr = b[7]
        self.layout = _layout(magic, self.ptr)
        if info is not None:
            want_ptr = 8 if info.elf_class is ElfClass.ELF64 else 4
            if self.ptr != want_ptr:
                raise self.error(f"pclntab pointer size {self.ptr} does not match the "
                                 f"{want_ptr * 8}-bit ELF file")
            want_q = _QUANTUM.get(info.machine)  # type: ignore[call-overload]
            if want_q is not None and self.quantum != want_q:
                raise self.error(f"pclntab pc quantum {self.quantum} is wrong for "
                                 f"this machine (expected {want_q})")
        self.uptr = struct.Struct("<Q" if self.ptr == 8 else "<I")
        self.fs = 4 if self.layout.relative_entries else self.ptr  # functab field size
        self._parse_header()
        self._entries: list[int] | None = None
        self._funcoffs: list[int] | None = None
        self._raw_cache: dict[int, _RawFunc] = {}
        self._pcv_cache: dict[int, _PCValues] = {}
        self._names: dict[int, str] = {}
        self._files: dict[int, str] = {}
        self._by_nameoff: dict[int, list[int]] | None = None
        self._idmap: dict[int, int] | None = None
        self._id_trusted = True
        self._moduledata: list[int] | None = None
        self._moduledata_done = False
        self._gofunc: int | None = None
        self._gofunc_done = False
        self.symbols: dict[int, GoSymbols] = {}
        self.text_base = 0  # set just below; moduledata checks use stored offsets only
        self.text_base_known = True
        self.text_base = self._resolve_text_base(text_start)
        self._check_structure()

    # Errors and bounds-checked reads -------------------------------------------------

    def error(self, msg: str) -> PclntabError:
        return PclntabError(f"{self.where}{msg}")

    def u32(self, off: int) -> int:
        if off < 0 or off + 4 > self.size:
            raise self.error(f"read at {off:#x} lies outside the pclntab ({self.size:#x} bytes)")
        return int(_U32.unpack_from(self.buf, self.base + off)[0])

    def word(self, off: int) -> int:
        if off < 0 or off + self.ptr > self.size:
            raise self.error(f"read at {off:#x} lies outside the pclntab ({self.size:#x} bytes)")
        return int(self.uptr.unpack_from(self.buf, self.base + off)[0])

    def cstring(self, region: _Region, off: int, what: str) -> str:
        """The NUL-terminated string at ``region.start + off``, inside the region."""
        start = region.start + off
        if off < 0 or start >= region.end:
            raise self.error(f"{what} offset {off:#x} lies outside its table")
        end = self.buf.find(b"\0", self.base + start, self.base + region.end)
        if end < 0:
            raise self.error(f"{what} at {off:#x} is not NUL-terminated inside its table")
        return self.buf[self.base + start:end].decode("utf-8", errors="replace")

    # Header ----------------------------------------------------------------------------

    def _parse_header(self) -> None:
        lay, ptr = self.layout, self.ptr
        hdr = 8 + lay.header_words * ptr
        if self.size < hdr:
            raise self.error(f"pclntab of {self.size} bytes is too short for its header")
        words = [self.word(8 + i * ptr) for i in range(lay.header_words)]
        self.nfunc = words[0]
        whole = _Region(0, self.size)
        self.header_text_start = 0
        if lay.version == "1.2":
            # One table: functab right after the header, then a uint32 offset of the file
            # array (its count first); names and pc-value tables anywhere in it.
            self.funcnametab = self.pctab = self.pcln = whole
            self.cutab = _Region(0, 0)
            self.functab = 8 + ptr
            ft_size = self._check_count()
            fileoff = self.u32(self.functab + ft_size)
            self.nfiles = self.u32(fileoff)
            if fileoff + 4 * self.nfiles > self.size:
                raise self.error(f"pclntab file table at {fileoff:#x} with {self.nfiles} "
                                 "entries lies past the end of the table")
            self.filetab = _Region(fileoff, fileoff + 4 * self.nfiles)
            return
        self.nfiles = words[1]
        if lay.version == "1.16":
            offs = words[2:7]
        else:
            self.header_text_start = words[2]
            offs = words[3:8]
        for o in offs:
            if not hdr <= o <= self.size:
                raise self.error(f"pclntab header offset {o:#x} lies outside the table "
                                 f"({hdr:#x}..{self.size:#x})")

        # Each part runs to the next one that starts after it (the linker writes them in
        # header order, pcln.go generatePCHeader), the last to the end of the table.
        def region(o: int) -> _Region:
            later = [x for x in offs if x > o]
            return _Region(o, min(later) if later else self.size)

        self.funcnametab, self.cutab, self.filetab, self.pctab, self.pcln = (
            region(o) for o in offs)
        self.functab = self.pcln.start
        self._check_count()

    def _check_count(self) -> int:
        """Size of the functab ((nfunc pc/offset pairs and the end pc), checked to fit."""
        if self.nfunc == 0:
            raise self.error("pclntab lists no functions")
        ft_size = (2 * self.nfunc + 1) * self.fs
        if self.functab + ft_size > self.pcln.end:
            raise self.error(f"pclntab function table ({self.nfunc} functions) runs past "
                             "the end of the table")
        return ft_size

    def _check_structure(self) -> None:
        """Cheap consistency checks: a few functab entries are sorted and agree with the
        _func records they point at, whose names are strings of the name table."""
        n = self.nfunc
        idx = sorted({i for i in (0, 1, n // 2, n - 2, n - 1) if 0 <= i < n})
        prev = -1
        for i in idx:
            pc = self.functab_pc(i)
            if pc < prev:
                raise self.error("pclntab function table is not sorted by address")
            prev = pc
            raw = self.raw(i)
            if not self.name_at(raw.nameoff):
                raise self.error(f"pclntab function {i} has an empty name")
        if self.functab_pc(n) < self.functab_pc(n - 1):
            raise self.error("pclntab end address lies before the last function")

    # Text base, moduledata ----------------------------------------------------------

    def _resolve_text_base(self, given: int | None) -> int:
        """Link-time runtime.text: the first candidate (see _text_candidates) that lies
        in an executable segment."""
        if given is not None:
            return given
        for cand in self._text_candidates():
            if self.info is None or _is_exec_address(self.info, cand):
                return cand
        if not self.layout.relative_entries:
            # Entries are absolute; the base only anchors a caller's text_start.
            return self.functab_raw_pc(0)
        # Entries become offsets from 0 until a caller says where runtime.text is.
        self.text_base_known = False
        return 0

    def require_text_base(self, text_start: int | None) -> None:
        if text_start is None and not self.text_base_known:
            raise self.error("cannot tell where runtime.text is (a Go 1.26+ table does not "
                             "record it, and no moduledata, symbol or .text says): pass "
                             "text_start")

    def _text_candidates(self) -> Iterator[int]:
        # runtime.firstmoduledata.text: right for every link mode (moduledata.text is
        # what the runtime itself adds to entry offsets, symtab.go textAddr).
        md = self.moduledata()
        if md is not None:
            yield md[22] if self.layout.version != "1.2" else md[12]
        # pcHeader.textStart (Go 1.18-1.25): runtime.text's link-time address.
        if self.layout.relative_entries and self.header_text_start:
            yield self.header_text_start
        if self.info is not None:
            sym = _symbol_value(self.info, "runtime.text")
            if sym is not None:
                yield sym
            # Internal linking puts runtime.text first in .text; external (cgo) linking
            # puts C code before it, but then the candidates above exist.
            sec = _sections(self.info).get(".text")
            if sec is not None:
                yield sec[0]

    def moduledata(self) -> list[int] | None:
        """The first words of runtime.firstmoduledata, found by its pointer to this table
        (runtime/symtab.go moduledata: pcHeader, then the funcnametab slice, ...)."""
        if self._moduledata_done:
            return self._moduledata
        self._moduledata_done = True
        if self.info is None or self.vaddr is None:
            return None
        info, ptr = self.info, self.ptr
        needle = self.uptr.pack(self.vaddr)
        nwords = 64
        loads = sorted(info.loads, key=lambda p: (not p.flags & PF_W, p.vaddr))
        for seg in loads:
            lo, hi = seg.offset, seg.offset + seg.filesz
            pos = info.data.find(needle, lo, hi)
            hits = 0
            while pos >= 0 and hits < 64:
                hits += 1
                if (pos - lo) % ptr == 0 and pos + nwords * ptr <= hi:
                    words = [int(self.uptr.unpack_from(info.data, pos + i * ptr)[0])
                             for i in range(nwords)]
                    if self._is_moduledata(words):
                        self._moduledata = words
                        return words
                pos = info.data.find(needle, pos + 1, hi)
        return None

    def _is_moduledata(self, w: list[int]) -> bool:
        v = self.vaddr
        assert v is not None
        if self.layout.version == "1.2":
            # pclntable []byte, ftab []functab, filetab []uint32, findfunctab, minpc,
            # maxpc, text, etext (Go 1.5-1.15).
            text_ok = w[12] <= w[10] == self.functab_raw_pc(0)
            return w[3] == v + self.functab and text_ok
        names = self.funcnametab
        # funcnametab's slice: its start, and a length up to the next part (which may be
        # aligned after it).
        if w[1] != v + names.start or not 0 < w[2] <= names.end - names.start:
            return False
        if w[4] != v + self.cutab.start:
            return False
        text, minpc = w[22], w[20]
        if self.layout.relative_entries:
            return text + self.functab_raw_pc(0) == minpc
        return text <= minpc == self.functab_raw_pc(0)

    # Functab ---------------------------------------------------------------------------

    def functab_raw_pc(self, i: int) -> int:
        """functab pc field i as stored (an offset in Go 1.18+)."""
        off = self.functab + 2 * i * self.fs
        return self.u32(off) if self.fs == 4 else self.word(off)

    def functab_pc(self, i: int) -> int:
        raw = self.functab_raw_pc(i)
        return self.text_base + raw if self.layout.relative_entries else raw

    def funcoff(self, i: int) -> int:
        off = self.functab + (2 * i + 1) * self.fs
        return self.u32(off) if self.fs == 4 else self.word(off)

    def entries(self) -> list[int]:
        """All n+1 functab pcs (link-time), checked sorted; built once."""
        if self._entries is None:
            n = self.nfunc
            count = 2 * n + 1
            code = "I" if self.fs == 4 else "Q"
            if array(code).itemsize != self.fs:  # pragma: no cover - exotic platforms
                code = "L"
            arr = array(code)
            start = self.base + self.functab
            arr.frombytes(self.buf[start:start + count * self.fs])
            if sys.byteorder == "big":  # pragma: no cover - tables are little-endian
                arr.byteswap()
            pcs = arr[0::2].tolist()
            if self.layout.relative_entries:
                base = self.text_base
                pcs = [base + p for p in pcs]
            if any(map(operator.gt, pcs, pcs[1:])):
                raise self.error("pclntab function table is not sorted by address")
            self._funcoffs = arr[1::2].tolist()
            self._entries = pcs
        return self._entries

    def find(self, pc: int) -> int | None:
        """Index of the function whose [entry, next entry) holds link-time ``pc``."""
        ent = self.entries()
        i = bisect.bisect_right(ent, pc) - 1
        if i < 0 or i >= self.nfunc:
            return None
        return i

    # _func records ---------------------------------------------------------------------

    def raw(self, i: int) -> _RawFunc:
        cached = self._raw_cache.get(i)
        if cached is not None:
            return cached
        if not 0 <= i < self.nfunc:
            raise self.error(f"function index {i} out of range")
        lay = self.layout
        rel = self.funcoff(i)
        off = self.pcln.start + rel
        st = lay.func_struct
        if rel < 0 or off + st.size > self.pcln.end:
            raise self.error(f"_func record {i} at {off:#x} lies outside the table")
        f = st.unpack_from(self.buf, self.base + off)
        if lay.version == "1.2":
            (entry, nameoff, args, defret, pcsp, pcfile, pcln, npcdata, fid, flag,
             nfd) = f
            cu, start_line = 0, 0
        elif lay.has_start_line:
            (entry, nameoff, args, defret, pcsp, pcfile, pcln, npcdata, cu, start_line,
             fid, flag, nfd) = f
        else:
            (entry, nameoff, args, defret, pcsp, pcfile, pcln, npcdata, cu, fid, flag,
             nfd) = f
            start_line = 0
        # The record repeats its entry (linker pcln.go writeFuncs): a mismatch means the
        # functab points at the wrong place.
        if entry != self.functab_raw_pc(i):
            raise self.error(f"_func record {i} entry {entry:#x} does not match the function "
                             f"table ({self.functab_raw_pc(i):#x})")
        if lay.relative_entries:
            entry += self.text_base
        tail = self._trailer_size(off + st.size, npcdata, nfd)
        if off + st.size + tail > self.pcln.end:
            raise self.error(f"_func record {i} pcdata/funcdata run past the table")
        rec = _RawFunc(off, entry, nameoff, args, defret, pcsp, pcfile, pcln, npcdata, cu,
                       start_line, fid, flag if lay.version != "1.2" else 0, nfd)
        if len(self._raw_cache) > _CACHE_LIMIT:
            self._raw_cache.clear()
        self._raw_cache[i] = rec
        return rec

    def _trailer_size(self, after: int, npcdata: int, nfuncdata: int) -> int:
        size = 4 * npcdata
        if self.layout.relative_entries:
            return size + 4 * nfuncdata
        if nfuncdata and self.ptr == 8 and (self._abs(after + size)) & 4:
            size += 4  # funcdata pointers are pointer-aligned (runtime funcdata, Go <1.18)
        return size + self.ptr * nfuncdata

    def _abs(self, off: int) -> int:
        """Alignment reference for a table offset: its address if known (the table
        itself is pointer-aligned, so the offset serves otherwise)."""
        return (self.vaddr or 0) + off

    def name_at(self, nameoff: int) -> str:
        name = self._names.get(nameoff)
        if name is None:
            name = self.cstring(self.funcnametab, nameoff, "function name")
            self._names[nameoff] = name
        return name

    def pcdata_off(self, raw: _RawFunc, table: int) -> int:
        if table >= raw.npcdata:
            return 0
        return self.u32(raw.off + self.layout.func_struct.size + 4 * table)

    def funcdata(self, raw: _RawFunc, i: int) -> int | None:
        """Link-time address of funcdata ``i`` of a function, or None."""
        if i >= raw.nfuncdata:
            return None
        p = raw.off + self.layout.func_struct.size + 4 * raw.npcdata
        if self.layout.relative_entries:
            off = self.u32(p + 4 * i)
            if off == _NO_FUNCDATA:
                return None
            base = self.gofunc()
            if base is None:
                raise self.error("cannot locate go:func.* (the funcdata blob) to read "
                                 "inlining data")
            return base + off
        if self.ptr == 8 and self._abs(p) & 4:
            p += 4
        addr = self.word(p + self.ptr * i)
        return addr or None

    # pc-value tables -------------------------------------------------------------------

    def pcvalue(self, off: int, entry: int, pc: int) -> int:
        """runtime pcvalue (non-strict): the value at link-time ``pc`` of the table at
        ``off`` for a function starting at ``entry``; -1 if none (off 0, or pc past the
        end of the table, e.g. in the padding after the function)."""
        rel = pc - entry
        if off == 0 or rel < 0:
            return -1
        tab = self._pcvalues(off)
        ends = tab.ends
        if not tab.done and (not ends or ends[-1] <= rel):
            self._decode_until(tab, rel, off)
        i = bisect.bisect_right(ends, rel)
        return tab.vals[i] if i < len(ends) else -1

    def pcvalues(self, off: int) -> list[int]:
        """Every value of the table at ``off`` (``off`` != 0)."""
        tab = self._pcvalues(off)
        if not tab.done:
            self._decode_until(tab, 1 << 62, off)
        return list(tab.vals)

    def _pcvalues(self, off: int) -> _PCValues:
        tab = self._pcv_cache.get(off)
        if tab is None:
            if self.pctab.start + off >= self.pctab.end:
                raise self.error(f"pc-value table offset {off:#x} lies outside the pc table")
            tab = _PCValues(self.base + self.pctab.start + off)
            if len(self._pcv_cache) >= _CACHE_LIMIT:
                self._pcv_cache.pop(next(iter(self._pcv_cache)))
            self._pcv_cache[off] = tab
        return tab

    def _decode_until(self, tab: _PCValues, rel: int, off: int) -> None:
        """Decode more of a table, until a step ends beyond ``rel`` or the table ends.
        runtime step(): a zig-zag value delta, then a pc delta in quanta, both varints;
        a zero value delta ends the table, except at the very first step (pc still at
        entry). Decoding stops early like the runtime's scan, and resumes from there on
        a later lookup further into the function."""
        buf = self.buf
        limit = self.base + self.pctab.end
        p, pc, val = tab.pos, tab.pc, tab.val
        ends, vals = tab.ends, tab.vals
        q = self.quantum
        while True:
            # Single-byte varints are the common case (runtime step() says ~70%), so
            # they are read inline; longer ones go through _varint.
            if p >= limit:
                raise self._overrun(off)
            uv = buf[p]
            if uv & 0x80:
                uv, p = self._varint(buf, p, limit, off)
            else:
                p += 1
            if uv == 0 and pc != 0:
                tab.done = True
                break
            val += -(uv & 1) ^ (uv >> 1)
            if p >= limit:
                raise self._overrun(off)
            pd = buf[p]
            if pd & 0x80:
                pd, p = self._varint(buf, p, limit, off)
            else:
                p += 1
            pc += (pd * q) & 0xFFFFFFFF
            ends.append(pc)
            vals.append(val)
            if pc > rel:
                break
        tab.pos, tab.pc, tab.val = p, pc, val

    def _overrun(self, off: int) -> PclntabError:
        return self.error(f"pc-value table at {off:#x} runs past the end of the pc table")

    def _varint(self, buf: bytes, p: int, limit: int, off: int) -> tuple[int, int]:
        v = 0
        shift = 0
        while True:
            if p >= limit:
                raise self._overrun(off)
            b = buf[p]
            p += 1
            v |= (b & 0x7F) << shift
            if not b & 0x80:
                return v & 0xFFFFFFFF, p
            shift += 7
            if shift > 28:
                raise self.error(f"pc-value table at {off:#x} has an overlong varint")

    # Files ----------------------------------------------------------------------------

    def file_name(self, raw: _RawFunc, fileno: int) -> str:
        """runtime funcfile (Go 1.16+) or the Go 1.2 file array; "?" where Go says so."""
        if self.layout.version == "1.2":
            if fileno <= 0 or fileno >= self.nfiles:
                return "?"
            key = fileno
            cached = self._files.get(key)
            if cached is None:
                nameoff = self.u32(self.filetab.start + 4 * fileno)
                cached = self.cstring(_Region(0, self.size), nameoff, "file name")
                self._files[key] = cached
            return cached
        if raw.cu_offset == _NO_FUNCDATA:
            return "?"
        idx = self.cutab.start + 4 * (raw.cu_offset + fileno)
        if idx + 4 > self.cutab.end:
            raise self.error(f"file {fileno} of CU {raw.cu_offset} lies outside the CU table")
        fileoff = self.u32(idx)
        if fileoff == _NO_FUNCDATA:
            return "?"
        cached = self._files.get(fileoff)
        if cached is None:
            cached = self.cstring(self.filetab, fileoff, "file name")
            self._files[fileoff] = cached
        return cached

    def file_line(self, raw: _RawFunc, pc: int) -> tuple[str, int]:
        """runtime funcline1 (non-strict), at link-time ``pc``."""
        fileno = self.pcvalue(raw.pcfile, raw.entry, pc)
        line = self.pcvalue(raw.pcln, raw.entry, pc)
        if fileno == -1 or line == -1:
            return "?", 0
        if self.layout.version != "1.2" and fileno >= self.filetab.end - self.filetab.start:
            return "?", 0  # funcline1: int(fileno) >= len(datap.filetab)
        return self.file_name(raw, fileno), line

    # Names ------------------------------------------------------------------------------

    def find_name(self, name: str) -> list[int]:
        """Indexes of the functions called ``name``: the name's occurrences in the name
        table (bytes.find, no decoding of other names), matched to the functions' name
        offsets."""
        if self._by_nameoff is None:
            self.entries()
            assert self._funcoffs is not None
            at = self.base + self.pcln.start + (4 if self.layout.relative_entries else self.ptr)
            end = self.base + self.pcln.end - 4
            unpack, buf = _U32.unpack_from, self.buf
            m: dict[int, list[int]] = {}
            for i, rel in enumerate(self._funcoffs):
                if at + rel <= end:
                    m.setdefault(unpack(buf, at + rel)[0], []).append(i)
            self._by_nameoff = m
        region = self.funcnametab
        want = name.encode() + b"\0"
        lo, hi = self.base + region.start, self.base + region.end
        found: list[int] = []
        pos = self.buf.find(want, lo, hi)
        while pos >= 0:
            if pos == lo or self.buf[pos - 1] == 0:
                found.extend(self._by_nameoff.get(pos - lo, []))
            pos = self.buf.find(want, pos + 1, hi)
        return sorted(i for i in found if self.name_at(self.raw(i).nameoff) == name)

    # FuncID numbering ----------------------------------------------------------------

    def canonical_id(self, raw_id: int, name: str) -> int:
        idmap = self.id_map()
        if not self._id_trusted:
            return int(_SPECIAL_NAMES.get(name, FuncID.NORMAL))
        if raw_id == 0:
            return int(FuncID.NORMAL)
        return idmap.get(raw_id, int(FuncID.UNKNOWN))

    def id_map(self) -> dict[int, int]:
        """The binary's funcID numbers -> FuncID, learnt from the functions the compiler
        gives each special ID by name (objabi/funcid.go); the numbering differs between
        releases under the same table magic. Names are decoded only for the numbers few
        functions share."""
        if self._idmap is not None:
            return self._idmap
        groups: dict[int, list[int]] = {}
        id_at = self.layout.func_struct.size - 4  # funcID, flag, pad, nfuncdata end it
        self.entries()
        assert self._funcoffs is not None
        for i, rel in enumerate(self._funcoffs):
            off = self.pcln.start + rel + id_at
            if 0 <= off < self.pcln.end:
                rid = self.buf[self.base + off]
                if rid:
                    groups.setdefault(rid, []).append(i)
        idmap: dict[int, int] = {}
        big = [rid for rid, members in groups.items() if len(members) > _SMALL_GROUP]
        for rid, members in groups.items():
            if rid in big:
                continue
            found = {_SPECIAL_NAMES.get(self.name_at(self.raw(i).nameoff)) for i in members}
            found.discard(None)
            if FuncID.WRAPPER in found:
                # runtime.deferreturn; the ABI wrappers of assembly functions in the same
                # group carry those functions' special names.
                idmap[rid] = int(FuncID.WRAPPER)
            elif len(found) == 1:
                idmap[rid] = int(found.pop())  # type: ignore[arg-type]
            elif found:
                idmap = {}  # unrelated functions share the number: no funcID byte
                break
        # Only the wrapper ID is shared by many functions (every autogenerated one), and
        # it ends every release's list. Before Go 1.10 this byte belonged to nfuncdata:
        # goexit's number is then shared by many functions, and nothing is trusted.
        top = max(idmap, default=0)
        trusted = (FuncID.GOEXIT in idmap.values() and len(set(idmap.values())) == len(idmap)
                   and len(big) <= 1 and all(r > top for r in big))
        if trusted and FuncID.WRAPPER not in idmap.values():
            unnamed = [r for r in groups if r not in idmap]
            if unnamed and max(unnamed) > top:
                idmap[max(unnamed)] = int(FuncID.WRAPPER)
        self._id_trusted = trusted
        self._idmap = idmap if trusted else {}
        return self._idmap

    # Inlining --------------------------------------------------------------------------

    def inline_record(self, raw: _RawFunc, tree: int, ix: int) -> tuple[int, int, int, int]:
        """(raw funcID, nameoff, parentPc, startLine) of inline tree entry ``ix``."""
        size = self.layout.inline_record
        data = self.read_image(tree + ix * size, size)
        if self.layout.version == "1.20":
            fid, p1, p2, p3, nameoff, parent_pc, start_line = struct.unpack("<BBBBiii", data)
            if p1 or p2 or p3:
                raise self.error(f"inline tree entry {ix} at {tree:#x} has non-zero padding")
        else:
            parent, fid, pad, _file, _line, nameoff, parent_pc = struct.unpack(
                "<hBBiiii", data)
            start_line = 0
            if pad or not -1 <= parent < ix:
                raise self.error(f"inline tree entry {ix} at {tree:#x} is malformed")
        if nameoff < 0 or parent_pc < 0:
            raise self.error(f"inline tree entry {ix} at {tree:#x} is malformed")
        return fid, nameoff, parent_pc, start_line

    def read_image(self, vaddr: int, size: int) -> bytes:
        """Bytes at a link-time address, from the table itself or the file's PT_LOADs."""
        if self.vaddr is not None and self.vaddr <= vaddr and vaddr + size <= self.vaddr + \
                self.size:
            start = self.base + vaddr - self.vaddr
            return self.buf[start:start + size]
        if self.info is not None:
            off = self.info.vaddr_to_offset(vaddr, size)
            if off is not None:
                return self.info.data[off:off + size]
        raise self.error(f"inlining data at {vaddr:#x} is not in the file")

    def gofunc(self) -> int | None:
        """Link-time address of go:func.* (Go 1.18+), checked against inline trees."""
        if self._gofunc_done:
            return self._gofunc
        self._gofunc_done = True
        samples = self._inline_samples()
        if not samples:
            return None
        for cand in self._gofunc_candidates():
            # go:func.* is read-only data of the image: a stray word below the first
            # PT_LOAD (arm64 links at 0x10000) can otherwise fit the samples by chance.
            mapped = self.info is None or self.info.vaddr_to_offset(cand, 1) is not None
            if mapped and self._gofunc_fits(cand, samples):
                self._gofunc = cand
                return cand
        return None

    def _gofunc_candidates(self) -> Iterator[int]:
        md = self.moduledata()
        if md is not None:
            # moduledata.gofunc follows rodata (Go 1.18-1.27 field lists); its index moves
            # between releases, so try the later words and let the check decide.
            for w in md[23:]:
                if w:
                    yield w
        if self.vaddr is not None and self.layout.version == "1.20":
            # Go 1.26+: go:func.* follows the last _func record, aligned.
            last = self.raw(self.nfunc - 1)
            tail = self._trailer_size(last.off + self.layout.func_struct.size, last.npcdata,
                                      last.nfuncdata)
            end = self.vaddr + last.off + self.layout.func_struct.size + tail
            for align in (4, 8, 16, 32):
                yield (end + align - 1) & ~(align - 1)
        if self.info is not None:
            for name in ("go:func.*", "go.func.*"):
                v = _symbol_value(self.info, name)
                if v is not None:
                    yield v

    def _inline_samples(self) -> list[tuple[_RawFunc, int, int]]:
        """Up to 8 functions with an inline tree: (record, tree offset, highest index)."""
        out: list[tuple[_RawFunc, int, int]] = []
        for i in range(self.nfunc):
            raw = self.raw(i)
            if raw.nfuncdata <= FUNCDATA_INL_TREE or raw.npcdata <= PCDATA_INL_TREE_INDEX:
                continue
            p = raw.off + self.layout.func_struct.size + 4 * raw.npcdata
            off = self.u32(p + 4 * FUNCDATA_INL_TREE)
            if off == _NO_FUNCDATA:
                continue
            pco = self.pcdata_off(raw, PCDATA_INL_TREE_INDEX)
            if pco == 0:
                continue
            top = max(self.pcvalues(pco), default=-1)
            if top < 0:
                continue
            out.append((raw, off, min(top, 63)))
            if len(out) >= 8:
                break
        return out

    def _gofunc_fits(self, base: int, samples: list[tuple[_RawFunc, int, int]]) -> bool:
        names = self.funcnametab
        for raw, off, top in samples:
            size = self.functab_end_of(raw)
            for ix in range(top + 1):
                try:
                    fid, nameoff, parent_pc, _sl = self.inline_record(raw, base + off, ix)
                except PclntabError:
                    return False
                if fid > 0x40 or parent_pc >= size:
                    return False
                at = names.start + nameoff
                if not names.start <= at < names.end or self.buf[self.base + at] == 0:
                    return False
                if at > names.start and self.buf[self.base + at - 1] != 0:
                    return False
        return True

    def functab_end_of(self, raw: _RawFunc) -> int:
        """Size of a function as functab gives it (next entry minus entry)."""
        ent = self.entries()
        i = bisect.bisect_right(ent, raw.entry) - 1
        return ent[i + 1] - ent[i] if 0 <= i < self.nfunc else 0


class GoSymbols:
    """A Go binary's pclntab at the run-time addresses of one load of it.

    Build with :meth:`load` (the parsed table is cached per ElfInfo) and
    :meth:`rebased`; every query takes and returns run-time addresses. Only the header is
    read up front; functions are decoded when first asked for, pc-value tables as far
    as a lookup needs, and both are memoised, as are pc -> function lookups. A pc given
    to the per-pc queries is the pc of an instruction (a "call pc"): for a caller's
    frame pass its return address minus 1, as runtime.CallersFrames does.
    """

    def __init__(self, table: _Table, bias: int) -> None:
        self._t = table
        self.bias = bias
        self.version: str = table.layout.version
        self.ptr_size: int = table.ptr
        self.quantum: int = table.quantum
        self._funcs: dict[int, Func] = {}
        self._pc_cache: dict[int, int | None] = {}
        self._pcsp_cache: dict[tuple[int, int], int] = {}
        self._frames_cache: dict[int, list[tuple[str, str, int, int]]] = {}

    # Construction ----------------------------------------------------------------------

    @classmethod
    def load(cls, info: ElfInfo, text_start: int | None = None) -> GoSymbols | None:
        """The Go symbols of ``info``; None if it is not a Go binary.

        ``text_start`` is the run-time address of runtime.text for this load (default:
        the file's link-time one). Raises PclntabError if the binary is Go but its table
        is missing or damaged.
        """
        try:
            table = _TABLES.get(info)
        except KeyError:
            table = _open_table(info)
            _TABLES.put(info, table)
        if table is None:
            return None
        table.require_text_base(text_start)
        bias = 0 if text_start is None else text_start - table.text_base
        return _symbols_for(table, bias)

    @classmethod
    def parse(cls, data: bytes, text_start: int | None = None) -> GoSymbols:
        """Symbols from the raw bytes of a pclntab (as debug/gosym.NewLineTable takes
        them), at their link-time addresses. ``text_start`` is runtime.text: Go 1.18+
        entries are offsets from it, and a Go 1.26+ header no longer records it; older
        tables hold absolute entries and ignore it. Without the ELF image around the
        table, inline trees (funcdata) cannot be read."""
        table = _Table(bytes(data), _Location(0, len(data), None), None, text_start)
        table.require_text_base(text_start)
        return _symbols_for(table, 0)

    def rebased(self, bias: int) -> GoSymbols:
        """The same table for an image loaded ``bias`` bytes above its link-time
        addresses (a PIE's load bias; not added to this instance's own bias)."""
        return _symbols_for(self._t, bias)

    # Facts ------------------------------------------------------------------------------

    @property
    def text_start(self) -> int:
        """Run-time address of runtime.text."""
        return self._t.text_base + self.bias

    @property
    def nfunc(self) -> int:
        return self._t.nfunc

    @property
    def table_address(self) -> int | None:
        """Link-time address of the table (None for :meth:`parse`)."""
        return self._t.vaddr

    # Functions -------------------------------------------------------------------------

    def func(self, index: int) -> Func:
        """The function at position ``index`` (0 <= index < nfunc) of the functab."""
        f = self._funcs.get(index)
        if f is None:
            t = self._t
            raw = t.raw(index)
            ent = t.entries()
            name = t.name_at(raw.nameoff)
            f = Func(index, raw.entry + self.bias, ent[index + 1] + self.bias, name,
                     t.canonical_id(raw.raw_func_id, name), raw.flag, raw.start_line,
                     raw.args, raw.deferreturn, raw.raw_func_id)
            self._funcs[index] = f
        return f

    def funcs(self) -> Iterator[Func]:
        """Every function, in address order."""
        for i in range(self._t.nfunc):
            yield self.func(i)

    def func_for_pc(self, pc: int) -> Func | None:
        """The function whose [entry, end) holds ``pc``, or None (memoised)."""
        idx = self._pc_cache.get(pc, -1)
        if idx == -1:
            idx = self._t.find(pc - self.bias)
            if len(self._pc_cache) > _CACHE_LIMIT:
                self._pc_cache.pop(next(iter(self._pc_cache)))
            self._pc_cache[pc] = idx
        return None if idx is None else self.func(idx)

    def lookup(self, name: str) -> Func | None:
        """The function called ``name``; of several (an assembly function and its ABI
        wrapper share a name), the first that is not a wrapper."""
        found = self.lookup_all(name)
        for f in found:
            if f.func_id != FuncID.WRAPPER:
                return f
        return found[0] if found else None

    def lookup_all(self, name: str) -> list[Func]:
        """Every function called ``name``, in address order."""
        return [self.func(i) for i in self._t.find_name(name)]

    # Per-pc tables ----------------------------------------------------------------------

    def _raw_of(self, func: Func) -> tuple[_RawFunc, int]:
        raw = self._t.raw(func.index)
        if raw.entry + self.bias != func.entry:
            raise ValueError(f"{func.name} at {func.entry:#x} does not belong to these symbols")
        return raw, self.bias

    def pcsp(self, func: Func, pc: int) -> int:
        """runtime.funcspdelta: bytes the function has pushed below its entry SP at
        ``pc`` (-1 where the table says nothing, e.g. in the padding after a function).
        Memoised by (entry, pc): a backtrace at every syscall asks about the same call
        sites again and again."""
        key = (func.entry, pc)
        value = self._pcsp_cache.get(key)
        if value is None:
            raw, bias = self._raw_of(func)
            value = self._t.pcvalue(raw.pcsp, raw.entry, pc - bias)
            if len(self._pcsp_cache) > _CACHE_LIMIT:
                self._pcsp_cache.pop(next(iter(self._pcsp_cache)))
            self._pcsp_cache[key] = value
        return value

    def pcdata(self, func: Func, table: int, pc: int) -> int:
        """runtime.pcdatavalue1: value of PCDATA table ``table`` at ``pc`` (-1 if none)."""
        raw, bias = self._raw_of(func)
        return self._t.pcvalue(self._t.pcdata_off(raw, table), raw.entry, pc - bias)

    def file_line(self, func: Func, pc: int) -> tuple[str, int]:
        """runtime funcline1: the innermost source position at ``pc`` ("?", 0 if none)."""
        raw, bias = self._raw_of(func)
        return self._t.file_line(raw, pc - bias)

    def inline_tree(self, func: Func, pc: int) -> list[InlinedCall]:
        """The inlined calls at ``pc`` (a "call pc", not a return address), innermost
        first; empty when ``pc`` is in the function's own code."""
        return self._expand(func, pc)[0]

    def _expand(self, func: Func, pc: int) -> tuple[list[InlinedCall], int]:
        """symtabinl.go inlineUnwinder: each inlined frame's file:line is funcline1 at
        its pc; its caller is looked up again at entry + parentPc. Returns the frames
        and the link-time pc left for the physical function."""
        t = self._t
        raw, bias = self._raw_of(func)
        lpc = pc - bias
        out: list[InlinedCall] = []
        pco = t.pcdata_off(raw, PCDATA_INL_TREE_INDEX)
        if pco == 0:
            return out, lpc
        ix = t.pcvalue(pco, raw.entry, lpc)
        if ix < 0:
            return out, lpc
        tree = t.funcdata(raw, FUNCDATA_INL_TREE)
        if tree is None:
            return out, lpc
        size = func.end - func.entry
        while ix >= 0:
            if len(out) >= _MAX_INLINE_DEPTH:
                raise t.error(f"inline tree of {func.name} loops")
            fid, nameoff, parent_pc, start_line = t.inline_record(raw, tree, ix)
            if parent_pc >= size:
                raise t.error(f"inline tree of {func.name}: call site {parent_pc:#x} lies "
                              "outside the function")
            name = t.name_at(nameoff)
            file, line = t.file_line(raw, lpc)
            out.append(InlinedCall(name, t.canonical_id(fid, name), file, line, start_line))
            lpc = raw.entry + parent_pc
            ix = t.pcvalue(pco, raw.entry, lpc)
        return out, lpc

    def frames_at(self, pc: int) -> list[tuple[str, str, int, int]]:
        """(function, file, line, FuncID) of every logical frame at ``pc``, innermost
        first, as runtime.CallersFrames reports them: the inlined frames, then the
        physical function at the call site of its outermost inlined call. ``pc`` is a
        "call pc": subtract 1 from a return address first, as CallersFrames does.
        Memoised by pc (the list returned is shared: do not change it)."""
        frames = self._frames_cache.get(pc)
        if frames is not None:
            return frames
        func = self.func_for_pc(pc)
        if func is None:
            return []
        inl, lpc = self._expand(func, pc)
        frames = [(c.name, c.file, c.line, c.func_id) for c in inl]
        file, line = self._t.file_line(self._t.raw(func.index), lpc)
        frames.append((func.name, file, line, func.func_id))
        if len(self._frames_cache) > _CACHE_LIMIT:
            self._frames_cache.pop(next(iter(self._frames_cache)))
        self._frames_cache[pc] = frames
        return frames


def _symbols_for(table: _Table, bias: int) -> GoSymbols:
    """One GoSymbols per (table, bias), so memoised lookups are shared."""
    syms = table.symbols.get(bias)
    if syms is None:
        syms = GoSymbols(table, bias)
        table.symbols[bias] = syms
    return syms


def file_text_start(info: ElfInfo) -> int | None:
    """Link-time address of runtime.text in a Go binary (None if it is not one)."""
    syms = GoSymbols.load(info)
    return None if syms is None else syms.text_start


# Finding the table ------------------------------------------------------------------------

class _PerInfo(Generic[_V]):
    """A cache keyed by ElfInfo identity that forgets an entry with its ElfInfo. (A
    WeakKeyDictionary would hash the whole file, tens of milliseconds for a big one.)"""

    def __init__(self) -> None:
        self._d: dict[int, tuple[weakref.ref[ElfInfo], _V]] = {}

    def get(self, info: ElfInfo) -> _V:
        hit = self._d.get(id(info))
        if hit is None or hit[0]() is not info:
            raise KeyError(info.path)
        return hit[1]

    def put(self, info: ElfInfo, value: _V) -> None:
        key = id(info)
        self._d[key] = (weakref.ref(info, lambda _ref: self._d.pop(key, None)), value)


_TABLES: _PerInfo[_Table | None] = _PerInfo()


def _open_table(info: ElfInfo) -> _Table | None:
    sections = _sections(info)
    for name in SECTION_NAMES:
        sec = sections.get(name)
        if sec is None:
            continue
        addr, offset, size = sec
        if offset + size > len(info.data):
            raise PclntabError(f"{info.path}: section {name} lies past the end of the file")
        return _Table(info.data, _Location(offset, size, addr), info, None)
    table = _scan(info)
    if table is None and info.data.find(_BUILDINFO_MAGIC) >= 0:
        raise PclntabError(f"{info.path}: a Go binary (it has Go build info) without a "
                           "readable pclntab")
    return table


def _scan(info: ElfInfo) -> _Table | None:
    """The table found by its magic in the PT_LOAD file contents (section headers gone,
    or the linker named the section otherwise), accepted only if its header and first
    functions check out."""
    ptr = info.word_size
    for seg in sorted(info.loads, key=lambda p: p.vaddr):
        lo, hi = seg.offset, seg.offset + seg.filesz
        for magic in _VERSIONS:
            needle = _U32.pack(magic) + b"\0\0"
            pos = info.data.find(needle, lo, hi)
            tries = 0
            while pos >= 0 and tries < 256:
                tries += 1
                vaddr = seg.vaddr + (pos - lo)
                if vaddr % ptr == 0 and pos + 8 <= hi and info.data[pos + 7] == ptr:
                    try:
                        return _Table(info.data, _Location(pos, hi - pos, vaddr), info,
                                      None)
                    except PclntabError:
                        pass
                pos = info.data.find(needle, pos + 1, hi)
    return None


_SECTIONS: _PerInfo[dict[str, tuple[int, int, int]]] = _PerInfo()


def _sections(info: ElfInfo) -> dict[str, tuple[int, int, int]]:
    """name -> (address, file offset, size) of every section with file contents."""
    try:
        return _SECTIONS.get(info)
    except KeyError:
        pass
    out: dict[str, tuple[int, int, int]] = {}
    for sec in section_headers(info):
        if sec.type in (SHT_NOBITS, SHT_NULL):
            continue
        out.setdefault(sec.name, (sec.addr, sec.offset, sec.size))
    _SECTIONS.put(info, out)
    return out


def _symbol_value(info: ElfInfo, name: str) -> int | None:
    """st_value of ``name`` in .symtab, read directly: pyelftools' symbol objects are
    slow for the tens of thousands of symbols of a big Go binary."""
    sections = section_headers(info)
    symtab = next((sec for sec in sections if sec.name == ".symtab"), None)
    if symtab is None or symtab.link >= len(sections):
        return None
    strtab = sections[symtab.link]
    s_off, s_size = strtab.offset, strtab.size
    y_off, y_size = symtab.offset, symtab.size
    data = info.data
    if s_off + s_size > len(data) or y_off + y_size > len(data):
        return None
    want = name.encode() + b"\0"
    is64 = info.elf_class is ElfClass.ELF64
    ent = struct.Struct("<IBBHQQ" if is64 else "<IIIBBH")
    # Every occurrence of the name in the string table (it may also end a longer name).
    starts: set[int] = set()
    pos = data.find(want, s_off, s_off + s_size)
    while pos >= 0:
        if pos == s_off or data[pos - 1] == 0:
            starts.add(pos - s_off)
        pos = data.find(want, pos + 1, s_off + s_size)
    if not starts:
        return None
    for rec in ent.iter_unpack(data[y_off:y_off + y_size - y_size % ent.size]):
        if rec[0] in starts:
            return int(rec[4] if is64 else rec[1])
    return None


def _is_exec_address(info: ElfInfo, addr: int) -> bool:
    """Whether ``addr`` lies in an executable PT_LOAD."""
    return any(p.flags & PF_X and p.vaddr <= addr < p.vaddr + p.memsz for p in info.loads)

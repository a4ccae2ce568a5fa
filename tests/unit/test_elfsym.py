"""loader.elfsym against binutils: ``nm`` for symbols, ``addr2line`` for line numbers.

C programs are compiled here (gcc -g -O0, static and PIE, DWARF 4 and 5;
arm-linux-gnueabihf-gcc -g -static in ARM and Thumb state) and every defined function
and object symbol ``nm -f sysv`` lists must be found at its address by
:meth:`ElfSymbols.lookup`, with the same set of symbols; every byte of the program's own
functions must get the (file, line) that ``addr2line`` prints. The unstripped Go
binaries in bins/ are checked against ``nm`` the same way, and two of them against
``addr2line`` on a sample of addresses. Tests skip, saying why, when a compiler or a
binutils tool is missing.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import elf_builder as eb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loader.elf import Machine, parse_elf, read_elf
from loader.elfsym import DwarfLines, ElfSymbols, find_section, read_sections

REPO = Path(__file__).resolve().parents[2]
BINS = REPO / "bins"
PIE_BIAS = 0x555555554000
ARM_PIE_BIAS = 0x7F000000

C_SOURCE = r"""
#include <stdio.h>
#include <string.h>

int counter = 3;                 /* an object in .data */
static char buffer[64];          /* an object in .bss */
const char greeting[] = "hi";    /* an object in .rodata */

static int helper(int x)
{
    int y = x * 2;
    if (y > 4)
        y -= 1;
    return y + counter;
}

int main(int argc, char **argv)
{
    int s = 0;
    for (int i = 0; i < argc; i++)
        s += helper(i);
    strcpy(buffer, greeting);
    printf("%d %s\n", s, buffer);
    return 0;
}
"""

# A function without .size (as hand-written assembly often is): size 0 in .symtab.
X86_NOSIZE = r"""
__asm__(".text\n.globl nosize\n.type nosize, @function\nnosize:\n nop\n nop\n nop\n ret\n"
        ".globl after_nosize\n.type after_nosize, @function\nafter_nosize:\n ret\n"
        ".size after_nosize, 1\n");
"""


@dataclass(frozen=True)
class Compiled:
    path: Path
    arm: bool
    pie: bool
    dwarf: int | None

    @property
    def bias(self) -> int:
        if not self.pie:
            return 0
        return ARM_PIE_BIAS if self.arm else PIE_BIAS


BUILDS: dict[str, tuple[str, list[str], bool, int | None]] = {
    # name: (compiler, flags, pie, DWARF version asked for)
    "x86-static-dwarf5": ("gcc", ["-static", "-gdwarf-5"], False, 5),
    "x86-static-dwarf4": ("gcc", ["-static", "-gdwarf-4"], False, 4),
    "x86-pie": ("gcc", ["-fPIE", "-pie"], True, None),
    "arm-static": ("arm-linux-gnueabihf-gcc", ["-static", "-marm"], False, None),
    "arm-static-thumb": ("arm-linux-gnueabihf-gcc", ["-static", "-mthumb"], False, None),
}


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("elfsym")


def compile_c(build_dir: Path, name: str) -> Compiled:
    compiler, flags, pie, dwarf = BUILDS[name]
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} is not installed")
    src = build_dir / "t.c"
    source = C_SOURCE + (X86_NOSIZE if compiler == "gcc" else "")
    src.write_text(source)
    out = build_dir / name
    if not out.exists():
        res = subprocess.run([compiler, "-g", "-O0", *flags, "-o", str(out), str(src)],
                             capture_output=True, text=True)
        if res.returncode != 0:
            pytest.skip(f"{compiler} {' '.join(flags)} failed: {res.stderr.strip()[:200]}")
    return Compiled(out, compiler != "gcc", pie, dwarf)


@pytest.fixture(scope="module", params=sorted(BUILDS))
def compiled(request: pytest.FixtureRequest, build_dir: Path) -> Compiled:
    return compile_c(build_dir, request.param)


# nm -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NmSymbol:
    name: str
    addr: int
    size: int | None
    type: str
    section: str


def nm_tool(arm: bool) -> list[str]:
    # The cross nm clears the Thumb bit of function values (as AAELF32 defines them);
    # the host nm prints st_value as is, and nm_symbols clears it.
    if arm and shutil.which("arm-linux-gnueabihf-nm"):
        return ["arm-linux-gnueabihf-nm"]
    if shutil.which("nm") is None:
        pytest.skip("nm (binutils) is not installed")
    return ["nm"]


def nm_symbols(path: Path, *, arm: bool, dynamic: bool = False) -> list[NmSymbol]:
    """Defined symbols from ``nm -f sysv`` (which also prints ELF type and section)."""
    cmd = [*nm_tool(arm), "-f", "sysv", "--defined-only", *(["-D"] if dynamic else []),
           str(path)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    syms: list[NmSymbol] = []
    for line in out.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) != 7:
            continue
        name, value, _cls, typ, size, _line, section = parts
        try:
            addr = int(value, 16)
        except ValueError:
            continue
        if typ == "<OS specific>: 10":
            typ = "IFUNC"
        if arm and typ in ("FUNC", "IFUNC"):
            addr &= ~1
        syms.append(NmSymbol(name, addr, int(size, 16) if size else None, typ, section))
    return syms


def wanted(s: NmSymbol) -> bool:
    return s.type in ("FUNC", "IFUNC", "OBJECT") and s.section not in ("*ABS*", "*UND*")


def check_against_nm(syms: ElfSymbols, nm: list[NmSymbol], bias: int) -> int:
    """Every wanted nm symbol is found at its address (a function alias where there is
    one), sized ones to their last byte; the symbol sets are equal. Returns the count."""
    kept = [s for s in nm if wanted(s)]
    assert {(s.addr, s.name) for s in kept} == {(s.addr, s.name) for s in syms.symbols}
    by_addr: dict[int, list[NmSymbol]] = {}
    for s in kept:
        by_addr.setdefault(s.addr, []).append(s)
    for addr, group in by_addr.items():
        found = syms.lookup(addr + bias)
        assert found is not None, (hex(addr), group)
        name, offset = found
        funcs = [s.name for s in group if s.type in ("FUNC", "IFUNC")]
        assert name in (funcs or [s.name for s in group]), (hex(addr), found, group)
        assert offset == 0
        size = max((s.size or 0) for s in group)
        if size > 1:
            last = syms.lookup_symbol(addr + size - 1 + bias)
            assert last is not None
            # Either the same symbol, or one nested inside it (the innermost wins).
            assert addr <= last.addr <= addr + size - 1, (hex(addr), last)
            if last.addr == addr:
                assert syms.lookup(addr + size - 1 + bias) == (name, size - 1)
    return len(kept)


def test_c_symbols_match_nm(compiled: Compiled) -> None:
    info = read_elf(compiled.path)
    syms = ElfSymbols.load(info, bias=compiled.bias)
    count = check_against_nm(syms, nm_symbols(compiled.path, arm=compiled.arm), compiled.bias)
    assert count > 10
    main = syms.lookup_symbol(syms.address_of("main") or 0)
    assert main is not None and main.kind == "func" and main.binding == "global"
    helper = syms.address_of("helper")
    assert helper is not None and syms.lookup(helper + 3) == ("helper", 3)
    for obj in ("counter", "buffer", "greeting"):
        addr = syms.address_of(obj)
        assert addr is not None, obj
        sym = syms.lookup_symbol(addr)
        assert sym is not None and sym.kind == "object" and sym.size > 0, obj


def test_thumb_bit(build_dir: Path) -> None:
    thumb = compile_c(build_dir, "arm-static-thumb")
    arm = compile_c(build_dir, "arm-static")
    t_syms = ElfSymbols.load(read_elf(thumb.path))
    a_syms = ElfSymbols.load(read_elf(arm.path))
    t_main = t_syms.lookup_symbol(t_syms.address_of("main") or 0)
    a_main = a_syms.lookup_symbol(a_syms.address_of("main") or 0)
    assert t_main is not None and t_main.thumb and t_main.addr % 2 == 0
    assert a_main is not None and not a_main.thumb
    # The raw st_value of the Thumb function is odd (readelf shows it as is).
    readelf = shutil.which("readelf")
    if readelf:
        out = subprocess.run([readelf, "-sW", str(thumb.path)], capture_output=True,
                             text=True, check=True).stdout
        raw = [int(line.split()[1], 16) for line in out.splitlines()
               if line.split()[-1:] == ["main"]]
        assert raw == [t_main.addr | 1]
    # An address inside the Thumb function, with or without the Thumb bit, names it.
    assert t_syms.lookup(t_main.addr + 2) == ("main", 2)
    assert t_syms.lookup(t_main.addr | 1) == ("main", 1)


def test_size_zero_symbol_reaches_next_symbol(build_dir: Path) -> None:
    c = compile_c(build_dir, "x86-static-dwarf5")
    syms = ElfSymbols.load(read_elf(c.path))
    start = syms.address_of("nosize")
    after = syms.address_of("after_nosize")
    assert start is not None and after is not None and after == start + 4
    nosize = syms.lookup_symbol(start)
    assert nosize is not None and nosize.size == 0
    assert syms.lookup(start + 3) == ("nosize", 3)
    assert syms.lookup(after) == ("after_nosize", 0)


def test_pie_bias(build_dir: Path) -> None:
    c = compile_c(build_dir, "x86-pie")
    info = read_elf(c.path)
    plain = ElfSymbols.load(info)
    biased = ElfSymbols.load(info, bias=PIE_BIAS)
    main = plain.address_of("main")
    assert main is not None and main < 0x100000  # link-time address of a PIE
    assert biased.address_of("main") == main + PIE_BIAS
    assert biased.lookup(main + PIE_BIAS + 1) == ("main", 1)
    assert biased.lookup(main) is None


def test_dynsym_only(build_dir: Path) -> None:
    """A stripped PIE keeps .dynsym only; what nm -D lists is what is found."""
    c = compile_c(build_dir, "x86-pie")
    strip = shutil.which("strip")
    if strip is None:
        pytest.skip("strip (binutils) is not installed")
    stripped = build_dir / "x86-pie-stripped"
    subprocess.run([strip, "-o", str(stripped), str(c.path)], check=True)
    syms = ElfSymbols.load(read_elf(stripped))
    assert {s.table for s in syms.symbols} <= {".dynsym"}
    check_against_nm(syms, nm_symbols(stripped, arm=False, dynamic=True), 0)


# Go binaries -----------------------------------------------------------------------------------

# The Go binaries (the C samples in bins/ have no Go toolchain in their manifest row).
GO_BINS = sorted(str(r["path"]) for r in json.loads((BINS / "manifest.json").read_text())
                 if r["go_version"])
GO_UNSTRIPPED = [n for n in GO_BINS if not n.endswith("stripped")]
GO_STRIPPED = [n for n in GO_BINS if n.endswith("-stripped")]


@pytest.mark.parametrize("name", GO_UNSTRIPPED)
def test_go_symtab_matches_nm(name: str) -> None:
    info = read_elf(BINS / name)
    arm = info.machine == Machine.ARM
    syms = ElfSymbols.load(info)
    count = check_against_nm(syms, nm_symbols(BINS / name, arm=arm), 0)
    assert count > 1000
    main_main = syms.address_of("main.main")
    assert main_main is not None and syms.lookup(main_main + 4) == ("main.main", 4)
    assert not any(s.thumb for s in syms.symbols)  # Go's ARM code is never Thumb


@pytest.mark.parametrize("name", GO_STRIPPED)
def test_go_stripped_has_no_symtab(name: str) -> None:
    syms = ElfSymbols.load(read_elf(BINS / name))
    assert all(s.table == ".dynsym" for s in syms.symbols)
    assert syms.address_of("main.main") is None


# addr2line -------------------------------------------------------------------------------------

def addr2line(path: Path, addrs: list[int], tool: str) -> list[tuple[str, int] | None]:
    """(file, line) per address from an addr2line; None where it prints ``??:0`` or
    ``FILE:?`` (binutils falls back to the STT_FILE symbol's name without line info)."""
    out: list[tuple[str, int] | None] = []
    for i in range(0, len(addrs), 500):
        chunk = addrs[i:i + 500]
        res = subprocess.run([tool, "-e", str(path), *(f"{a:#x}" for a in chunk)],
                             capture_output=True, text=True, check=True)
        for line in res.stdout.splitlines():
            line = re.sub(r" \(discriminator \d+\)$", "", line)
            file, _, num = line.rpartition(":")
            out.append(None if file == "??" or num in ("?", "0") else (file, int(num)))
    assert len(out) == len(addrs)
    return out


def need(tool: str) -> str:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")
    return tool


def check_lines(path: Path, lines: DwarfLines, addrs: list[int], *, tool: str,
                bias: int) -> None:
    expected = addr2line(path, addrs, tool)
    got = [lines.lookup(a + bias) for a in addrs]
    mismatches = [(hex(a), g, e) for a, g, e in zip(addrs, got, expected, strict=True)
                  if g != e]
    assert not mismatches, mismatches[:10]


def test_c_lines_match_addr2line(compiled: Compiled) -> None:
    info = read_elf(compiled.path)
    lines = DwarfLines.load(info, bias=compiled.bias)
    assert lines is not None
    syms = ElfSymbols.load(info)
    addrs: list[int] = []
    for fn in ("main", "helper"):
        sym = syms.lookup_symbol(syms.address_of(fn) or 0)
        assert sym is not None
        addrs += range(sym.addr, sym.addr + sym.size)
    # And code without line info (static glibc is built without -g): both say unknown.
    for fn in ("printf", "strcpy", "_start"):
        start = syms.address_of(fn)
        if start is not None:
            addrs.append(start)
    tool = need("arm-linux-gnueabihf-addr2line" if compiled.arm else "addr2line")
    check_lines(compiled.path, lines, addrs, tool=tool, bias=compiled.bias)
    src = lines.lookup((syms.address_of("helper") or 0) + compiled.bias)
    assert src is not None and src[0].endswith("/t.c")
    assert lines.error is None
    if compiled.dwarf is not None:
        assert compiled.dwarf in lines.versions


@pytest.mark.parametrize(("name", "tool"), [
    ("hello-1.19-amd64-static", "addr2line"),
    ("hello-1.19-arm7-static", "arm-linux-gnueabihf-addr2line"),
    # GNU addr2line 2.40 answers "go.go:?" for every address of a Go 1.27 binary (it
    # misreads Go's DWARF 5 line tables; readelf --debug-dump=decodedline and LLVM read
    # them as elfsym does), so LLVM's addr2line is the oracle there.
    ("hello-1.27-amd64-static", "llvm-addr2line"),
    ("hello-1.27-arm7-static", "llvm-addr2line"),
])
def test_go_lines_match_addr2line(name: str, tool: str) -> None:
    """Go 1.19 writes version 2 line programs, Go 1.27 version 5 (compressed sections)."""
    need(tool)
    info = read_elf(BINS / name)
    arm = info.machine == Machine.ARM
    lines = DwarfLines.load(info)
    assert lines is not None
    syms = ElfSymbols.load(info)
    addrs: list[int] = []
    for fn in ("main.main", "runtime.main", "fmt.Fprintln", "runtime.mallocgc"):
        sym = syms.lookup_symbol(syms.address_of(fn) or 0)
        assert sym is not None, fn
        addrs += range(sym.addr, sym.addr + min(sym.size, 400), 4 if arm else 1)
    check_lines(BINS / name, lines, addrs, tool=tool, bias=0)
    assert lines.versions == ({2} if "1.19" in name else {5})


@pytest.mark.parametrize("name", ["hello-1.27-amd64-static-stripped",
                                  "hello-1.19-arm5-static-stripped"])
def test_stripped_go_has_no_lines(name: str) -> None:
    assert DwarfLines.load(read_elf(BINS / name)) is None


def test_lines_are_lazy(build_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import loader.elfsym as mod

    calls: list[int] = []
    real: Callable[..., object] = mod._line_ranges

    def counting(info: object, versions: set[int]) -> object:
        calls.append(1)
        return real(info, versions)

    monkeypatch.setattr(mod, "_line_ranges", counting)
    c = compile_c(build_dir, "x86-static-dwarf5")
    lines = DwarfLines.load(read_elf(c.path))
    assert lines is not None and calls == []
    lines.lookup(0)
    lines.lookup(1)
    assert calls == [1]


# Damaged and minimal files ---------------------------------------------------------------------

def test_no_section_headers() -> None:
    info = parse_elf(eb.minimal().build(), "t.elf")
    assert read_sections(info) == ()
    assert find_section(info, ".text") is None
    assert len(ElfSymbols.load(info)) == 0
    assert ElfSymbols.load(info).lookup(0x400200) is None
    assert DwarfLines.load(info) is None


def damaged(path: Path, edits: list[tuple[int, int]], region: str) -> bytes:
    data = bytearray(path.read_bytes())
    is64 = data[4] == 2
    if region == "shdrs":
        shoff = struct.unpack_from("<Q" if is64 else "<I", data, 0x28 if is64 else 0x20)[0]
        base, span = shoff, len(data) - shoff
    else:
        info = parse_elf(bytes(data), "x")
        sec = next(s for s in read_sections(info) if s.name == region)
        base, span = sec.offset, sec.size
    for pos, value in edits:
        data[base + pos % max(span, 1)] = value
    return bytes(data)


@pytest.mark.parametrize("region", ["shdrs", ".symtab", ".strtab", ".debug_line", ".debug_info"])
def test_damage_never_raises(build_dir: Path, region: str) -> None:
    c = compile_c(build_dir, "x86-pie")  # small: many examples per second

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), min_size=1,
                    max_size=12))
    def run(edits: list[tuple[int, int]]) -> None:
        info = parse_elf(damaged(c.path, edits, region), "damaged")
        syms = ElfSymbols.load(info, bias=0)
        syms.lookup(0x401000)
        lines = DwarfLines.load(info)
        if lines is not None:
            lines.lookup(0x401000)
            len(lines)

    run()

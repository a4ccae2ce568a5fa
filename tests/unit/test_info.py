"""loader.info.describe / format_info: `elftrace info` data, against binutils' readelf.

Oracles: ``readelf -hW`` (class, machine, type, entry, e_flags and their ARM meaning),
``readelf -lW`` (PT_LOADs, interpreter), ``readelf -dW`` (DT_NEEDED), ``readelf -rW``
(relocations per type, RELR offsets), ``readelf -SW`` (.symtab, .debug_info), and
bins/manifest.json (how each Go binary was built). Subjects: every binary in bins/,
/bin/true, and C programs compiled here (static, static-pie, PIE with RELR, ARM static
and ARM PIE). Malformed files must give one LoaderError line; damage past the headers
is reported in the table, never as a traceback.
"""

from __future__ import annotations

import importlib
import json
import re
import shutil
import struct
import subprocess
from collections import Counter
from pathlib import Path

import elf_builder as eb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loader.buildinfo import read_buildinfo
from loader.elf import Machine, parse_elf, read_elf
from loader.errors import LoaderError, MalformedElf, NotElf, PclntabError
from loader.info import BinaryInfo, describe, describe_elf, format_info, read_pclntab

REPO = Path(__file__).resolve().parents[2]
BINS = REPO / "bins"
MANIFEST = [row for row in json.loads((BINS / "manifest.json").read_text())
            if row.get("libc") is None]  # pure Go; the libc samples: tests/emulator/test_dynamic.py


def have_pclntab() -> bool:
    try:
        importlib.import_module("loader.gopclntab")
    except ImportError:
        return False
    return True


# loader.gopclntab is optional for `info`: with it, the table's facts are checked; without
# it, the row must say "unknown".
HAVE_PCLNTAB = have_pclntab()
# Go 1.18 and 1.19 write the go1.18 pclntab layout; 1.20 and later the go1.20 one.
PCLNTAB_VERSION = {"go1.19.8": "1.18", "go1.27.3": "1.20"}

C_SOURCE = r"""
#include <stdio.h>
#include <stdlib.h>
static const char *names[] = {"a", "b", "c"};   /* pointers: relative relocations */
int main(int argc, char **argv)
{
    printf("%s %d\n", names[argc % 3], argc);
    return argc > 5 ? EXIT_FAILURE : EXIT_SUCCESS;
}
"""


# readelf as the oracle ------------------------------------------------------------------------

def readelf(*args: str) -> str:
    tool = shutil.which("readelf")
    if tool is None:
        pytest.skip("readelf (binutils) is not installed")
    return subprocess.run([tool, *args], capture_output=True, text=True, check=True).stdout


def header_facts(path: Path) -> dict[str, str]:
    facts = {}
    for line in readelf("-hW", str(path)).splitlines():
        key, sep, value = line.strip().partition(":")
        if sep:
            facts[key.strip()] = value.strip()
    return facts


def loads_of(path: Path) -> list[tuple[int, int, int, int, str]]:
    """(offset, vaddr, filesz, memsz, flags) of each LOAD line of readelf -lW."""
    out = []
    for line in readelf("-lW", str(path)).splitlines():
        parts = line.split()
        if parts[:1] == ["LOAD"]:
            off, vaddr, _paddr, filesz, memsz = (int(x, 16) for x in parts[1:6])
            flags = "".join(parts[6:-1]).replace(" ", "")
            out.append((off, vaddr, filesz, memsz, flags))
    return out


def interp_of(path: Path) -> str | None:
    m = re.search(r"\[Requesting program interpreter: (.*)\]", readelf("-lW", str(path)))
    return m.group(1) if m else None


def needed_of(path: Path) -> list[str]:
    return re.findall(r"\(NEEDED\)\s+Shared library: \[(.*)\]", readelf("-dW", str(path)))


def relocs_of(path: Path) -> Counter[str]:
    """Dynamic relocation counts by type; RELR as the number of offsets readelf decodes.
    Without a dynamic section there are none for ld.so: a static glibc binary's IRELATIVE
    table (.rela.plt) is applied by libc's own start-up code (__rela_iplt_start)."""
    counts: Counter[str] = Counter()
    if "There is no dynamic section" in readelf("-dW", str(path)):
        return counts
    for line in readelf("-rW", str(path)).splitlines():
        m = re.match(r"\s*(\d+) offsets?$", line)
        if m:
            counts["RELR"] += int(m.group(1))
            continue
        m = re.match(r"^[0-9a-f]+\s+[0-9a-f]+\s+(R_\w+)", line)
        if m:
            counts[m.group(1)] += 1
    return counts


def section_names(path: Path) -> set[str]:
    return set(re.findall(r"\]\s+(\S+)\s+[A-Z_]+\s", readelf("-SW", str(path))))


def perms(flags: str) -> str:
    """readelf's "R E" as "R-X"."""
    flags = flags.replace("E", "X")
    return "".join(c if c in flags else "-" for c in "RWX")


def check_against_readelf(bi: BinaryInfo, path: Path) -> None:
    h = header_facts(path)
    assert bi.elf_class == h["Class"]
    assert h["Data"].startswith("2's complement, little endian")
    assert bi.entry == int(h["Entry point address"], 16)
    assert bi.elf_type == h["Type"].split()[0]
    assert bi.e_flags == int(h["Flags"].split(",")[0], 16)
    if bi.machine == Machine.ARM:
        assert h["Machine"] == "ARM"
        assert f"Version{bi.arm_eabi} EABI" in h["Flags"]
        if bi.arm_float_abi == "hard":
            assert "hard-float ABI" in h["Flags"]
        elif bi.arm_float_abi == "soft":
            assert "soft-float ABI" in h["Flags"]
        else:
            assert "float ABI" not in h["Flags"]
    else:
        assert h["Machine"] == {Machine.X86_64: "Advanced Micro Devices X86-64",
                                Machine.AARCH64: "AArch64",
                                Machine.I386: "Intel 80386"}[bi.machine]
    assert [(s.offset, s.vaddr, s.filesz, s.memsz, s.perms) for s in bi.loads] == [
        (o, v, f, m, perms(fl)) for o, v, f, m, fl in loads_of(path)]
    assert bi.interpreter == interp_of(path)
    assert list(bi.needed) == needed_of(path)
    assert bi.relocation_error is None
    assert Counter(dict(bi.relocations)) == relocs_of(path)
    names = section_names(path)
    assert bi.stripped == (".symtab" not in names)
    assert bi.has_dwarf == (".debug_info" in names)


def check_rows(bi: BinaryInfo) -> list[tuple[str, str]]:
    rows = format_info(bi)
    labels = [label for label, _ in rows]
    assert len(labels) == len(set(labels)), labels
    assert all(isinstance(v, str) and v for _, v in rows), rows
    for label in ("File", "Format", "Machine", "Type", "Interpreter", "Needed libraries",
                  "Entry point", "Load segments", "Relocations", "Symbols", "DWARF"):
        assert label in labels, label
    return rows


# bins/ ------------------------------------------------------------------------------------------

# GOARCH -> (arch name, class, Go's internal-link PIE interpreter, its only relocation type).
GOARCH_FACTS = {
    "amd64": ("x86-64", "ELF64", "/lib64/ld-linux-x86-64.so.2", "R_X86_64_RELATIVE"),
    "arm": ("32-bit ARM", "ELF32", "", ""),
    "arm64": ("AArch64", "ELF64", "/lib/ld-linux-aarch64.so.1", "R_AARCH64_RELATIVE"),
    "386": ("i386", "ELF32", "", ""),
}

@pytest.mark.parametrize("entry", MANIFEST, ids=[e["path"] for e in MANIFEST])
def test_go_binaries(entry: dict[str, object]) -> None:
    path = BINS / str(entry["path"])
    bi = describe(path)
    check_against_readelf(bi, path)
    arm = entry["goarch"] == "arm"
    arch, elf_class, pie_interp, pie_reloc = GOARCH_FACTS[str(entry["goarch"])]
    assert bi.arch == arch
    assert bi.elf_class == elf_class
    assert bi.link_kind == entry["link"]
    assert bi.goarm == entry["goarm"]
    assert bi.stripped == entry["stripped"]
    assert bi.has_dwarf == (not entry["stripped"])  # -ldflags=-s -w drops both
    assert bi.needed == ()
    assert bi.go is not None and bi.go.go_version == entry["go_version"]
    assert bi.go.setting("GOARCH") == entry["goarch"]
    if arm:
        # bins/README.md: all ARM binaries have e_flags 0x05000002, for both GOARM values.
        assert (bi.e_flags, bi.arm_eabi, bi.arm_float_abi) == (0x05000002, 5, "unspecified")
    if entry["link"] == "pie":
        assert bi.interpreter == pie_interp
        assert [name for name, _ in bi.relocations] == [pie_reloc]
    else:
        assert bi.relocations == () and not bi.has_dynamic
    if HAVE_PCLNTAB:
        assert bi.pclntab.status == "ok", bi.pclntab
        assert bi.pclntab.version == PCLNTAB_VERSION[str(entry["go_version"])]
        assert bi.pclntab.nfunc is not None and bi.pclntab.nfunc > 1000
    else:
        assert bi.pclntab.status == "unknown"
    rows = dict(check_rows(bi))
    assert rows["Go version"] == entry["go_version"]
    assert ("GOARM" in rows) == arm and ("ARM EABI" in rows) == arm
    assert rows["pclntab"].startswith("Go 1.") or rows["pclntab"].startswith("unknown")


# Non-Go binaries --------------------------------------------------------------------------------

def test_bin_true() -> None:
    path = Path("/bin/true")
    if not path.exists():
        pytest.skip("/bin/true is not installed")
    bi = describe(path)
    check_against_readelf(bi, path)
    assert bi.link_kind == "pie" and bi.elf_type == "DYN"
    assert "libc.so.6" in bi.needed
    assert bi.interpreter is not None and "ld-linux" in bi.interpreter
    assert bi.go is None and bi.goarm is None and bi.pclntab.status == "absent"
    assert bi.relocation_total > 0
    rows = dict(check_rows(bi))
    assert "libc.so.6" in rows["Needed libraries"]
    assert rows["Go"] == "no Go build info"


C_BUILDS: dict[str, tuple[str, list[str]]] = {
    "static": ("gcc", ["-static", "-g"]),
    "static-pie": ("gcc", ["-static-pie", "-fPIE"]),
    "pie-relr": ("gcc", ["-pie", "-fPIE", "-Wl,-z,pack-relative-relocs"]),
    "arm-static": ("arm-linux-gnueabihf-gcc", ["-static", "-g"]),
    "arm-pie": ("arm-linux-gnueabihf-gcc", ["-pie", "-fPIE"]),
    "shared": ("gcc", ["-shared", "-fPIC"]),
}


@pytest.fixture(scope="module")
def c_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("info")
    (d / "t.c").write_text(C_SOURCE)
    return d


def build_c(c_dir: Path, name: str) -> Path:
    compiler, flags = C_BUILDS[name]
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} is not installed")
    out = c_dir / name
    if not out.exists():
        res = subprocess.run([compiler, "-O0", *flags, "-o", str(out), str(c_dir / "t.c")],
                             capture_output=True, text=True)
        if res.returncode != 0:
            pytest.skip(f"{compiler} {' '.join(flags)} cannot link here: "
                        f"{res.stderr.strip()[:200]}")
    return out


@pytest.mark.parametrize("name", sorted(C_BUILDS))
def test_c_binaries(c_dir: Path, name: str) -> None:
    path = build_c(c_dir, name)
    bi = describe(path)
    check_against_readelf(bi, path)
    assert bi.go is None and bi.pclntab.status == "absent"
    expected_kind = {"static": "static", "static-pie": "static-pie", "pie-relr": "pie",
                     "arm-static": "static", "arm-pie": "pie", "shared": "static-pie"}[name]
    assert bi.link_kind == expected_kind
    # readelf -d prints "Flags: PIE" for DT_FLAGS_1 with DF_1_PIE.
    assert bi.pie_flag == bool(re.search(r"\(FLAGS_1\)\s+Flags:.*\bPIE\b",
                                         readelf("-dW", str(path))))
    assert bi.pie_flag == (name in ("static-pie", "pie-relr", "arm-pie"))
    if name.endswith("static"):
        assert bi.relocations == () and bi.needed == () and bi.interpreter is None
        assert bi.has_dwarf and not bi.stripped
    if name == "static-pie":
        assert dict(bi.relocations).get("R_X86_64_RELATIVE", 0) > 0
    if name == "pie-relr":
        assert bi.relocations[0][0] == "RELR"  # ld.so's order: RELR first
        assert "libc.so.6" in bi.needed
    if name.startswith("arm"):
        assert (bi.arm_eabi, bi.arm_float_abi) == (5, "hard")
    if name == "arm-pie":
        assert dict(bi.relocations).get("R_ARM_RELATIVE", 0) > 0
        assert "R_ARM_JUMP_SLOT" in dict(bi.relocations)
    rows = dict(check_rows(bi))
    if bi.machine == Machine.ARM and bi.entry & 1:
        assert "Thumb" in rows["Entry point"]
    # An ET_DYN without DF_1_PIE is what file(1) calls a shared object.
    assert ("shared library?" in rows["Type"]) == (name == "shared")


# Synthetic images ---------------------------------------------------------------------------------

def test_unknown_relocation_type_is_counted_by_number() -> None:
    vbase = 0x10000
    data = eb.dyn_image(bits=64, machine=eb.EM_X86_64, vbase=vbase,
                        rela=[(vbase + 0x1000, 8, 0, 0), (vbase + 0x1008, 99, 0, 0)])
    bi = describe_elf(parse_elf(data, "t.elf"))
    assert dict(bi.relocations) == {"R_X86_64_RELATIVE": 1, "type 99 (unknown, in RELA)": 1}


def test_machine_without_relocation_table() -> None:
    data = eb.dyn_image(bits=64, machine=243, rela=[(0x1000, 3, 0, 0)] * 3)
    bi = describe_elf(parse_elf(data, "t.elf"))
    assert bi.arch == "RISC-V"
    assert dict(bi.relocations) == {"type 3 (unknown, in RELA)": 3}


def test_relr_and_rel_counts() -> None:
    addrs = [0x1000, 0x1004, 0x1008, 0x1100]
    data = eb.dyn_image(bits=32, machine=eb.EM_ARM, relr=eb.relr_encode(addrs, 32),
                        rel=[(0x1200, eb.R_ARM_RELATIVE, 0)])
    bi = describe_elf(parse_elf(data, "t.elf"))
    assert bi.relocations == (("RELR", 4), ("R_ARM_RELATIVE", 1))


def test_unreadable_relocation_table_is_reported_not_raised() -> None:
    data = bytearray(eb.dyn_image(bits=64, machine=eb.EM_X86_64,
                                  rela=[(0x1000, 8, 0, 0)]))
    # The first dynamic entry is DT_RELA: point it far outside every segment.
    tag, _ = struct.unpack_from("<qQ", data, eb.DYNAMIC_OFF)
    assert tag == eb.DT_RELA
    struct.pack_into("<qQ", data, eb.DYNAMIC_OFF, tag, 0x7777_0000)
    bi = describe_elf(parse_elf(bytes(data), "t.elf"))
    assert bi.relocation_error is not None and "\n" not in bi.relocation_error
    assert dict(format_info(bi))["Relocations"].startswith("unreadable: ")


def test_minimal_image() -> None:
    bi = describe_elf(parse_elf(eb.minimal().build(), "t.elf"))
    assert bi.section_headers == 0 and bi.stripped and not bi.has_dwarf
    assert dict(format_info(bi))["Symbols"] == "no section headers"


# The optional loader.gopclntab ------------------------------------------------------------------

class FakeSymbols:
    version = "1.20"
    nfunc = 1234


class FakeModule:
    def __init__(self, outcome: object) -> None:
        self.outcome = outcome
        self.GoSymbols = self

    def load(self, info: object) -> object:
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


@pytest.mark.parametrize(("outcome", "status", "row"), [
    (ImportError("No module named 'loader.gopclntab'"), "unknown", "unknown (loader.gopclntab"),
    (None, "absent", "not found"),
    (FakeSymbols(), "ok", "Go 1.20 format, 1,234 functions"),
    (PclntabError("t.elf: pclntab header is damaged"), "invalid", "invalid: t.elf: pclntab"),
    (IndexError("list index out of range"), "invalid", "invalid: IndexError: list index"),
])
def test_pclntab_outcomes(monkeypatch: pytest.MonkeyPatch, outcome: object, status: str,
                          row: str) -> None:
    real_import = importlib.import_module

    def fake_import(name: str, package: str | None = None) -> object:
        if name == "loader.gopclntab":
            if isinstance(outcome, ImportError):
                raise outcome
            return FakeModule(outcome)
        return real_import(name, package)

    # loader.info calls importlib.import_module by attribute, so patching the module works.
    monkeypatch.setattr(importlib, "import_module", fake_import)
    info = read_elf(BINS / "hello-1.27-amd64-static")
    assert read_pclntab(info).status == status
    rows = dict(format_info(describe_elf(info)))
    assert rows["pclntab"].startswith(row)


# Malformed input: one LoaderError line ----------------------------------------------------------

def one_line(exc: LoaderError) -> str:
    msg = str(exc)
    assert msg and "\n" not in msg
    return msg


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NotElf) as err:
        describe(tmp_path / "nope")
    assert "No such file" in one_line(err.value)


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(NotElf) as err:
        describe(tmp_path)
    one_line(err.value)


@pytest.mark.parametrize(("content", "kind"), [
    (b"", NotElf),
    (b"#!/bin/sh\necho hi\n", NotElf),
    (b"\x7fELF\x02\x01\x01" + bytes(9), MalformedElf),
    (b"\x7fELF\x02\x01\x01" + bytes(9) + b"\x02\x00>\x00", MalformedElf),
])
def test_malformed_files(tmp_path: Path, content: bytes, kind: type[LoaderError]) -> None:
    f = tmp_path / "bad"
    f.write_bytes(content)
    with pytest.raises(kind) as err:
        describe(f)
    assert one_line(err.value).startswith(str(f))


def test_segment_past_end_of_file(tmp_path: Path) -> None:
    elf = eb.minimal()
    elf.phdrs[0].filesz = elf.phdrs[0].memsz = 0x100000
    f = tmp_path / "short"
    f.write_bytes(elf.build())
    with pytest.raises(MalformedElf) as err:
        describe(f)
    assert "past the end of the file" in one_line(err.value)


FUZZ_SUBJECTS = ["hello-1.27-arm5-static-stripped", "hello-1.19-amd64-pie"]


@pytest.mark.parametrize("name", FUZZ_SUBJECTS)
def test_damage_gives_loader_error_or_info(name: str) -> None:
    """Random byte changes in the headers, the dynamic and build-info areas and the
    section header table: describe() returns or raises a one-line LoaderError."""
    original = (BINS / name).read_bytes()
    info = read_elf(BINS / name)
    go = read_buildinfo(info)
    assert go is not None
    hot = [0, info.vaddr_to_offset(go.address, 32) or 0]
    if info.dynamic is not None:
        dyn = next(p for p in info.phdrs if p.type == 2)
        hot.append(dyn.offset)
    shoff = struct.unpack_from("<Q" if original[4] == 2 else "<I", original,
                               0x28 if original[4] == 2 else 0x20)[0]
    hot.append(shoff)

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.tuples(st.sampled_from(hot), st.integers(0, 0x3FF), st.integers(0, 255)),
                    min_size=1, max_size=6))
    def run(edits: list[tuple[int, int, int]]) -> None:
        data = bytearray(original)
        for base, pos, value in edits:
            if base + pos < len(data):
                data[base + pos] = value
        try:
            bi = describe_elf(parse_elf(bytes(data), "fuzz"))
        except LoaderError as exc:
            one_line(exc)
            return
        check_rows(bi)

    run()

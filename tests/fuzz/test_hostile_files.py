"""Named hostile inputs, each given to every command: what elftrace must say about them.

Each case is a real binary from bins/ with one structure broken on purpose (or a file
that is not a binary at all). The rule of tests/fuzz/cli_runner.py applies to all of
them; a case that must be refused also names the words its one line must contain.
"""

from __future__ import annotations

import importlib.util
import os
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
from cli_runner import available_commands, run_in_process, run_subprocess
from elf_mutations import BINS, layout_of


def _elf_builder() -> ModuleType:
    """tests/unit/elf_builder.py, the gABI record writer the loader's unit tests use."""
    if "elf_builder" in sys.modules:
        return sys.modules["elf_builder"]
    spec = importlib.util.spec_from_file_location(
        "elf_builder", Path(__file__).resolve().parents[1] / "unit" / "elf_builder.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["elf_builder"] = module
    spec.loader.exec_module(module)
    return module


eb = _elf_builder()

PIE = "hello-1.27-amd64-pie-stripped"
STATIC = "hello-1.27-amd64-static"
ARM = "hello-1.27-arm7-static-stripped"
EM_PPC64 = 21
EM_RISCV = 243


def field(binary: str, name: str) -> tuple[int, int]:
    """(offset, size) of a named field of a bins/ file (see elf_mutations.Layout)."""
    for fields in layout_of(binary).regions.values():
        for f in fields:
            if f.name == name:
                return f.offset, f.size
    raise KeyError(name)


def patched(binary: str, **values: int) -> bytes:
    data = bytearray((BINS / binary).read_bytes())
    for name, value in values.items():
        offset, size = field(binary, name.replace("__", "."))
        data[offset:offset + size] = value.to_bytes(size, "little")
    return bytes(data)


def phdr_index(binary: str, p_type: int) -> int:
    data = (BINS / binary).read_bytes()
    i = 0
    while True:
        offset, _ = field(binary, f"phdr[{i}].p_type")
        if struct.unpack_from("<I", data, offset)[0] == p_type:
            return i
        i += 1


def phdr_value(binary: str, index: int, name: str) -> int:
    offset, size = field(binary, f"phdr[{index}].{name}")
    return int.from_bytes((BINS / binary).read_bytes()[offset:offset + size], "little")


def with_phdr(binary: str, p_type: int, **values: int) -> bytes:
    i = phdr_index(binary, p_type)
    return patched(binary, **{f"phdr[{i}]__{k}": v for k, v in values.items()})


def last_load(binary: str) -> int:
    data = (BINS / binary).read_bytes()
    last = i = 0
    while True:
        try:
            offset, _ = field(binary, f"phdr[{i}].p_type")
        except KeyError:
            return last
        if struct.unpack_from("<I", data, offset)[0] == eb.PT_LOAD:
            last = i
        i += 1


def huge_bss(binary: str, memsz: int) -> bytes:
    return patched(binary, **{f"phdr[{last_load(binary)}]__p_memsz": memsz})


def overlapping_loads() -> bytes:
    first = phdr_index(STATIC, eb.PT_LOAD)
    vaddr = phdr_value(STATIC, first, "p_vaddr")
    return patched(STATIC, **{f"phdr[{first + 1}]__p_vaddr": vaddr + 0x1000})


def interp_without_nul() -> bytes:
    i = phdr_index(PIE, eb.PT_INTERP)
    data = bytearray((BINS / PIE).read_bytes())
    end = phdr_value(PIE, i, "p_offset") + phdr_value(PIE, i, "p_filesz")
    data[end - 1] = ord("x")
    return bytes(data)


def relocation_outside_segments() -> bytes:
    return patched(PIE, **{".rela[0]__r_offset": 0x7FFF_0000_0000})


def pclntab_bad_offsets(binary: str) -> bytes:
    return patched(binary, funcnameOffset=0xFFFF_FFF0, pctabOffset=0x7FFF_FFFF,
                   **{"functab[1]": 0xFFFF_FFFF})


def i386_exit0() -> bytes:
    elf = eb.minimal(32, eb.EM_386)
    elf.blobs[0x200] = bytes.fromhex("31dbb801000000cd80")  # xor ebx,ebx; mov eax,1; int 0x80
    return elf.build()


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[], bytes] | None  # None: the path is a directory
    refused_with: tuple[str, ...] | None  # None: running or refusing are both correct


CASES = (
    Case("directory", None, ("is a directory",)),
    Case("empty", lambda: b"", ("empty",)),
    Case("script", lambda: b"#!/bin/sh\necho hi\n", ("script",)),
    Case("text", lambda: b"hello\n" * 100, ("not an ELF",)),
    Case("i386 (runs if supported)", i386_exit0, None),
    Case("unsupported machine ppc64", lambda: patched(STATIC, e_machine=EM_PPC64), ("21",)),
    Case("unsupported machine riscv", lambda: patched(STATIC, e_machine=EM_RISCV),
         ("RISC-V",)),
    Case("huge memsz", lambda: with_phdr(STATIC, eb.PT_LOAD, p_memsz=0xFFFF_FFFF_FFFF_0000),
         ("segment",)),
    Case("huge bss below the address limit", lambda: huge_bss(STATIC, 0x7000_0000_0000), None),
    Case("huge bss arm", lambda: huge_bss(ARM, 0xFF00_0000), ("segment",)),
    Case("overlapping segments", overlapping_loads, ("overlap",)),
    Case("relocation outside every segment", relocation_outside_segments, None),
    Case("e_phoff beyond the file", lambda: patched(STATIC, e_phoff=1 << 40),
         ("program headers",)),
    Case("e_phnum huge", lambda: patched(STATIC, e_phnum=0xFFFF), ("program headers",)),
    Case("e_phentsize wrong", lambda: patched(STATIC, e_phentsize=32), ("e_phentsize",)),
    Case("PT_INTERP without NUL", interp_without_nul, ("PT_INTERP",)),
    Case("PT_DYNAMIC outside the file",
         lambda: with_phdr(PIE, eb.PT_DYNAMIC, p_offset=1 << 40), ("DYNAMIC",)),
    Case("PT_DYNAMIC outside the image",
         lambda: with_phdr(PIE, eb.PT_DYNAMIC, p_vaddr=0x10), ("PT_DYNAMIC",)),
    Case("pclntab with bad offsets", lambda: pclntab_bad_offsets(STATIC), None),
    Case("pclntab with bad offsets, PIE", lambda: pclntab_bad_offsets("hello-1.19-amd64-pie"),
         None),
    Case("pclntab function table unsorted",
         lambda: patched(STATIC, **{"functab[10]": 0}), None),
    Case("section headers beyond the file", lambda: patched(STATIC, e_shoff=1 << 40), None),
    Case("truncated inside a segment",
         lambda: (BINS / STATIC).read_bytes()[:0x3000], ("past the end",)),
)


def _materialize(case: Case, tmp_path: Path) -> Path:
    if case.make is None:
        path = tmp_path / "a-directory"
        path.mkdir()
        return path
    path = tmp_path / "hostile"
    path.write_bytes(case.make())
    path.chmod(0o755)
    return path


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_file(case: Case, tmp_path: Path) -> None:
    path = _materialize(case, tmp_path)
    commands = [*available_commands(), ("trace", "-k", "-o", os.devnull, "--max-slices", "10")]
    refused: dict[str, bool] = {}
    for command in commands:
        argv = (*command, str(path))
        outcome = run_in_process(argv)
        refused[command[0]] = outcome.status == 126
        problem = outcome.problem(str(path))
        assert problem is None, f"{' '.join(argv)}: {problem}\n{outcome.stderr}"
        # `info` and `relocs` describe files they could not run (another machine, a bad
        # relocation, PT_DYNAMIC outside the image), as readelf does.
        if case.refused_with is not None and (command[0] not in ("info", "relocs")
                                              or outcome.status != 0):
            assert outcome.status == 126, f"{' '.join(argv)}: {outcome}"
            for word in case.refused_with:
                assert word in outcome.stderr, f"{' '.join(argv)}: {outcome.stderr!r}"
    # What runs, runs traced too: symbols found damaged mid-run cost frames, not the run.
    assert refused["trace"] == refused["run"], refused


@pytest.mark.parametrize("case", [c for c in CASES if c.name in (
    "directory", "script", "huge bss below the address limit", "relocation outside every segment",
    "pclntab with bad offsets")], ids=lambda c: c.name)
def test_hostile_file_subprocess(case: Case, tmp_path: Path) -> None:
    path = _materialize(case, tmp_path)
    for command in available_commands():
        argv = (*command, str(path))
        outcome = run_subprocess(argv)
        problem = outcome.problem(str(path))
        assert problem is None, f"{' '.join(argv)}: {problem}\n{outcome.stderr}"

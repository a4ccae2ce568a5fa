"""loader.elf.parse_elf: refusals (class and one-line message) and the real binaries.

Malformed inputs are built with tests/unit/elf_builder.py (record layouts from the
gABI) and then broken one field at a time. For bins/, the expectations come from
bins/manifest.json (how each file was built) and from pyelftools, an independent ELF
parser.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import elf_builder as eb
import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.enums import ENUM_P_TYPE_ARM, ENUM_P_TYPE_BASE
from elftools.elf.segments import InterpSegment

from loader.elf import ElfClass, ElfType, Machine, parse_elf, read_elf
from loader.errors import (
    LoaderError,
    MalformedElf,
    NotElf,
    UnsupportedArch,
    UnsupportedImage,
)

REPO = Path(__file__).resolve().parents[2]
BINS = REPO / "bins"
PATH = "t.elf"


def refused(data: bytes) -> LoaderError:
    with pytest.raises(LoaderError) as exc:
        parse_elf(data, PATH)
    err = exc.value
    msg = str(err)
    assert msg.strip() and "\n" not in msg, f"not a one-line message: {msg!r}"
    assert msg.startswith(PATH), msg
    return err


def good(bits: int = 64) -> eb.Elf:
    return eb.minimal(bits, eb.EM_X86_64 if bits == 64 else eb.EM_ARM)


@pytest.mark.parametrize("bits", [64, 32])
def test_minimal_images_parse(bits: int) -> None:
    info = parse_elf(good(bits).build(), PATH)
    assert info.elf_class is (ElfClass.ELF64 if bits == 64 else ElfClass.ELF32)
    assert info.type is ElfType.EXEC
    assert len(info.loads) == 1


def test_empty() -> None:
    assert type(refused(b"")) is NotElf


@pytest.mark.parametrize("data", [b"hello world\n", b"MZ\x90\x00" + bytes(60),
                                  b"\x7fELD" + bytes(60)])
def test_not_elf(data: bytes) -> None:
    assert type(refused(data)) is NotElf


def test_script() -> None:
    err = refused(b"#!/bin/sh\necho hi\n")
    assert type(err) is NotElf
    assert "script" in str(err)


@pytest.mark.parametrize("size", [4, 7, 15])
def test_truncated_identification(size: int) -> None:
    data = good().build()[:size]
    assert type(refused(data)) is MalformedElf


@pytest.mark.parametrize(("bits", "size"), [(64, 16), (64, 40), (64, 63), (32, 51)])
def test_truncated_header(bits: int, size: int) -> None:
    data = good(bits).build()[:size]
    err = refused(data)
    assert type(err) is MalformedElf
    assert "truncated" in str(err)


@pytest.mark.parametrize("bits", [64, 32])
def test_big_endian(bits: int) -> None:
    elf = good(bits)
    elf.ident_data = 2  # ELFDATA2MSB
    assert type(refused(elf.build())) is UnsupportedArch


@pytest.mark.parametrize(("etype", "word"), [(eb.ET_REL, "relocatable"), (eb.ET_CORE, "core")])
def test_not_an_executable(etype: int, word: str) -> None:
    elf = good()
    elf.type = etype
    err = refused(elf.build())
    assert type(err) is UnsupportedImage
    assert word in str(err)


@pytest.mark.parametrize(("bits", "phentsize"), [(64, 32), (64, 64), (32, 56), (32, 0)])
def test_bad_phentsize(bits: int, phentsize: int) -> None:
    elf = good(bits)
    elf.phentsize = phentsize
    err = refused(elf.build())
    assert type(err) is MalformedElf
    assert "e_phentsize" in str(err)


def test_program_headers_beyond_eof() -> None:
    data = bytearray(good().build())
    struct.pack_into("<Q", data, 32, len(data) - 20)  # e_phoff near the end
    assert type(refused(bytes(data))) is MalformedElf


def test_too_many_program_headers_for_the_file() -> None:
    elf = good()
    elf.phnum = 200
    assert type(refused(elf.build())) is MalformedElf


def test_no_program_headers() -> None:
    elf = good()
    elf.phnum = 0
    assert type(refused(elf.build())) is MalformedElf


@pytest.mark.parametrize("bits", [64, 32])
def test_filesz_greater_than_memsz(bits: int) -> None:
    elf = good(bits)
    elf.phdrs[0].memsz = elf.phdrs[0].filesz - 0x10
    err = refused(elf.build())
    assert type(err) is MalformedElf
    assert "p_filesz" in str(err)


@pytest.mark.parametrize("bits", [64, 32])
def test_segment_past_eof(bits: int) -> None:
    elf = good(bits)
    elf.phdrs[0].filesz = elf.phdrs[0].memsz = 0x1800  # the file is 0x1000 bytes
    err = refused(elf.build())
    assert type(err) is MalformedElf
    assert "end of the file" in str(err)


def test_overlapping_loads() -> None:
    elf = good()
    first = elf.phdrs[0]
    first.memsz = 0x2000
    elf.phdrs.append(eb.Phdr(eb.PT_LOAD, 0, first.vaddr + 0x1000, 0x1000, 0x1000))
    err = refused(elf.build())
    assert type(err) is MalformedElf
    assert "overlap" in str(err)


def test_loads_sharing_a_page_are_accepted() -> None:
    """Not an overlap: binutils and Go lay out segments that share a page."""
    elf = good()
    elf.phdrs[0].filesz = elf.phdrs[0].memsz = 0x800
    elf.phdrs.append(eb.Phdr(eb.PT_LOAD, 0x800, elf.phdrs[0].vaddr + 0x800, 0x800, 0x800))
    info = parse_elf(elf.build(), PATH)
    assert len(info.loads) == 2


def test_no_load_segment() -> None:
    elf = good()
    elf.phdrs[0].type = eb.PT_NOTE
    err = refused(elf.build())
    assert type(err) is MalformedElf
    assert "PT_LOAD" in str(err)


def test_unterminated_interp() -> None:
    elf = good()
    elf.blobs[0x300] = b"/lib64/ld-linux-x86-64.so.2"  # no NUL
    elf.phdrs.insert(0, eb.Phdr(eb.PT_INTERP, 0x300, 0x400300, 27, 27, eb.PF_R, 1))
    err = refused(elf.build())
    assert type(err) is MalformedElf
    assert "PT_INTERP" in str(err)


def test_terminated_interp_is_read() -> None:
    elf = good()
    elf.blobs[0x300] = b"/lib64/ld-linux-x86-64.so.2\0"
    elf.phdrs.insert(0, eb.Phdr(eb.PT_INTERP, 0x300, 0x400300, 28, 28, eb.PF_R, 1))
    assert parse_elf(elf.build(), PATH).interp == "/lib64/ld-linux-x86-64.so.2"


def test_all_refusals_are_loader_errors() -> None:
    for cls in (NotElf, MalformedElf, UnsupportedArch, UnsupportedImage):
        assert issubclass(cls, LoaderError)


def test_read_elf_directory_and_missing(tmp_path: Path) -> None:
    with pytest.raises(NotElf):
        read_elf(tmp_path)
    with pytest.raises(NotElf) as exc:
        read_elf(tmp_path / "missing")
    assert "\n" not in str(exc.value)


# Real binaries --------------------------------------------------------------------------

PT_NAMES: dict[str, int] = {**ENUM_P_TYPE_BASE, **ENUM_P_TYPE_ARM}


def ptype_number(value: str | int) -> int:
    """pyelftools names the p_types it knows and leaves others (Go's PT_PAX_FLAGS) as ints."""
    return value if isinstance(value, int) else PT_NAMES[value]


MANIFEST = [row for row in json.loads((BINS / "manifest.json").read_text())
            if row.get("libc") is None]  # pure Go; the libc samples: tests/emulator/test_dynamic.py
GOARCH_MACHINE = {"amd64": (Machine.X86_64, ElfClass.ELF64), "arm": (Machine.ARM, ElfClass.ELF32),
                  "arm64": (Machine.AARCH64, ElfClass.ELF64),
                  "386": (Machine.I386, ElfClass.ELF32)}
# What Go's internal linker writes into PT_INTERP of a -buildmode=pie executable.
GO_PIE_INTERP = {Machine.X86_64: "/lib64/ld-linux-x86-64.so.2",
                 Machine.AARCH64: "/lib/ld-linux-aarch64.so.1"}


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["path"] for e in MANIFEST])
def test_real_binaries(entry: dict[str, object]) -> None:
    path = BINS / str(entry["path"])
    if not path.exists():
        pytest.skip(f"{path} is missing")
    info = read_elf(path)
    machine, elf_class = GOARCH_MACHINE[str(entry["goarch"])]
    assert info.machine == machine
    assert info.elf_class is elf_class
    if entry["link"] == "pie":
        assert info.type is ElfType.DYN
        assert info.interp == GO_PIE_INTERP[machine]
        assert info.dynamic is not None and info.dynamic.needed == ()
    else:
        assert info.type is ElfType.EXEC
        assert info.interp is None
        assert info.dynamic is None
    assert info.link_kind == entry["link"]
    if machine == Machine.ARM:
        assert info.flags == 0x05000002  # EABI version 5 (bins/README.md)

    # pyelftools as an independent parser of the same headers.
    with path.open("rb") as f:
        elf = ELFFile(f)
        assert elf.header["e_machine"] == {Machine.X86_64: "EM_X86_64", Machine.ARM: "EM_ARM",
                                           Machine.AARCH64: "EM_AARCH64",
                                           Machine.I386: "EM_386"}[machine]
        assert elf.elfclass == (64 if elf_class is ElfClass.ELF64 else 32)
        assert elf.header["e_entry"] == info.entry
        theirs = [(s["p_type"], s["p_offset"], s["p_vaddr"], s["p_filesz"], s["p_memsz"],
                   s["p_flags"], s["p_align"]) for s in elf.iter_segments()]
        interp = [s.get_interp_name() for s in elf.iter_segments()
                  if isinstance(s, InterpSegment)]
    ours = [(p.type, p.offset, p.vaddr, p.filesz, p.memsz, p.flags, p.align)
            for p in info.phdrs]
    assert ours == [(ptype_number(t[0]), *t[1:]) for t in theirs]
    assert (interp[0] if interp else None) == info.interp

"""loader.buildinfo against ``go version -m``.

Oracles: ``go version -m`` output recorded by tests/unit/data/gen_go_version_m.py with
go1.27.3 and go1.19.8 (which agree on every binary) for each binary in bins/, and for a
module built there with a dependency, a replacement and a quoted -ldflags value (its
``.go.buildinfo`` bytes are recorded and put back into a minimal ELF here). When a Go
toolchain is installed, the same comparison also runs live, on bins/ and on the
toolchain's own binaries. The pre-1.18 pointer layout has no toolchain here: its blobs
are built from the layout that src/debug/buildinfo/buildinfo.go documents. Damaged
blobs must give None, never an exception.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

import elf_builder as eb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loader.buildinfo import (
    BUILDINFO_MAGIC,
    GoBuildInfo,
    Module,
    build_info_string,
    format_go_version_m,
    go_quote,
    go_unquote,
    parse_modinfo,
    read_buildinfo,
    uvarint,
)
from loader.elf import ElfInfo, parse_elf, read_elf

REPO = Path(__file__).resolve().parents[2]
BINS = REPO / "bins"
DATA = Path(__file__).resolve().parent / "data" / "go_version_m"
MANIFEST = [row for row in json.loads((BINS / "manifest.json").read_text())
            if row.get("libc") is None]  # pure Go; the libc samples: tests/emulator/test_dynamic.py
BIN_NAMES = [e["path"] for e in MANIFEST]
MODTEST = sorted(p.stem for p in DATA.glob("modtest-*.json"))
TOOLCHAINS = [t for t in ("/opt/gov/bin/go", "/usr/lib/go-1.19/bin/go") if shutil.which(t)]
# The framing cmd/go/internal/modload writes around modinfo (infoStart, infoEnd).
INFO_START = bytes.fromhex("3077af0c9274080241e1c107e6d618e6")
INFO_END = bytes.fromhex("f932433186182072008242104116d8f2")


def recorded(name: str) -> str:
    return (DATA / f"{name}.txt").read_text(encoding="utf-8", errors="surrogateescape")


def uvarint_bytes(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def inline_blob(vers: bytes, mod: bytes, ptr_size: int = 8) -> bytes:
    """A Go >= 1.18 blob: header with flags 0x2, then the two varint-prefixed strings."""
    header = BUILDINFO_MAGIC + bytes([ptr_size, 0x2]) + bytes(16)
    return header + uvarint_bytes(len(vers)) + vers + uvarint_bytes(len(mod)) + mod


def framed(text: str) -> bytes:
    return INFO_START + text.encode() + INFO_END


def data_elf(blobs: dict[int, bytes], *, bits: int = 64, rodata: dict[int, bytes] | None = None
             ) -> bytes:
    """An ET_EXEC with a text segment, a read-only segment at +0x10000 holding ``rodata``
    (offsets into it) and a writable data segment at +0x20000 holding ``blobs``."""
    machine = eb.EM_X86_64 if bits == 64 else eb.EM_ARM
    elf = eb.minimal(bits, machine)
    base = elf.phdrs[0].vaddr
    elf.phdrs.append(eb.Phdr(eb.PT_LOAD, 0x1000, base + 0x10000, 0x1000, 0x1000, eb.PF_R))
    elf.phdrs.append(eb.Phdr(eb.PT_LOAD, 0x2000, base + 0x20000, 0x1000, 0x2000,
                             eb.PF_R | eb.PF_W))
    elf.size = 0x3000
    for off, blob in (rodata or {}).items():
        elf.blobs[0x1000 + off] = blob
    for off, blob in blobs.items():
        elf.blobs[0x2000 + off] = blob
    return elf.build()


def data_base(bits: int) -> int:
    return (0x400000 if bits == 64 else 0x10000) + 0x20000


def rodata_base(bits: int) -> int:
    return (0x400000 if bits == 64 else 0x10000) + 0x10000


def parse(data: bytes) -> ElfInfo:
    return parse_elf(data, "t.elf")


# The real binaries -------------------------------------------------------------------------

@pytest.mark.parametrize("name", BIN_NAMES)
def test_matches_recorded_go_version_m(name: str) -> None:
    info = read_buildinfo(read_elf(BINS / name))
    assert info is not None
    assert format_go_version_m(f"bins/{name}", info) == recorded(name)


@pytest.mark.parametrize("entry", MANIFEST, ids=BIN_NAMES)
def test_fields_agree_with_manifest(entry: dict[str, object]) -> None:
    info = read_buildinfo(read_elf(BINS / str(entry["path"])))
    assert info is not None
    assert info.go_version == entry["go_version"]
    assert info.layout == "inline"  # both toolchains are >= 1.18
    assert info.setting("GOARCH") == entry["goarch"]
    assert info.setting("GOARM") == entry["goarm"]
    assert info.setting("GOOS") == "linux"
    assert info.setting("CGO_ENABLED") == "0"
    assert info.setting("-trimpath") == "true"
    assert info.main is not None and info.main.version == "(devel)"
    assert info.path == info.main.path == {"hello": "hello", "work": "workload", "stack": "stack",
                                                "net": "nettest", "conform": "conform",
                                                "busy": "busy"}[
        str(entry["program"])]
    assert info.deps == ()
    keys = [k for k, _ in info.settings]
    if entry["go_version"] == "go1.19.8":
        # Go 1.19 records no -buildmode at all, not even for -buildmode=pie, and no
        # DefaultGODEBUG (added in Go 1.21).
        assert "-buildmode" not in keys and "DefaultGODEBUG" not in keys
    else:
        assert info.setting("-buildmode") == ("pie" if entry["link"] == "pie" else "exe")
        assert "DefaultGODEBUG" in keys


@pytest.mark.parametrize("name", ["hello-1.27-amd64-pie", "hello-1.19-arm7-static",
                                  "hello-1.27-arm5-static-stripped"])
def test_found_without_section_headers(name: str) -> None:
    """With e_shoff/e_shnum/e_shstrndx zeroed (as sstrip leaves a file), the blob is found
    by scanning the writable PT_LOADs. In the Go 1.27 PIE the first writable segment is
    the RELRO one, which does not hold it: every writable segment is searched."""
    data = bytearray((BINS / name).read_bytes())
    if data[4] == 2:
        struct.pack_into("<Q", data, 0x28, 0)
        struct.pack_into("<HH", data, 0x3C, 0, 0)
    else:
        struct.pack_into("<I", data, 0x20, 0)
        struct.pack_into("<HH", data, 0x30, 0, 0)
    info = read_buildinfo(parse_elf(bytes(data), f"bins/{name}"))
    assert info is not None
    assert format_go_version_m(f"bins/{name}", info) == recorded(name)


# The module with a dependency, a replacement and quoting --------------------------------------

@pytest.mark.parametrize("name", MODTEST)
def test_modtest_matches_recorded(name: str) -> None:
    rec = json.loads((DATA / f"{name}.json").read_text())
    bits, addr = rec["bits"], rec["address"]
    machine = eb.EM_X86_64 if bits == 64 else eb.EM_ARM
    assert rec["machine"] == machine
    elf = eb.minimal(bits, machine)
    blob = bytes.fromhex(rec["section_hex"])
    elf.phdrs.append(eb.Phdr(eb.PT_LOAD, 0x1000, addr, len(blob), len(blob), eb.PF_R | eb.PF_W))
    elf.blobs[0x1000] = blob
    info = read_buildinfo(parse(elf.build()))
    assert info is not None
    assert info.address == addr
    assert format_go_version_m(rec["path"], info) == recorded(name)
    assert info.deps == (Module("example.com/dep", "v1.2.3", "",
                                Module("./dep", "(devel)", "")),)
    assert info.setting("-ldflags") == "-X 'main.note=hello world' -s -w"
    assert info.setting("-tags") == "netgo,osusergo"


# Live comparisons when a toolchain is installed ------------------------------------------------

def live_targets() -> list[str]:
    paths = [str(BINS / n) for n in BIN_NAMES]
    for go in TOOLCHAINS:
        root = subprocess.run([go, "env", "GOROOT"], capture_output=True, text=True).stdout
        root_path = Path(root.strip())
        paths += [str(p) for p in sorted((root_path / "bin").glob("*"))]
        paths += [str(p) for p in sorted((root_path / "pkg" / "tool").glob("*/*"))][:6]
    return paths


@pytest.mark.skipif(not TOOLCHAINS, reason="no Go toolchain installed (recorded outputs are "
                    "compared in test_matches_recorded_go_version_m)")
def test_live_go_version_m() -> None:
    checked = 0
    for go in TOOLCHAINS:
        for path in live_targets():
            res = subprocess.run([go, "version", "-m", path], capture_output=True)
            if res.returncode != 0 or not res.stdout:
                continue
            expected = res.stdout.decode("utf-8", "surrogateescape")
            info = read_buildinfo(read_elf(path))
            assert info is not None, path
            assert format_go_version_m(path, info) == expected, (go, path)
            checked += 1
    assert checked >= len(BIN_NAMES)


# Non-Go files ----------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/bin/true", "/bin/ls"])
def test_non_go_binaries_have_none(path: str) -> None:
    if not Path(path).exists():
        pytest.skip(f"{path} is not installed")
    assert read_buildinfo(read_elf(path)) is None


def test_minimal_elf_has_none() -> None:
    assert read_buildinfo(parse(eb.minimal().build())) is None


# Synthetic blobs: the inline layout ------------------------------------------------------------

MODINFO = ("path\texample.com/m\nmod\texample.com/m\tv1.0.0\th1:abc=\n"
           "dep\tgolang.org/x/sys\tv0.1.0\th1:def=\n"
           "build\t-compiler=gc\nbuild\tCGO_ENABLED=0\n")


@pytest.mark.parametrize("bits", [64, 32])
def test_inline_layout(bits: int) -> None:
    data = data_elf({0x40: inline_blob(b"go1.21.0", framed(MODINFO), bits // 8)}, bits=bits)
    info = read_buildinfo(parse(data))
    assert info is not None
    assert info.address == data_base(bits) + 0x40
    assert info.go_version == "go1.21.0"
    assert info.main == Module("example.com/m", "v1.0.0", "h1:abc=")
    assert info.deps == (Module("golang.org/x/sys", "v0.1.0", "h1:def="),)
    assert info.settings == (("-compiler", "gc"), ("CGO_ENABLED", "0"))
    assert format_go_version_m("x", info) == "x: go1.21.0\n" + "".join(
        f"\t{line}\n" for line in MODINFO.splitlines())


def test_misaligned_magic_is_skipped() -> None:
    good = inline_blob(b"go1.20", framed("path\tp\n"))
    data = data_elf({0x08: BUILDINFO_MAGIC + b"\x08\x02", 0x100: good})
    info = read_buildinfo(parse(data))
    assert info is not None and info.address == data_base(64) + 0x100


def test_magic_without_room_for_header() -> None:
    # At the very end of the segment's file bytes: fewer than 32 bytes follow.
    data = data_elf({0x1000 - 16: BUILDINFO_MAGIC + b"\x08\x02"})
    assert read_buildinfo(parse(data)) is None


def test_unframed_modinfo_is_dropped_like_go() -> None:
    # Without the 16-byte framing Go keeps only the version line.
    data = data_elf({0: inline_blob(b"go1.20", b"path\tp\n")})
    info = read_buildinfo(parse(data))
    assert info is not None
    assert format_go_version_m("f", info) == "f: go1.20\n"
    assert info.main is None and info.path == ""


@pytest.mark.parametrize("blob", [
    pytest.param(BUILDINFO_MAGIC + b"\x08\x02" + bytes(16) + b"\x80", id="truncated-varint"),
    pytest.param(BUILDINFO_MAGIC + b"\x08\x02" + bytes(16) + b"\xff" * 10 + b"\x01",
                 id="varint-overflow"),
    pytest.param(BUILDINFO_MAGIC + b"\x08\x02" + bytes(16) + b"\xff\xff\x03go",
                 id="length-past-segment"),
    pytest.param(inline_blob(b"", framed("path\tp\n")), id="empty-version"),
    pytest.param(inline_blob(b"go1.20", framed("mod\tonly-one-column\n")), id="bad-mod-line"),
    pytest.param(inline_blob(b"go1.20", framed("build\tkey with space=1\n")),
                 id="unquoted-key"),
    pytest.param(inline_blob(b"go1.20", framed("build\tk=a b\n")), id="unquoted-value"),
    pytest.param(inline_blob(b"go1.20", framed("=>\ta\tb\tc\n")), id="orphan-replacement"),
    pytest.param(inline_blob(b"go1.20", framed('build\t"k=1\n')), id="bad-quoted-key"),
])
def test_corrupt_inline_blobs_give_none(blob: bytes) -> None:
    data = data_elf({0: blob})
    assert read_buildinfo(parse(data)) is None


def test_length_past_segment_end() -> None:
    # The string must lie in the file bytes of the segment holding its length.
    blob = BUILDINFO_MAGIC + b"\x08\x02" + bytes(16) + uvarint_bytes(100) + b"go1"
    data = data_elf({0x1000 - len(blob): blob})
    assert read_buildinfo(parse(data)) is None


# Synthetic blobs: the pre-1.18 pointer layout --------------------------------------------------

def pointer_blob(bits: int, vers: bytes, mod: bytes, *, flags: int = 0,
                 ptr_size: int | None = None) -> tuple[bytes, dict[int, bytes]]:
    """Header with two pointers to Go string headers {data, len} in the data segment,
    whose bytes are in the read-only segment (as runtime.buildVersion/modinfo were)."""
    size = ptr_size or bits // 8
    order = "big" if flags & 1 else "little"
    data_b, ro_b = data_base(bits), rodata_base(bits)

    def word(v: int) -> bytes:
        return v.to_bytes(size, order)  # type: ignore[arg-type]

    hdr_vers, hdr_mod = data_b + 0x200, data_b + 0x200 + 2 * size
    header = BUILDINFO_MAGIC + bytes([size, flags]) + word(hdr_vers) + word(hdr_mod)
    header += bytes(32 - len(header))
    strings = word(ro_b + 0x10) + word(len(vers)) + word(ro_b + 0x100) + word(len(mod))
    return header, {0x200: strings, 0x10: vers, 0x100: mod}


@pytest.mark.parametrize("bits", [64, 32])
@pytest.mark.parametrize("flags", [0, 1], ids=["little", "big"])
def test_pointer_layout(bits: int, flags: int) -> None:
    header, pieces = pointer_blob(bits, b"go1.17.13", framed("path\tp\nmod\tp\t(devel)\t\n"),
                                  flags=flags)
    strings = pieces.pop(0x200)
    data = data_elf({0x20: header, 0x200: strings}, bits=bits, rodata=pieces)
    info = read_buildinfo(parse(data))
    assert info is not None
    assert info.layout == "pointer"
    assert format_go_version_m("old", info) == (
        "old: go1.17.13\n\tpath\tp\n\tmod\tp\t(devel)\t\n")


def test_pointer_layout_bad_pointer_size() -> None:
    header, pieces = pointer_blob(64, b"go1.16", framed("path\tp\n"))
    header = header[:14] + b"\x03" + header[15:]
    strings = pieces.pop(0x200)
    data = data_elf({0: header, 0x200: strings}, rodata=pieces)
    assert read_buildinfo(parse(data)) is None


@pytest.mark.parametrize("target", [0, 0xFFFF_FFFF_FFFF_FFF0, 0x400000 + 0x21FF8],
                         ids=["null", "huge", "across-segment-end"])
def test_pointer_layout_bad_pointers(target: int) -> None:
    header, pieces = pointer_blob(64, b"go1.16", framed("path\tp\n"))
    header = header[:16] + target.to_bytes(8, "little") + header[24:]
    strings = pieces.pop(0x200)
    data = data_elf({0: header, 0x200: strings}, rodata=pieces)
    # The version cannot be read: Go calls that "not a Go executable".
    assert read_buildinfo(parse(data)) is None


def test_pointer_layout_bad_length() -> None:
    header, pieces = pointer_blob(64, b"go1.16", framed("path\tp\n"))
    strings = bytearray(pieces.pop(0x200))
    strings[8:16] = (1 << 62).to_bytes(8, "little")
    data = data_elf({0: header, 0x200: bytes(strings)}, rodata=pieces)
    assert read_buildinfo(parse(data)) is None


# Fuzzing: damage never raises ------------------------------------------------------------------

REAL = (BINS / "hello-1.27-arm7-static").read_bytes()
REAL_INFO = parse_elf(REAL, "real")
SECTION_OFF = REAL.index(BUILDINFO_MAGIC)  # the file offset of .go.buildinfo


def test_fuzz_anchor_is_the_section() -> None:
    info = read_buildinfo(REAL_INFO)
    assert info is not None
    assert REAL_INFO.vaddr_to_offset(info.address, 32) == SECTION_OFF


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 0x2FF), st.integers(0, 255)), min_size=1,
                max_size=8))
def test_damaged_section_never_raises(edits: list[tuple[int, int]]) -> None:
    data = bytearray(REAL)
    for pos, value in edits:
        data[SECTION_OFF + pos] = value
    info = parse_elf(bytes(data), "fuzz")
    result = read_buildinfo(info)
    assert result is None or isinstance(result, GoBuildInfo)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_random_blob_never_raises(tail: bytes) -> None:
    blob = BUILDINFO_MAGIC + tail
    result = read_buildinfo(parse(data_elf({0x10: blob})))
    assert result is None or isinstance(result, GoBuildInfo)


# ParseBuildInfo / String / strconv ---------------------------------------------------------------

# The seeds of Go's FuzzParseBuildInfoRoundTrip (src/runtime/debug/mod_test.go).
GO_SEEDS = [
    "path\trsc.io/fortune\nmod\trsc.io/fortune\tv1.0.0\n",
    "path\tcmd/test2json",
    "go\t1.18\npath\texample.com/m\nmod\texample.com/m\t(devel)\t\nbuild\t-compiler=gc\n",
    "go\t1.18\npath\texample.com/m\nbuild\t-compiler=gc\n",
    'go 1.18\npath example.com/m\nbuild CRAZY_ENV="requires\\nescaping"\n',
]


def round_trip(text: str) -> None:
    try:
        path, main, deps, sets = parse_modinfo(text)
    except ValueError:
        return
    bi = GoBuildInfo("", path, main, tuple(deps), tuple(sets), 0, "inline")
    again = parse_modinfo(build_info_string(bi))
    assert again == (path, main, deps, sets)


@pytest.mark.parametrize("text", GO_SEEDS)
def test_go_round_trip_seeds(text: str) -> None:
    round_trip(text)


def test_last_line_without_newline_is_ignored() -> None:
    assert parse_modinfo("path\tcmd/test2json") == ("", None, [], [])


def test_quoted_settings_parse() -> None:
    _, _, _, sets = parse_modinfo('build\t"a b"="x\\ty"\nbuild\tk=`raw v`\nbuild\tempty=\n')
    assert sets == [("a b", "x\ty"), ("k", "raw v"), ("empty", "")]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["path\t", "mod\t", "dep\t", "=>\t", "build\t", "\t", "=",
                                 "\n", " ", '"', "`", "\\", "a", "b", "v1", "\\n", "é",
                                 "\x00", "\u00a0"]), max_size=40))
def test_round_trip_property(parts: list[str]) -> None:
    round_trip("".join(parts))


@pytest.mark.parametrize(("raw", "quoted"), [
    # strconv.Quote, per its documentation: Go escapes for \a\b\f\n\r\t\v, \xNN for other
    # controls and invalid bytes, \u/\U for non-printable runes, printable runes kept.
    ("plain", '"plain"'),
    ('a"b\\c', '"a\\"b\\\\c"'),
    ("\a\b\f\n\r\t\v", '"\\a\\b\\f\\n\\r\\t\\v"'),
    ("\x00\x1f\x7f", '"\\x00\\x1f\\x7f"'),
    ("é中😀", '"é中😀"'),
    ("\u00a0\u2028\ufeff", '"\\u00a0\\u2028\\ufeff"'),
    ("\U000e0001", '"\\U000e0001"'),
    (b"\xff".decode("utf-8", "surrogateescape"), '"\\xff"'),
])
def test_go_quote(raw: str, quoted: str) -> None:
    assert go_quote(raw) == quoted
    assert go_unquote(quoted) == raw


@pytest.mark.parametrize("bad", ['"unterminated', '"a"b"', '"\\q"', '"\\x4"', '"\\u123"',
                                 '"\\400"', '"\\ud800"', "`a`b`", '"new\nline"', "'c'", '"'])
def test_go_unquote_refuses(bad: str) -> None:
    assert go_unquote(bad) is None


def test_go_unquote_escapes() -> None:
    assert go_unquote('"\\101\\x42\\u0043\\U00000044"') == "ABCD"
    assert go_unquote("`a\r\nb`") == "a\nb"


@pytest.mark.parametrize(("data", "expected"), [
    (b"\x00", (0, 1)), (b"\x7f", (127, 1)), (b"\x80\x01", (128, 2)),
    (b"\xff" * 9 + b"\x01", ((1 << 64) - 1, 10)),
    (b"\xff" * 9 + b"\x02", None), (b"\x80", None), (b"", None),
])
def test_uvarint(data: bytes, expected: tuple[int, int] | None) -> None:
    assert uvarint(data) == expected

"""Relocation math and load bias, on synthetic ELF images and a real Go PIE.

Oracles: the psABIs' formulas (x86-64 R_X86_64_RELATIVE = B + A with A from the RELA
entry; ARM R_ARM_RELATIVE = B + A with A the word in place, REL), the gABI's SHT_RELR
encoding (decoded here from a hand computation and re-encoded with an independent
encoder), Linux's fs/binfmt_elf.c for the default bias, and ``readelf -rW`` for a real
binary.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import elf_builder as eb
import pytest

from loader.elf import ElfInfo, parse_elf
from loader.errors import LoaderError, RelocationError
from loader.image import LoadedImage, load_image

REPO = Path(__file__).resolve().parents[2]
BINS = REPO / "bins"
PAGE = 0x1000
# Linux's ELF_ET_DYN_BASE without ASLR: x86-64 is DEFAULT_MAP_WINDOW / 3 * 2
# (arch/x86/include/asm/elf.h, DEFAULT_MAP_WINDOW = (1 << 47) - PAGE_SIZE); ARM is
# TASK_SIZE / 3 * 2 with TASK_SIZE = 0xBF000000 (arch/arm/include/asm/elf.h).
X86_64_DYN_BASE = ((1 << 47) - PAGE) // 3 * 2
ARM_DYN_BASE = 0xBF000000 // 3 * 2
X86_64_LIMIT = (1 << 47) - PAGE
ARM_LIMIT = 0xBF000000


def pagestart(value: int) -> int:
    return value & ~(PAGE - 1)


def load(data: bytes, *, bits: int, base: int | None = None,
         relocate: bool | None = None) -> LoadedImage:
    info = parse_elf(data, "synthetic.elf")
    dyn_base, limit = (X86_64_DYN_BASE, X86_64_LIMIT) if bits == 64 else (ARM_DYN_BASE,
                                                                          ARM_LIMIT)
    return load_image(info, base=base, dyn_base=dyn_base, address_limit=limit,
                      relocate=relocate)


def word_at(image: LoadedImage, addr: int, bits: int) -> int:
    return int.from_bytes(image.read(addr, bits // 8), "little")


def test_derived_dyn_bases_are_the_well_known_values() -> None:
    assert X86_64_DYN_BASE == 0x555555554AAA
    assert ARM_DYN_BASE == 0x7F555554


# R_X86_64_RELATIVE ----------------------------------------------------------------------

@pytest.mark.parametrize("base", [0x7F0000000000, 0x10000, None])
def test_x86_64_relative_is_bias_plus_addend(base: int | None) -> None:
    vbase = 0x200000
    targets = {vbase + 0x1000: 0x1234, vbase + 0x1008: -0x10, vbase + 0x1FF8: 0x0}
    # The in-place words hold junk: RELA must ignore them.
    words = {addr: 0xDEADBEEF_CAFEF00D for addr in targets}
    words[vbase + 0x1010] = 0x1111  # not relocated
    data = eb.dyn_image(bits=64, machine=eb.EM_X86_64, vbase=vbase, words=words,
                        rela=[(a, eb.R_X86_64_RELATIVE, 0, add) for a, add in targets.items()])
    image = load(data, bits=64, base=base)
    if base is None:
        bias = pagestart(X86_64_DYN_BASE - vbase)
    else:
        bias = base - vbase
    assert image.bias == bias
    for addr, addend in targets.items():
        assert word_at(image, addr + bias, 64) == (bias + addend) % (1 << 64), hex(addr)
    assert word_at(image, vbase + 0x1010 + bias, 64) == 0x1111
    assert image.relocations is not None
    assert image.relocations.counts["R_X86_64_RELATIVE"] == len(targets)


# R_ARM_RELATIVE (REL: addend in place) --------------------------------------------------

@pytest.mark.parametrize("base", [0x40000000, None])
def test_arm_relative_adds_bias_to_word_in_place(base: int | None) -> None:
    vbase = 0x10000
    in_place = {vbase + 0x1000: 0x0001_0000, vbase + 0x1004: 0x1234,
                vbase + 0x1FFC: 0xFFFF_FFF0}
    words = {**in_place, vbase + 0x1008: 0x5555}
    data = eb.dyn_image(bits=32, machine=eb.EM_ARM, vbase=vbase, words=words,
                        rel=[(a, eb.R_ARM_RELATIVE, 0) for a in in_place])
    image = load(data, bits=32, base=base)
    bias = base - vbase if base is not None else pagestart(ARM_DYN_BASE - vbase)
    assert image.bias == bias
    for addr, value in in_place.items():
        assert word_at(image, addr + bias, 32) == (bias + value) % (1 << 32), hex(addr)
    assert word_at(image, vbase + 0x1008 + bias, 32) == 0x5555


# RELR -----------------------------------------------------------------------------------

def gabi_relr_decode(entries: list[int], bits: int) -> list[int]:
    """Straight from the gABI text: even = address, odd = bitmap of the next bits-1 words."""
    word = bits // 8
    out: list[int] = []
    base = 0
    for entry in entries:
        if entry % 2 == 0:
            out.append(entry)
            base = entry + word
        else:
            for bit in range(1, bits):
                if (entry >> bit) & 1:
                    out.append(base + (bit - 1) * word)
            base += (bits - 1) * word
    return out


# Hand-computed: 64-bit: 0x1000 -> 0x1000; bitmap 0b1 (entry 0x3) -> 0x1008, next base
# 0x1008 + 63 * 8 = 0x1200; entry 1 << 63 | 1 has bitmap bit 62 -> 0x1200 + 62 * 8 = 0x13F0.
# 32-bit: 0x1000; 0x3 -> 0x1004, next base 0x1004 + 31 * 4 = 0x1080; 0x80000001 has bitmap
# bit 30 -> 0x1080 + 30 * 4 = 0x10F8.
HAND_RELR = {
    64: ([0x1000, 0x3, (1 << 63) | 1], [0x1000, 0x1008, 0x13F0]),
    32: ([0x1000, 0x3, 0x8000_0001], [0x1000, 0x1004, 0x10F8]),
}


@pytest.mark.parametrize("bits", [64, 32])
def test_relr_hand_example(bits: int) -> None:
    entries, expected = HAND_RELR[bits]
    assert gabi_relr_decode(entries, bits) == expected
    assert eb.relr_encode(expected, bits) == entries
    check_relr(bits, entries, expected)


RELR_SETS = {
    "single": [0x1000],
    "dense-run": [0x1000 + 8 * i for i in range(150)],
    "sparse": [0x1000, 0x1100, 0x1108, 0x1110, 0x1800, 0x1FF8],
    "bitmap-edges": [0x1000, 0x1008, 0x1000 + 8 * 63, 0x1000 + 8 * 64, 0x1000 + 8 * 126,
                     0x1000 + 8 * 127, 0x1000 + 8 * 200],
}


@pytest.mark.parametrize("bits", [64, 32])
@pytest.mark.parametrize("name", sorted(RELR_SETS))
def test_relr_roundtrip(bits: int, name: str) -> None:
    word = bits // 8
    # Scale the 8-byte spaced sets to the word size so that they stay word-aligned.
    addrs = sorted({0x1000 + (a - 0x1000) // 8 * word for a in RELR_SETS[name]})
    entries = eb.relr_encode(addrs, bits)
    assert gabi_relr_decode(entries, bits) == addrs
    check_relr(bits, entries, addrs)


def check_relr(bits: int, entries: list[int], offsets: list[int]) -> None:
    """Every data word gets B added exactly when the RELR table lists it."""
    vbase = 0x30000
    word = bits // 8
    machine = eb.EM_X86_64 if bits == 64 else eb.EM_ARM
    original = {vbase + off: 0x100 + off for off in range(eb.DATA_OFF, eb.DATA_END, word)}
    data = eb.dyn_image(bits=bits, machine=machine, vbase=vbase, words=original,
                        relr=[e + vbase if e % 2 == 0 else e for e in entries])
    base = 0x7F0000000000 if bits == 64 else 0x40000000
    image = load(data, bits=bits, base=base)
    bias = base - vbase
    wanted = {vbase + off for off in offsets}
    for addr, value in original.items():
        expect = value + bias if addr in wanted else value
        assert word_at(image, addr + bias, bits) == expect % (1 << bits), hex(addr)
    assert image.relocations is not None
    assert image.relocations.counts["RELR"] == len(offsets)


# Errors ---------------------------------------------------------------------------------

def test_unknown_x86_64_type_names_type_and_offset() -> None:
    data = eb.dyn_image(bits=64, machine=eb.EM_X86_64,
                        rela=[(0x1000, eb.R_X86_64_RELATIVE, 0, 1), (0x1238, 153, 0, 0)])
    with pytest.raises(RelocationError) as exc:
        load(data, bits=64, base=0x7F0000000000)
    msg = str(exc.value)
    assert "\n" not in msg
    assert re.search(r"\b153\b", msg), msg
    assert "0x1238" in msg, msg


def test_unknown_arm_type_names_type_and_offset() -> None:
    data = eb.dyn_image(bits=32, machine=eb.EM_ARM, vbase=0x10000,
                        rel=[(0x11234, 99, 0)])
    with pytest.raises(RelocationError) as exc:
        load(data, bits=32, base=0x40000000)
    msg = str(exc.value)
    assert re.search(r"\b99\b", msg), msg
    assert "0x11234" in msg, msg


@pytest.mark.parametrize("target", [0x3000, 0x4FF8, 0x9000])
def test_relocation_outside_every_load_is_refused(target: int) -> None:
    # 0x3000 and 0x4FF8 are in the hole between the two PT_LOADs, 0x9000 beyond both.
    data = eb.dyn_image(bits=64, machine=eb.EM_X86_64,
                        rela=[(target, eb.R_X86_64_RELATIVE, 0, 1)])
    with pytest.raises(RelocationError) as exc:
        load(data, bits=64, base=0x7F0000000000)
    assert f"{target:#x}" in str(exc.value)


def test_relr_outside_every_load_is_refused() -> None:
    data = eb.dyn_image(bits=64, machine=eb.EM_X86_64, relr=[0x3000])
    with pytest.raises(RelocationError):
        load(data, bits=64, base=0x7F0000000000)


def test_relocation_errors_are_loader_errors() -> None:
    assert issubclass(RelocationError, LoaderError)


# Static-pie: the kernel does not relocate, the program does -----------------------------

def test_static_pie_is_not_relocated_by_default() -> None:
    words = {0x1000: 0xAAAA, 0x1008: 0xBBBB}
    data = eb.dyn_image(bits=64, machine=eb.EM_X86_64, interp=False, words=words,
                        rela=[(0x1000, eb.R_X86_64_RELATIVE, 0, 0x40)], relr=[0x1008])
    info = parse_elf(data)
    assert info.interp is None and info.link_kind == "static-pie"
    image = load(data, bits=64, base=0x7F0000000000)
    assert image.relocations is None
    assert word_at(image, 0x7F0000001000, 64) == 0xAAAA
    assert word_at(image, 0x7F0000001008, 64) == 0xBBBB
    forced = load(data, bits=64, base=0x7F0000000000, relocate=True)
    assert word_at(forced, 0x7F0000001000, 64) == 0x7F0000000040
    assert word_at(forced, 0x7F0000001008, 64) == 0x7F000000BBBB


# Default bias (fs/binfmt_elf.c load_elf_binary, ET_DYN with PT_INTERP) ------------------

def bias_image(bits: int, first_vaddr: int) -> ElfInfo:
    """One PT_LOAD whose p_vaddr is ``first_vaddr`` (p_offset congruent mod the page)."""
    offset = first_vaddr % PAGE
    machine = eb.EM_X86_64 if bits == 64 else eb.EM_ARM
    elf = eb.Elf(bits=bits, machine=machine, type=eb.ET_DYN, entry=first_vaddr, size=0x3000)
    path = eb.INTERP_PATHS[bits] + b"\0"
    elf.blobs[0x100] = path
    elf.phdrs = [eb.Phdr(eb.PT_INTERP, 0x100, 0x100, len(path), len(path), eb.PF_R, 1),
                 eb.Phdr(eb.PT_LOAD, offset, first_vaddr, 0x2000 - offset, 0x2000 - offset,
                         eb.PF_R | eb.PF_X)]
    return parse_elf(elf.build(), "bias.elf")


def linux_default_bias(dyn_base: int, first_vaddr: int) -> int:
    # load_bias = ELF_ET_DYN_BASE (& ~(alignment - 1), page alignment here);
    # load_bias = ELF_PAGESTART(load_bias - vaddr), vaddr = p_vaddr of the first PT_LOAD.
    return pagestart(pagestart(dyn_base) - first_vaddr)


BIAS_CASES = [
    pytest.param(64, 0x0, id="x86_64-vaddr-0"),
    pytest.param(64, 0x400000, id="x86_64-go-pie-0x400000"),
    pytest.param(32, 0x0, id="arm-vaddr-0"),
    pytest.param(32, 0x10000, id="arm-vaddr-0x10000"),
    # A first PT_LOAD that is not page-aligned: ELF_PAGESTART(dyn_base - vaddr) takes the
    # page of vaddr's offset into account, so the image starts one page lower.
    pytest.param(64, 0x10B00, id="x86_64-unaligned-vaddr"),
    pytest.param(32, 0xB00, id="arm-unaligned-vaddr"),
]


@pytest.mark.parametrize(("bits", "first_vaddr"), BIAS_CASES)
def test_default_bias_follows_linux(bits: int, first_vaddr: int) -> None:
    info = bias_image(bits, first_vaddr)
    dyn_base = X86_64_DYN_BASE if bits == 64 else ARM_DYN_BASE
    limit = X86_64_LIMIT if bits == 64 else ARM_LIMIT
    image = load_image(info, base=None, dyn_base=dyn_base, address_limit=limit)
    bias = linux_default_bias(dyn_base, first_vaddr)
    assert image.bias == bias, f"bias {image.bias:#x}, Linux {bias:#x}"
    # elf_map() maps at ELF_PAGESTART(load_bias + p_vaddr).
    assert image.low == pagestart(bias + first_vaddr)
    assert image.entry == bias + first_vaddr


def test_linux_formula_examples() -> None:
    """The oracle itself, on numbers worked out by hand."""
    assert linux_default_bias(0x555555554AAA, 0) == 0x555555554000
    assert linux_default_bias(0x555555554AAA, 0x400000) == 0x555555154000
    assert linux_default_bias(0x555555554AAA, 0x10B00) == 0x555555543000
    assert linux_default_bias(0x7F555554, 0xB00) == 0x7F554000


def test_base_option_places_lowest_page() -> None:
    info = bias_image(64, 0x400000)
    image = load_image(info, base=0x7F0000000000, dyn_base=X86_64_DYN_BASE,
                       address_limit=X86_64_LIMIT)
    assert image.low == 0x7F0000000000
    assert image.bias == 0x7F0000000000 - 0x400000


# A real Go PIE against readelf ----------------------------------------------------------

READELF = shutil.which("readelf") or ("/usr/bin/readelf"
                                      if Path("/usr/bin/readelf").exists() else None)
PIES = ["hello-1.27-amd64-pie", "hello-1.19-amd64-pie", "work-1.27-amd64-pie"]
RELA_LINE = re.compile(r"^([0-9a-f]{8,16})\s+([0-9a-f]{8,16})\s+(R_\w+)\s*(.*)$")


def readelf_relocations(path: Path) -> list[tuple[int, str, str]]:
    """(r_offset, type, rest-of-line) for every entry ``readelf -rW`` lists."""
    assert READELF is not None
    out = subprocess.run([READELF, "-rW", str(path)], capture_output=True, text=True,
                         check=True).stdout
    entries = []
    for line in out.splitlines():
        m = RELA_LINE.match(line.strip())
        if m:
            entries.append((int(m.group(1), 16), m.group(3), m.group(4).strip()))
    return entries


def readelf_lowest_load(path: Path) -> int:
    assert READELF is not None
    out = subprocess.run([READELF, "-lW", str(path)], capture_output=True, text=True,
                         check=True).stdout
    vaddrs = [int(line.split()[2], 16) for line in out.splitlines()
              if line.split()[:1] == ["LOAD"]]
    return min(vaddrs)


def parse_addend(text: str) -> int:
    """The addend column of a symbol-less entry: hex, possibly with a sign."""
    m = re.fullmatch(r"([-+]?)\s*([0-9a-f]+)", text)
    assert m is not None, f"unexpected readelf addend column {text!r}"
    value = int(m.group(2), 16)
    return -value if m.group(1) == "-" else value


@pytest.mark.parametrize("name", PIES)
@pytest.mark.parametrize("base", [0x7F0000000000, None], ids=["base-0x7f0000000000",
                                                               "default"])
def test_real_pie_relative_relocations(name: str, base: int | None) -> None:
    if READELF is None:
        pytest.skip("readelf (binutils) is not installed; it is the oracle for this test")
    path = BINS / name
    if not path.exists():
        pytest.skip(f"{path} is missing")
    entries = readelf_relocations(path)
    relative = [(off, parse_addend(rest)) for off, rtype, rest in entries
                if rtype == "R_X86_64_RELATIVE"]
    assert relative, "readelf listed no R_X86_64_RELATIVE entries"
    low = readelf_lowest_load(path)
    info = parse_elf(path.read_bytes(), str(path))
    image = load_image(info, base=base, dyn_base=X86_64_DYN_BASE, address_limit=X86_64_LIMIT)
    bias = base - pagestart(low) if base is not None else pagestart(X86_64_DYN_BASE - low)
    assert image.bias == bias
    mismatches = [(off, addend) for off, addend in relative
                  if word_at(image, off + bias, 64) != bias + addend]
    assert not mismatches, f"{len(mismatches)} wrong words, first {mismatches[:3]}"
    assert image.relocations is not None
    assert image.relocations.counts["R_X86_64_RELATIVE"] == len(relative)
    assert image.relocations.total == len(entries)


# AArch64 (RELA) and i386 (REL) --------------------------------------------------------------

EM_AARCH64 = 183
R_AARCH64_RELATIVE = 1027
R_386_RELATIVE = 8
AARCH64_DYN_BASE = 0xAAAAAAAAAAAA  # 2 * TASK_SIZE_64 / 3, 48-bit VA (arch/arm64/include/asm/elf.h)
AARCH64_LIMIT = (1 << 48) - PAGE


def test_aarch64_relative_is_bias_plus_addend() -> None:
    vbase = 0x10000
    targets = {vbase + 0x1000: 0x1234, vbase + 0x1008: -0x10}
    words = {addr: 0xDEADBEEF_CAFEF00D for addr in targets}
    data = eb.dyn_image(bits=64, machine=EM_AARCH64, vbase=vbase, words=words,
                        rela=[(a, R_AARCH64_RELATIVE, 0, add) for a, add in targets.items()])
    info = parse_elf(data, "<aarch64>")
    image = load_image(info, base=None, dyn_base=AARCH64_DYN_BASE, address_limit=AARCH64_LIMIT)
    bias = pagestart(AARCH64_DYN_BASE - vbase)
    assert image.bias == bias
    for addr, addend in targets.items():
        assert word_at(image, addr + bias, 64) == (bias + addend) % (1 << 64), hex(addr)
    assert image.relocations is not None
    assert image.relocations.counts["R_AARCH64_RELATIVE"] == len(targets)


def test_i386_relative_adds_bias_to_word_in_place() -> None:
    vbase = 0x0
    in_place = {vbase + 0x1000: 0x0001_0000, vbase + 0x1FFC: 0xFFFF_FFF0}
    data = eb.dyn_image(bits=32, machine=eb.EM_386, vbase=vbase, words=dict(in_place),
                        rel=[(a, R_386_RELATIVE, 0) for a in in_place])
    image = load(data, bits=32, base=0x400000)
    bias = 0x400000 - vbase
    for addr, value in in_place.items():
        assert word_at(image, addr + bias, 32) == (bias + value) % (1 << 32), hex(addr)
    assert image.relocations is not None
    assert image.relocations.counts["R_386_RELATIVE"] == len(in_place)


@pytest.mark.parametrize("name", ["hello-1.27-arm64-pie-stripped", "work-1.27-arm64-pie-stripped"])
def test_real_arm64_pie_relative_relocations(name: str) -> None:
    """Every R_AARCH64_RELATIVE word of Go's internal-link arm64 PIEs against readelf -r."""
    if READELF is None:
        pytest.skip("readelf (binutils) is not installed; it is the oracle for this test")
    path = BINS / name
    entries = readelf_relocations(path)
    relative = [(off, parse_addend(rest)) for off, rtype, rest in entries
                if rtype == "R_AARCH64_RELATIVE"]
    assert relative, "readelf listed no R_AARCH64_RELATIVE entries"
    low = readelf_lowest_load(path)
    info = parse_elf(path.read_bytes(), str(path))
    image = load_image(info, base=None, dyn_base=AARCH64_DYN_BASE, address_limit=AARCH64_LIMIT)
    # Linux aligns the bias to the largest p_align (64 KiB in Go's arm64 images).
    bias = (AARCH64_DYN_BASE & ~0xFFFF) - low
    assert image.bias == bias
    mismatches = [(off, addend) for off, addend in relative
                  if word_at(image, off + bias, 64) != bias + addend]
    assert not mismatches, f"{len(mismatches)} wrong words, first {mismatches[:3]}"
    assert image.relocations is not None
    assert image.relocations.total == len(entries)

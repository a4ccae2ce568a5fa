"""What ``elftrace info BINARY`` shows: the facts about an ELF file that decide whether
and how elftrace runs it, for Go and non-Go binaries alike.

The file is first validated by :func:`loader.elf.read_elf` (the kernel's view: header,
program headers, PT_INTERP, PT_DYNAMIC), so anything malformed there ends in one
:class:`~loader.errors.LoaderError` line. What comes after is descriptive and never
fails the command: relocation tables are decoded from a laid-out image without being
applied (a damaged table is reported in its row), build info and sections are read with
the guarded readers of loader.buildinfo and loader.elfsym, and the Go symbol table comes
from loader.gopclntab when that module exists.

Sources: the System V gABI (e_ident, e_type, PT_LOAD, DT_NEEDED); ELF for the Arm
Architecture (AAELF32) §5.2 "ELF header": e_flags bits 31-24 are EF_ARM_EABIMASK (the
EABI version), and EF_ARM_ABI_FLOAT_HARD (0x400) / EF_ARM_ABI_FLOAT_SOFT (0x200) say
which floating-point procedure-call variant the code uses (Go sets neither; GCC's armhf
sets the first). How each kind of image is told apart follows file(1) and binfmt_elf
(``ElfInfo.link_kind``).
"""

from __future__ import annotations

import importlib
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from loader.buildinfo import GoBuildInfo, format_setting, read_buildinfo
from loader.elf import (
    DT,
    PF_R,
    PF_W,
    PF_X,
    ElfClass,
    ElfInfo,
    ElfType,
    Machine,
    machine_name,
    read_elf,
)
from loader.elfsym import read_sections
from loader.errors import LoaderError, RelocationError
from loader.image import PAGE_SIZE, load_image, page_down
from loader.relocations import RELR_TYPE, iter_relocations, relocation_targets, table_for

EF_ARM_EABIMASK = 0xFF000000
EF_ARM_ABI_FLOAT_SOFT = 0x200
EF_ARM_ABI_FLOAT_HARD = 0x400
DF_1_PIE = 0x08000000  # DT_FLAGS_1: the object is a position-independent executable

# Short names for the table; machine_name gives the long form with the EM_ constant.
ARCH_NAMES: dict[int, str] = {
    Machine.X86_64: "x86-64", Machine.ARM: "32-bit ARM", Machine.I386: "i386",
    Machine.AARCH64: "AArch64", Machine.RISCV: "RISC-V"}
LINK_KINDS = {
    "static": "static (ET_EXEC, no PT_INTERP)",
    "dynamic": "dynamic (ET_EXEC with PT_INTERP)",
    "pie": "pie (ET_DYN with PT_INTERP)",
    "static-pie": "static-pie (ET_DYN, no PT_INTERP)",
}


@dataclass(frozen=True, slots=True)
class LoadSegment:
    """One PT_LOAD: link-time address and sizes, file offset, PF_* flags."""

    vaddr: int
    memsz: int
    offset: int
    filesz: int
    flags: int

    @property
    def perms(self) -> str:
        return ("R" if self.flags & PF_R else "-") + ("W" if self.flags & PF_W else "-") + (
            "X" if self.flags & PF_X else "-")


@dataclass(frozen=True, slots=True)
class PclntabInfo:
    """The Go symbol table as loader.gopclntab reads it. ``status`` is ``ok``, ``absent``
    (no pclntab found), ``unknown`` (loader.gopclntab is not available) or ``invalid``
    (with the reason in ``detail``)."""

    status: str
    version: str | None = None
    nfunc: int | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class BinaryInfo:
    """Everything ``elftrace info`` shows about one file."""

    path: str
    file_size: int
    elf_class: str  # "ELF32" or "ELF64"
    byte_order: str  # "little-endian" (big-endian files are refused by read_elf)
    machine: int
    arch: str  # short name, e.g. "x86-64"
    machine_name: str  # e.g. "x86-64 (EM_X86_64)"
    e_flags: int
    arm_eabi: int | None  # EABI version from e_flags (ARM only)
    arm_float_abi: str | None  # "hard", "soft" or "unspecified" (ARM only)
    elf_type: str  # "EXEC" or "DYN"
    link_kind: str  # "static", "pie", "static-pie" or "dynamic"
    pie_flag: bool  # DT_FLAGS_1 has DF_1_PIE (linkers set it on PIEs, not on libraries)
    interpreter: str | None
    needed: tuple[str, ...]  # DT_NEEDED, in order
    entry: int
    loads: tuple[LoadSegment, ...]
    has_dynamic: bool
    # (type name, count) in first-seen order (ld.so's: RELR, RELA/REL, JMPREL); RELR
    # entries are counted as "RELR". Empty when there is no PT_DYNAMIC.
    relocations: tuple[tuple[str, int], ...]
    relocation_error: str | None
    go: GoBuildInfo | None
    goarm: str | None  # the GOARM build setting, for ARM Go binaries
    pclntab: PclntabInfo
    section_headers: int  # how many section headers could be read (0: none, or damaged)
    stripped: bool  # no .symtab
    has_dwarf: bool  # .debug_info (or .zdebug_info) present

    @property
    def is_go(self) -> bool:
        return self.go is not None

    @property
    def relocation_total(self) -> int:
        return sum(n for _, n in self.relocations)


def describe(path: str | os.PathLike[str]) -> BinaryInfo:
    """Read and describe ``path``; a file that is not a valid ELF executable raises the
    LoaderError :func:`loader.elf.read_elf` raises (one line)."""
    info = read_elf(Path(path))
    return describe_elf(info)


def describe_elf(info: ElfInfo) -> BinaryInfo:
    """:func:`describe` for an already validated image."""
    arm = info.machine == Machine.ARM
    sections = read_sections(info)
    names = {s.name for s in sections}
    go = read_buildinfo(info)
    relocations, reloc_error = count_relocations(info)
    return BinaryInfo(
        path=info.path,
        file_size=len(info.data),
        elf_class="ELF64" if info.elf_class is ElfClass.ELF64 else "ELF32",
        byte_order="little-endian",
        machine=info.machine,
        arch=ARCH_NAMES.get(info.machine, f"e_machine {info.machine}"),
        machine_name=machine_name(info.machine),
        e_flags=info.flags,
        arm_eabi=(info.flags & EF_ARM_EABIMASK) >> 24 if arm else None,
        arm_float_abi=_float_abi(info.flags) if arm else None,
        elf_type=info.type.name,
        link_kind=info.link_kind,
        pie_flag=bool((info.dynamic.get(DT.FLAGS_1) or 0) & DF_1_PIE) if info.dynamic else False,
        interpreter=info.interp,
        needed=info.dynamic.needed if info.dynamic is not None else (),
        entry=info.entry,
        loads=tuple(LoadSegment(p.vaddr, p.memsz, p.offset, p.filesz, p.flags)
                    for p in info.loads),
        has_dynamic=info.dynamic is not None,
        relocations=relocations,
        relocation_error=reloc_error,
        go=go,
        goarm=go.setting("GOARM") if go is not None else None,
        pclntab=read_pclntab(info) if go is not None or ".gopclntab" in names else
        PclntabInfo("absent"),
        section_headers=len(sections),
        stripped=".symtab" not in names,
        has_dwarf=".debug_info" in names or ".zdebug_info" in names,
    )


def _float_abi(flags: int) -> str:
    if flags & EF_ARM_ABI_FLOAT_HARD:
        return "hard"
    if flags & EF_ARM_ABI_FLOAT_SOFT:
        return "soft"
    return "unspecified"


def count_relocations(info: ElfInfo) -> tuple[tuple[tuple[str, int], ...], str | None]:
    """Dynamic relocations by type name, found as ld.so finds them (through PT_DYNAMIC)
    in an image laid out but not relocated. Returns (counts, error message or None)."""
    if info.dynamic is None:
        return (), None
    counts: Counter[str] = Counter()
    try:
        table_for(info.machine)
        known_machine = True
    except RelocationError:
        known_machine = False
    try:
        # Any page-aligned base will do: only the tables are read, nothing is written.
        # Bias 0 when the image is above page zero keeps messages in the file's terms.
        low = page_down(min(p.vaddr for p in info.loads))
        base = max(low, PAGE_SIZE) if info.type is ElfType.DYN else None
        image = load_image(info, base=base, dyn_base=0,
                           address_limit=1 << (8 * info.word_size), relocate=False)
        if known_machine:
            for rel, rtype in relocation_targets(image):
                counts[_reloc_name(rel.type, rel.table, rtype.name if rtype else None)] += 1
        else:
            # No relocation table for this machine (e.g. AArch64): count by number.
            for rel in iter_relocations(image):
                counts[_reloc_name(rel.type, rel.table, None)] += 1
    except LoaderError as exc:
        return tuple(counts.items()), str(exc)
    return tuple(counts.items()), None


def _reloc_name(rtype: int, table: str, name: str | None) -> str:
    if rtype == RELR_TYPE:
        return "RELR"
    return name if name is not None else f"type {rtype} (unknown, in {table})"


def read_pclntab(info: ElfInfo) -> PclntabInfo:
    """The pclntab version and function count, through loader.gopclntab if it exists."""
    try:
        # Imported by name, here: loader.gopclntab is optional for `info`.
        gopclntab = importlib.import_module("loader.gopclntab")
    except ImportError as exc:
        return PclntabInfo("unknown", detail=f"loader.gopclntab is not available: {exc}")
    try:
        symbols = gopclntab.GoSymbols.load(info)
        if symbols is None:
            return PclntabInfo("absent")
        return PclntabInfo("ok", str(symbols.version), int(symbols.nfunc))
    except LoaderError as exc:
        return PclntabInfo("invalid", detail=str(exc))
    except Exception as exc:
        # `info` describes damaged files too; the pclntab reader's own tests own its
        # robustness, and here a surprise is reported in its row, not as a traceback.
        return PclntabInfo("invalid", detail=f"{type(exc).__name__}: {exc}")


# The table ------------------------------------------------------------------------------------

def format_info(info: BinaryInfo) -> list[tuple[str, str]]:
    """(label, value) rows, in display order; values may span lines."""
    rows: list[tuple[str, str]] = [
        ("File", info.path),
        ("Size", f"{info.file_size:,} bytes"),
        ("Format", f"{info.elf_class}, {info.byte_order}"),
        ("Machine", info.machine_name),
    ]
    if info.arm_eabi is not None:
        rows.append(("ARM EABI", f"version {info.arm_eabi}, float ABI {info.arm_float_abi} "
                                 f"(e_flags {info.e_flags:#x})"))
    if info.goarm is not None:
        rows.append(("GOARM", info.goarm))
    kind = LINK_KINDS.get(info.link_kind, info.link_kind)
    if info.elf_type == "DYN" and not info.pie_flag:
        # file(1)'s rule: an ET_DYN without DF_1_PIE is a shared object, even if runnable.
        kind += "; no DF_1_PIE flag: a shared library?"
    rows.append(("Type", kind))
    rows.append(("Interpreter", info.interpreter or "none"))
    rows.append(("Needed libraries", ", ".join(info.needed) if info.needed else "none"))
    entry = f"{info.entry:#x}"
    if info.machine == Machine.ARM and info.entry & 1:
        entry += " (Thumb state)"  # bit 0 of an ARM entry point selects Thumb
    if info.elf_type == "DYN":
        entry += " (link-time; the load bias is added)"
    rows.append(("Entry point", entry))
    rows.append(("Load segments", "\n".join(
        f"{s.vaddr:#010x}  memsz {s.memsz:#x}  {s.perms}" for s in info.loads)))
    rows.append(("Relocations", _format_relocations(info)))
    rows += _format_go(info)
    if info.section_headers == 0:
        rows.append(("Symbols", "no section headers"))
    else:
        rows.append(("Symbols", "stripped (no .symtab)" if info.stripped else ".symtab present"))
    rows.append(("DWARF", "yes" if info.has_dwarf else "no"))
    return rows


def _format_relocations(info: BinaryInfo) -> str:
    if not info.has_dynamic:
        return "none (no PT_DYNAMIC)"
    if info.relocation_error is not None:
        return f"unreadable: {info.relocation_error}"
    if not info.relocations:
        return "none"
    return "\n".join(f"{name}: {count:,}" for name, count in info.relocations)


def _format_go(info: BinaryInfo) -> list[tuple[str, str]]:
    go = info.go
    if go is None:
        return [("Go", "no Go build info")]
    rows = [("Go version", go.go_version)]
    if go.path:
        rows.append(("Go package", go.path))
    if go.main is not None:
        rows.append(("Go main module", f"{go.main.path} {go.main.version}".rstrip()))
    if go.deps:
        rows.append(("Go dependencies", "\n".join(
            f"{d.path} {d.version}" + (f" => {d.replace.path} {d.replace.version}".rstrip()
                                       if d.replace else "") for d in go.deps)))
    if go.settings:
        rows.append(("Go build settings", "\n".join(
            format_setting(k, v) for k, v in go.settings)))
    p = info.pclntab
    if p.status == "ok":
        rows.append(("pclntab", f"Go {p.version} format, {p.nfunc:,} functions"))
    elif p.status == "unknown":
        rows.append(("pclntab", f"unknown ({p.detail})"))
    elif p.status == "absent":
        rows.append(("pclntab", "not found"))
    else:
        rows.append(("pclntab", f"invalid: {p.detail}"))
    return rows

"""Read and validate the parts of an ELF file that the kernel reads to run it.

The ELF header, the program headers, PT_INTERP and PT_DYNAMIC are parsed here by hand,
with every offset checked before it is used, the way Linux's fs/binfmt_elf.c does:
these few fixed-size records are all an exec needs, and a hostile file must end in one
:class:`~loader.errors.LoaderError`, never in an exception from deep inside a parser.
Section-level data (symbols, notes, DWARF, .gopclntab) is read with pyelftools elsewhere.
"""

from __future__ import annotations

import itertools
import struct
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path

from loader.errors import MalformedElf, NotElf, UnsupportedArch, UnsupportedImage

ELF_MAGIC = b"\x7fELF"
# Linux refuses program header tables larger than this (fs/binfmt_elf.c: load_elf_phdrs).
MAX_PHDR_TABLE_BYTES = 65536
PATH_MAX = 4096
# Refuse files the emulator would have to hold in memory beyond reason.
MAX_FILE_BYTES = 1 << 31


class ElfClass(IntEnum):
    ELF32 = 1
    ELF64 = 2


class ElfType(IntEnum):
    NONE = 0
    REL = 1
    EXEC = 2
    DYN = 3
    CORE = 4


class Machine(IntEnum):
    """e_machine values elftrace knows by name (for messages); others are reported by number."""

    I386 = 3
    ARM = 40
    X86_64 = 62
    AARCH64 = 183
    RISCV = 243


class PT(IntEnum):
    NULL = 0
    LOAD = 1
    DYNAMIC = 2
    INTERP = 3
    NOTE = 4
    SHLIB = 5
    PHDR = 6
    TLS = 7
    GNU_EH_FRAME = 0x6474E550
    GNU_STACK = 0x6474E551
    GNU_RELRO = 0x6474E552
    GNU_PROPERTY = 0x6474E553
    ARM_EXIDX = 0x70000001


PF_X = 1
PF_W = 2
PF_R = 4


class DT(IntEnum):
    """Dynamic tags the loader uses (ELF gABI, plus DT_RELR from the 2022 gABI update)."""

    NULL = 0
    NEEDED = 1
    PLTRELSZ = 2
    STRTAB = 5
    SYMTAB = 6
    RELA = 7
    RELASZ = 8
    RELAENT = 9
    STRSZ = 10
    SYMENT = 11
    SONAME = 14
    RPATH = 15
    REL = 17
    RELSZ = 18
    RELENT = 19
    PLTREL = 20
    TEXTREL = 22
    JMPREL = 23
    BIND_NOW = 24
    RUNPATH = 29
    FLAGS = 30
    RELRSZ = 35
    RELR = 36
    RELRENT = 37
    FLAGS_1 = 0x6FFFFFFB


MACHINE_NAMES = {
    Machine.I386: "i386 (EM_386)",
    Machine.ARM: "32-bit ARM (EM_ARM)",
    Machine.X86_64: "x86-64 (EM_X86_64)",
    Machine.AARCH64: "AArch64 (EM_AARCH64)",
    Machine.RISCV: "RISC-V (EM_RISCV)",
}


def machine_name(machine: int) -> str:
    return MACHINE_NAMES.get(machine, f"e_machine {machine}")  # type: ignore[call-overload]


@dataclass(frozen=True, slots=True)
class ProgramHeader:
    type: int
    flags: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int
    align: int

    @property
    def end(self) -> int:
        return self.vaddr + self.memsz


@dataclass(frozen=True, slots=True)
class DynamicInfo:
    """PT_DYNAMIC decoded: every (tag, value) in order, plus the DT_NEEDED names."""

    entries: tuple[tuple[int, int], ...]
    needed: tuple[str, ...]

    def get(self, tag: int) -> int | None:
        for entry_tag, value in self.entries:
            if entry_tag == tag:
                return value
        return None


@dataclass(frozen=True)
class ElfInfo:
    """A validated ELF executable as the kernel sees it: header facts and program headers."""

    path: str
    data: bytes = field(repr=False)
    elf_class: ElfClass
    machine: int
    type: ElfType
    flags: int
    entry: int
    phoff: int
    phentsize: int
    phnum: int
    phdrs: tuple[ProgramHeader, ...]
    interp: str | None
    dynamic: DynamicInfo | None

    @property
    def word_size(self) -> int:
        return 8 if self.elf_class is ElfClass.ELF64 else 4

    @property
    def loads(self) -> list[ProgramHeader]:
        return [p for p in self.phdrs if p.type == PT.LOAD]

    def first(self, ptype: int) -> ProgramHeader | None:
        for p in self.phdrs:
            if p.type == ptype:
                return p
        return None

    @property
    def is_pie(self) -> bool:
        return self.type is ElfType.DYN

    @property
    def link_kind(self) -> str:
        """``static``, ``static-pie``, ``pie`` or ``dynamic``, as ``file(1)`` would tell them."""
        if self.type is ElfType.DYN:
            return "pie" if self.interp else "static-pie"
        return "dynamic" if self.interp else "static"

    def vaddr_to_offset(self, vaddr: int, size: int) -> int | None:
        """File offset of ``size`` bytes at ``vaddr``, if a PT_LOAD backs them from the file."""
        for p in self.loads:
            if p.vaddr <= vaddr and vaddr + size <= p.vaddr + p.filesz:
                return p.offset + (vaddr - p.vaddr)
        return None


def read_elf(path: str | Path) -> ElfInfo:
    """Read ``path`` and validate it as an executable ELF image; raise a LoaderError if not."""
    p = Path(path)
    try:
        if p.is_dir():
            raise NotElf(f"{path}: is a directory")
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise MalformedElf(f"{path}: file too large ({size} bytes)")
        data = p.read_bytes()
    except OSError as exc:
        raise NotElf(f"{path}: {exc.strerror or exc}") from None
    return parse_elf(data, str(path))


def parse_elf(data: bytes, path: str = "<memory>") -> ElfInfo:
    if len(data) == 0:
        raise NotElf(f"{path}: empty file, not an ELF executable")
    if data[:4] != ELF_MAGIC:
        what = "a script (starts with #!)" if data[:2] == b"#!" else "no ELF magic"
        raise NotElf(f"{path}: not an ELF executable ({what})")
    if len(data) < 16:
        raise MalformedElf(f"{path}: truncated ELF identification ({len(data)} bytes)")
    ei_class, ei_data, ei_version = data[4], data[5], data[6]
    if ei_class not in (1, 2):
        raise MalformedElf(f"{path}: invalid ELF class {ei_class}")
    if ei_data == 2:
        raise UnsupportedArch(f"{path}: big-endian ELF files are not supported")
    if ei_data != 1:
        raise MalformedElf(f"{path}: invalid ELF data encoding {ei_data}")
    if ei_version != 1:
        raise MalformedElf(f"{path}: invalid ELF version {ei_version}")
    elf_class = ElfClass(ei_class)
    is64 = elf_class is ElfClass.ELF64
    ehdr_fmt = "<HHIQQQIHHHHHH" if is64 else "<HHIIIIIHHHHHH"
    ehdr_size = 64 if is64 else 52
    if len(data) < ehdr_size:
        raise MalformedElf(f"{path}: truncated ELF header ({len(data)} of {ehdr_size} bytes)")
    (e_type, e_machine, e_version, e_entry, e_phoff, _e_shoff, e_flags, e_ehsize,
     e_phentsize, e_phnum, _e_shentsize, _e_shnum, _e_shstrndx) = struct.unpack_from(
        ehdr_fmt, data, 16)
    if e_type not in (ElfType.EXEC, ElfType.DYN):
        kind = {0: "no file type", 1: "a relocatable object (.o)", 4: "a core dump"}.get(
            e_type, f"e_type {e_type:#x}")
        raise UnsupportedImage(f"{path}: not an executable: {kind}")
    if e_version != 1:
        raise MalformedElf(f"{path}: invalid e_version {e_version}")
    if e_ehsize < ehdr_size and e_ehsize != 0:
        raise MalformedElf(f"{path}: e_ehsize {e_ehsize} is smaller than the ELF header")
    phentsize = 56 if is64 else 32
    if e_phnum == 0:
        raise MalformedElf(f"{path}: no program headers")
    if e_phentsize != phentsize:
        raise MalformedElf(f"{path}: e_phentsize is {e_phentsize}, expected {phentsize}")
    table = e_phnum * phentsize
    if table > MAX_PHDR_TABLE_BYTES:
        raise MalformedElf(f"{path}: {e_phnum} program headers is too many")
    if e_phoff + table > len(data):
        raise MalformedElf(
            f"{path}: program headers at {e_phoff:#x}+{table:#x} lie past the end of the file "
            f"({len(data):#x} bytes)")
    phdr_fmt = "<IIQQQQQQ" if is64 else "<IIIIIIII"
    phdrs: list[ProgramHeader] = []
    for i in range(e_phnum):
        fields = struct.unpack_from(phdr_fmt, data, e_phoff + i * phentsize)
        if is64:
            p_type, p_flags, p_offset, p_vaddr, _p_paddr, p_filesz, p_memsz, p_align = fields
        else:
            p_type, p_offset, p_vaddr, _p_paddr, p_filesz, p_memsz, p_flags, p_align = fields
        phdrs.append(ProgramHeader(p_type, p_flags, p_offset, p_vaddr, p_filesz, p_memsz, p_align))
    info_phdrs = tuple(phdrs)
    word_limit = 1 << (64 if is64 else 32)
    _check_loads(path, info_phdrs, len(data), word_limit)
    interp = _read_interp(path, data, info_phdrs)
    provisional = ElfInfo(path, data, elf_class, e_machine, ElfType(e_type), e_flags, e_entry,
                          e_phoff, phentsize, e_phnum, info_phdrs, interp, None)
    dynamic = _read_dynamic(provisional)
    return ElfInfo(path, data, elf_class, e_machine, ElfType(e_type), e_flags, e_entry, e_phoff,
                   phentsize, e_phnum, info_phdrs, interp, dynamic)


def _check_loads(path: str, phdrs: tuple[ProgramHeader, ...], file_size: int,
                 word_limit: int) -> None:
    loads = [p for p in phdrs if p.type == PT.LOAD]
    if not loads:
        raise MalformedElf(f"{path}: no PT_LOAD segment, nothing to map")
    for i, p in enumerate(phdrs):
        if p.type not in (PT.LOAD, PT.INTERP, PT.DYNAMIC):
            continue
        if p.filesz > p.memsz and p.type == PT.LOAD:
            raise MalformedElf(
                f"{path}: segment {i} has p_filesz {p.filesz:#x} > p_memsz {p.memsz:#x}")
        if p.offset + p.filesz > file_size:
            raise MalformedElf(
                f"{path}: segment {i} ({PT(p.type).name}) at file offset {p.offset:#x}+"
                f"{p.filesz:#x} lies past the end of the file ({file_size:#x} bytes)")
        if p.vaddr + p.memsz > word_limit:
            raise MalformedElf(
                f"{path}: segment {i} at {p.vaddr:#x}+{p.memsz:#x} overflows the address space")
    ordered = sorted(loads, key=lambda p: p.vaddr)
    for prev, cur in itertools.pairwise(ordered):
        if cur.vaddr < prev.vaddr + prev.memsz:
            raise MalformedElf(
                f"{path}: PT_LOAD segments overlap ({prev.vaddr:#x}+{prev.memsz:#x} and "
                f"{cur.vaddr:#x}+{cur.memsz:#x})")


def _read_interp(path: str, data: bytes, phdrs: tuple[ProgramHeader, ...]) -> str | None:
    interps = [p for p in phdrs if p.type == PT.INTERP]
    if not interps:
        return None
    if len(interps) > 1:
        raise MalformedElf(f"{path}: more than one PT_INTERP")
    p = interps[0]
    if p.filesz < 2 or p.filesz > PATH_MAX:
        raise MalformedElf(f"{path}: PT_INTERP of {p.filesz} bytes is not a path")
    raw = data[p.offset:p.offset + p.filesz]
    if raw[-1] != 0:
        raise MalformedElf(f"{path}: PT_INTERP is not NUL-terminated")
    try:
        return raw[:-1].split(b"\0", 1)[0].decode()
    except UnicodeDecodeError:
        raise MalformedElf(f"{path}: PT_INTERP is not a valid path") from None


def _read_dynamic(info: ElfInfo) -> DynamicInfo | None:
    dyn = info.first(PT.DYNAMIC)
    if dyn is None:
        return None
    word = info.word_size
    fmt = "<qQ" if word == 8 else "<iI"
    entry_size = 2 * word
    entries: list[tuple[int, int]] = []
    for pos in range(dyn.offset, dyn.offset + dyn.filesz - entry_size + 1, entry_size):
        tag, value = struct.unpack_from(fmt, info.data, pos)
        if tag == DT.NULL:
            break
        entries.append((tag, value))
    else:
        if dyn.filesz >= entry_size:
            raise MalformedElf(f"{info.path}: PT_DYNAMIC has no DT_NULL terminator")
    needed: list[str] = []
    strtab = next((v for t, v in entries if t == DT.STRTAB), None)
    strsz = next((v for t, v in entries if t == DT.STRSZ), None)
    for tag, value in entries:
        if tag != DT.NEEDED:
            continue
        if strtab is None or strsz is None or value >= strsz:
            raise MalformedElf(f"{info.path}: DT_NEEDED {value:#x} outside DT_STRTAB")
        needed.append(_read_cstring(info, strtab + value, strtab + strsz))
    return DynamicInfo(tuple(entries), tuple(needed))


def _read_cstring(info: ElfInfo, vaddr: int, limit: int) -> str:
    offset = info.vaddr_to_offset(vaddr, 1)
    if offset is None:
        raise MalformedElf(f"{info.path}: string at {vaddr:#x} is not in the file")
    end = info.data.find(b"\0", offset, offset + max(0, limit - vaddr))
    if end < 0:
        raise MalformedElf(f"{info.path}: unterminated string at {vaddr:#x}")
    return info.data[offset:end].decode(errors="replace")


SHT_NULL = 0
SHT_NOBITS = 8
_SHN_XINDEX = 0xFFFF


@dataclass(frozen=True, slots=True)
class Section:
    """One section header (optional for execution: stripped or damaged files have none)."""

    name: str
    type: int
    addr: int
    offset: int
    size: int
    link: int


def section_headers(info: ElfInfo) -> tuple[Section, ...]:
    """Every section header, named from the section-name string table, or () when the
    table is absent or does not lie whole inside the file.

    Read by hand (the same fixed records pyelftools reads, with the same escapes for
    more than 0xff00 sections): the Go symbol reader needs only this table, and
    importing pyelftools costs ~25 ms of a traced run's start-up."""
    data = info.data
    is64 = info.elf_class is ElfClass.ELF64
    try:
        if is64:
            shoff, = struct.unpack_from("<Q", data, 0x28)
            shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
        else:
            shoff, = struct.unpack_from("<I", data, 0x20)
            shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x2E)
        fmt = struct.Struct("<IIQQQQIIQQ" if is64 else "<IIIIIIIIII")
        if shoff == 0 or shentsize < fmt.size:
            return ()

        def header(index: int) -> tuple[int, ...]:
            pos = shoff + index * shentsize
            if pos + fmt.size > len(data):
                raise ValueError("section header past the end of the file")
            return fmt.unpack_from(data, pos)

        if shnum == 0:
            shnum = header(0)[5]
        if shstrndx == _SHN_XINDEX:
            shstrndx = header(0)[6]
        raw = [header(i) for i in range(shnum)]
        names_offset = raw[shstrndx][4] if shstrndx < len(raw) else None
        out: list[Section] = []
        for sh_name, sh_type, _flags, addr, offset, size, link, *_ in raw:
            name = ""
            if names_offset is not None:
                start = names_offset + sh_name
                end = data.find(b"\0", start)
                if start >= len(data) or end < 0:
                    return ()
                name = data[start:end].decode("latin-1")
            out.append(Section(name, sh_type, addr, offset, size, link))
        return tuple(out)
    except (struct.error, ValueError, IndexError):
        return ()

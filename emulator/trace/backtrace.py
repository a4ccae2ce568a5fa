"""Backtraces of the running guest thread, and their delve-style rendering.

Go binaries are unwound with the Go runtime's algorithm over pclntab
(emulator/unwind.py). For other binaries there is no reliable unwinding without CFI,
so only the innermost frame is given, named from the ELF symbol table with file:line
from DWARF when present.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from emulator.unwind import Backtrace, Frame, unwind

if TYPE_CHECKING:
    from emulator.machine import Machine
    from loader.elfsym import DwarfLines, ElfSymbols
    from loader.gopclntab import GoSymbols


class _Words:
    __slots__ = ("machine", "size")

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.size = machine.arch.word_size

    def read_word(self, addr: int) -> int | None:
        data = self.machine.mem.try_read(addr, self.size)
        return None if data is None else int.from_bytes(data, "little")


class BacktraceSource:
    """Unwinds the thread whose registers are loaded in the machine's CPU."""

    def __init__(self, machine: Machine, limit: int = 1024) -> None:
        self.machine = machine
        self.limit = limit
        self._symbols: GoSymbols | None = None
        self._loaded = False
        self._elf_symbols: ElfSymbols | None = None
        self._dwarf_lines: DwarfLines | None = None
        self._words = _Words(machine)
        self._cache: dict[str, int] = {}

    @property
    def symbols(self) -> GoSymbols | None:
        if not self._loaded:
            self._loaded = True
            from loader.errors import LoaderError
            from loader.gopclntab import GoSymbols

            try:
                symbols = GoSymbols.load(self.machine.info)
            except LoaderError:
                symbols = None
            if symbols is not None and self.machine.image.bias:
                symbols = symbols.rebased(self.machine.image.bias)
            self._symbols = symbols
        return self._symbols

    def at_syscall(self) -> Backtrace:
        """In the syscall hook: frame 0 is the syscall instruction itself, as a debugger
        stopped there shows it (the stack pointer is the same before and after it)."""
        m = self.machine
        resume = m.cpu.pc + m.arch.hook_pc_lag
        insn = resume - m.arch.syscall_insn_size(m.cpu)
        return self._walk(insn, insn)

    def at_fault(self) -> Backtrace:
        """After a fault: frame 0 is the faulting instruction."""
        pc = self.machine.cpu.pc
        return self._walk(pc, pc)

    def _walk(self, pc: int, symbolize_pc: int) -> Backtrace:
        m = self.machine
        sp = m.cpu.sp
        lr = m.cpu.reg(m.arch.lr_reg) if m.arch.lr_reg is not None else 0
        symbols = self.symbols
        if symbols is not None:
            from loader.errors import LoaderError

            kind, value = m.arch.go_g_address(m.cpu)
            g = value if kind == "reg" else self._words.read_word(value)
            try:
                return unwind(symbols, m.arch.unwind, self._words, pc=pc, sp=sp, lr=lr,
                              limit=self.limit, symbolize_pc=symbolize_pc, g=g,
                              cache=self._cache)
            except LoaderError:
                # pclntab tables are checked as they are first read: one found damaged
                # mid-run costs the Go frames, never the run.
                self._symbols = None
        return self._elf_frame(pc, sp, symbolize_pc)

    def _elf_frame(self, pc: int, sp: int, symbolize_pc: int) -> Backtrace:
        from loader.elfsym import DwarfLines, ElfSymbols
        from loader.errors import LoaderError

        m = self.machine
        try:
            if self._elf_symbols is None:
                self._elf_symbols = ElfSymbols.load(m.info, bias=m.image.bias)
                self._dwarf_lines = DwarfLines.load(m.info, bias=m.image.bias)
            found = self._elf_symbols.lookup(pc)
        except LoaderError as exc:
            return Backtrace((Frame(pc, sp, "??", "", 0, pc),), f"no symbols: {exc}")
        if found is None:
            return Backtrace((Frame(pc, sp, "??", "", 0, pc),), "no symbol for this address")
        name, offset = found
        where = self._dwarf_lines.lookup(symbolize_pc) if self._dwarf_lines else None
        file, line = where if where is not None else ("", 0)
        label = f"{name}+{offset:#x}" if offset else name  # as strace -k names C frames
        frame = Frame(pc, sp, label, file, line, pc - offset)
        return Backtrace((frame,), "no unwind information for non-Go code")


def render(backtrace: Backtrace, word_size: int, limit: int | None = None) -> list[str]:
    """delve's ``stack`` layout: index, PC, function, then ``at file:line``."""
    width = 16 if word_size == 8 else 8
    lines = []
    frames = backtrace.frames if limit is None else backtrace.frames[:limit]
    for i, f in enumerate(frames):
        lines.append(f"{i:2d}  0x{f.pc:0{width}x} in {f.function}")
        lines.append(f"    at {f.file}:{f.line}" if f.file else "    at ?")
    if limit is not None and len(backtrace.frames) > limit:
        lines.append(f"    ({len(backtrace.frames) - limit} more frames)")
    elif backtrace.stopped:
        lines.append(f"    (stack walk stopped: {backtrace.stopped})")
    return lines

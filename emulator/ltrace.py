"""``--ltrace``: calls from the program into its shared libraries, as ltrace shows them.

The functions a program calls through its PLT are the symbols of its JUMP_SLOT
relocations. When the real ld.so hands control to the program's entry point (one
breakpoint there), every shared object is mapped: each such function is looked up in
ld.so's global scope (the libraries in load order, default symbol versions) and gets
a code hook on its first instruction only — never a per-instruction hook. A hit is a
PLT call when the return address (the link register, or the word at the stack
pointer on x86-64) lies in the program's own image, so calls libc makes to itself are
not reported, as ltrace does not report them. A GNU IFUNC symbol's address is its
resolver: when ld.so has already bound its slot (BIND_NOW) the slot names the
implementation; when it binds lazily, the resolver's entry and its return site get a
breakpoint, and the implementation it returns is hooked before ld.so jumps to it, so
even the first call is seen.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from typing import TYPE_CHECKING, TextIO

from emulator.events import LibraryCall

if TYPE_CHECKING:
    from emulator.events import EventBus
    from emulator.machine import Machine


class LibraryCalls:
    def __init__(self, machine: Machine, bus: EventBus) -> None:
        self.machine = machine
        self.bus = bus
        self.hooked: dict[int, tuple[str, str]] = {}
        self.unhooked: list[str] = []
        self._resolvers: dict[int, list[str]] = {}
        self._pending: dict[int, list[str]] = {}
        self._return_sites: set[int] = set()
        image = machine.image
        self._low, self._high = image.low, image.high

    @property
    def applies(self) -> bool:
        """Only a program run through its interpreter has shared libraries."""
        return self.machine.interp_image is not None

    def attach(self) -> None:
        if self.applies:
            self.machine.add_breakpoint(self.machine.image.entry & ~1, self._at_entry)

    def _at_entry(self, _pc: int) -> None:
        from emulator.relocs import _library_symbols, _lookup, _rows

        if self.hooked or self.unhooked:
            return
        machine = self.machine
        scope = _library_symbols(machine)
        word = machine.arch.word_size
        for row in _rows(machine.image):
            if not row.type.endswith("JUMP_SLOT") or not row.symbol:
                continue
            found = _lookup(row.symbol, scope)
            address: int | None = None
            bound = int.from_bytes(machine.mem.read(row.address, word), "little")
            if found is not None and not found[1]:
                address = found[0]
            elif not self._low <= bound < self._high:
                address = bound
            elif found is not None:
                # A lazily bound IFUNC: learn its implementation from its resolver's answer.
                self._watch_resolver(found[0] & ~1, row.symbol)
                continue
            if address is None or address == 0:
                self.unhooked.append(row.symbol)
                continue
            self._hook(address, row.symbol)

    def _hook(self, address: int, name: str) -> None:
        address &= ~1
        if address in self.hooked:
            return
        vma = self.machine.process.vm.find(address)
        library = os.path.basename(vma.name) if vma is not None else ""
        self.hooked[address] = (name, library)
        self.machine.add_breakpoint(address, self._on_call)

    def _watch_resolver(self, resolver: int, name: str) -> None:
        """ld.so's lazy binding calls the IFUNC's resolver, then jumps to the address it
        returns: hook that address before the jump (one breakpoint per return site)."""
        names = self._resolvers.setdefault(resolver, [])
        names.append(name)
        if len(names) == 1:
            self.machine.add_breakpoint(resolver, self._at_resolver)

    def _at_resolver(self, pc: int) -> None:
        machine = self.machine
        back = self._return_address() & ~1
        self._pending.setdefault(machine.current.tid, []).append(self._resolvers[pc][0])
        if back not in self._return_sites:
            self._return_sites.add(back)
            machine.add_breakpoint(back, self._after_resolver)

    def _after_resolver(self, _pc: int) -> None:
        machine = self.machine
        pending = self._pending.get(machine.current.tid)
        if not pending:
            return
        name = pending.pop()
        self._hook(machine.cpu.reg(machine.arch.ret_reg), name)

    def _return_address(self) -> int:
        cpu, arch = self.machine.cpu, self.machine.arch
        if arch.lr_reg is not None:
            return cpu.reg(arch.lr_reg)
        return int.from_bytes(self.machine.mem.read(cpu.sp, arch.word_size), "little")

    def _on_call(self, pc: int) -> None:
        machine = self.machine
        cpu, arch = machine.cpu, machine.arch
        back = self._return_address()
        if not self._low <= back < self._high:
            return
        name, library = self.hooked.get(pc & ~1, ("?", ""))
        args = tuple(cpu.reg(r) for r in arch.call_arg_regs[:3])
        self.bus.publish(LibraryCall(machine.current.tid, name, library, args, back,
                                     time.time()))


class LibraryCallPrinter:
    """One line per library call, in the trace's stream: ``name@library(a0, a1, a2)`` with
    the raw argument registers (no prototypes), prefixed like strace's other threads."""

    def __init__(self, out: TextIO, pid: int, follow: bool) -> None:
        self.out = out
        self.pid = pid
        self.follow = follow

    def attach(self, bus: EventBus) -> None:
        bus.subscribe(LibraryCall, self.on_call)

    def on_call(self, event: LibraryCall) -> None:
        if not self.follow and event.tid != self.pid:
            return
        prefix = f"[pid {event.tid:>5}] " if self.follow and event.tid != self.pid else ""
        where = f"@{event.library}" if event.library else ""
        args = ", ".join(f"{a:#x}" for a in event.args)
        self.out.write(f"{prefix}{event.name}{where}({args})\n")


class LibraryCallSummary:
    """-c: calls per library function."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()

    def attach(self, bus: EventBus) -> None:
        bus.subscribe(LibraryCall, self.on_call)

    def on_call(self, event: LibraryCall) -> None:
        self.counts[(event.name, event.library)] += 1

    def render(self, out: TextIO) -> None:
        from rich.console import Console
        from rich.table import Table

        table = Table(title="library calls", title_justify="left")
        table.add_column("calls", justify="right")
        table.add_column("function")
        table.add_column("library")
        for (name, library), count in sorted(self.counts.items(), key=lambda kv: (-kv[1],
                                                                                    kv[0])):
            table.add_row(str(count), name, library)
        table.add_row(str(sum(self.counts.values())), "total", "")
        Console(file=out, highlight=False, width=100).print(table)

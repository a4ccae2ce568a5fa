"""``-c``: strace's per-syscall summary table (calls, errors, time), rendered with rich.

Time is the wall time between a call's entry and its return in the emulator, so a
call that blocked counts its wait, like ``strace -c -w``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TextIO

from rich import box
from rich.console import Console
from rich.table import Table

from emulator.events import EventBus, SyscallEnter, SyscallExit, UnsupportedSyscall


@dataclass(slots=True)
class Row:
    calls: int = 0
    errors: int = 0
    seconds: float = 0.0


class Summary:
    def __init__(self) -> None:
        self.rows: dict[str, Row] = defaultdict(Row)
        self._started: dict[int, float] = {}

    def attach(self, bus: EventBus) -> None:
        bus.subscribe(SyscallEnter, self.on_enter)
        bus.subscribe(SyscallExit, self.on_exit)
        bus.subscribe(UnsupportedSyscall, self.on_unsupported)

    def on_enter(self, event: SyscallEnter) -> None:
        self._started[event.tid] = event.time

    def on_exit(self, event: SyscallExit) -> None:
        row = self.rows[event.name]
        if event.restarted:
            # The restarted call is counted when it runs again.
            self._started.pop(event.tid, None)
            return
        row.calls += 1
        if event.result is not None and -4095 <= event.result < 0:
            row.errors += 1
        start = self._started.pop(event.tid, None)
        if start is not None:
            row.seconds += max(0.0, event.time - start)

    def on_unsupported(self, event: UnsupportedSyscall) -> None:
        row = self.rows[event.name or f"syscall_{event.number:#x}"]
        row.calls += 1
        row.errors += 1

    def table(self) -> Table:
        total_time = sum(r.seconds for r in self.rows.values())
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, show_footer=True)
        for name, justify in (("% time", "right"), ("seconds", "right"),
                              ("usecs/call", "right"), ("calls", "right"),
                              ("errors", "right"), ("syscall", "left")):
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        ordered = sorted(self.rows.items(), key=lambda kv: (-kv[1].seconds, -kv[1].calls, kv[0]))
        for name, row in ordered:
            share = 100.0 * row.seconds / total_time if total_time else 0.0
            per_call = int(row.seconds * 1e6 / row.calls) if row.calls else 0
            table.add_row(f"{share:.2f}", f"{row.seconds:.6f}", str(per_call), str(row.calls),
                          str(row.errors) if row.errors else "", name)
        calls = sum(r.calls for r in self.rows.values())
        errors = sum(r.errors for r in self.rows.values())
        columns = table.columns
        columns[0].footer = "100.00"
        columns[1].footer = f"{total_time:.6f}"
        columns[2].footer = str(int(total_time * 1e6 / calls)) if calls else "0"
        columns[3].footer = str(calls)
        columns[4].footer = str(errors) if errors else ""
        columns[5].footer = "total"
        return table

    def render(self, out: TextIO) -> None:
        console = Console(file=out, highlight=False, soft_wrap=True,
                          force_terminal=out.isatty() if hasattr(out, "isatty") else False)
        console.print(self.table())

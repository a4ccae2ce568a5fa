"""``elftrace paths``: which code paths reach each syscall, with counts.

Every syscall's stack is taken when it is entered; paths are kept outermost-first
(``runtime.main`` → ``main.main`` → ... → ``syscall.Syscall6``). Rendered as a rich
tree per syscall, or written as folded stacks (``a;b;c;write 12``), the input format
of flamegraph.pl and speedscope.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import TYPE_CHECKING, TextIO

from rich.tree import Tree

from emulator.events import EventBus, SyscallEnter, UnsupportedSyscall
from emulator.trace.backtrace import BacktraceSource

if TYPE_CHECKING:
    from emulator.machine import Machine


class SyscallPaths:
    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.stacks = BacktraceSource(machine)
        self.paths: dict[str, Counter[tuple[str, ...]]] = defaultdict(Counter)

    def attach(self, bus: EventBus) -> None:
        bus.subscribe(SyscallEnter, lambda e: self._record(e.name))
        bus.subscribe(UnsupportedSyscall,
                      lambda e: self._record(e.name or f"syscall_{e.number:#x}"))

    def _record(self, name: str) -> None:
        backtrace = self.stacks.at_syscall()
        path = tuple(f.function for f in reversed(backtrace.frames))
        self.paths[name][path] += 1

    def tree(self, max_depth: int | None = None) -> Tree:
        root = Tree("syscall paths")
        ordered = sorted(self.paths.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
        for name, counter in ordered:
            total = sum(counter.values())
            node = root.add(f"[bold]{name}[/bold]  {total} call{'s' if total != 1 else ''}")
            _add_paths(node, counter, max_depth)
        return root

    def write_folded(self, out: TextIO) -> None:
        for name, counter in sorted(self.paths.items()):
            for path, count in sorted(counter.items()):
                frames = [f.replace(";", ":") for f in path]
                out.write(";".join([*frames, name]) + f" {count}\n")


def _add_paths(node: Tree, counter: Counter[tuple[str, ...]], max_depth: int | None) -> None:
    """A prefix tree of the paths, each node labelled with how many calls pass through it."""
    children: dict[str, Counter[tuple[str, ...]]] = defaultdict(Counter)
    for path, count in counter.items():
        if path:
            children[path[0]][path[1:]] += count
    for head, rest in sorted(children.items(), key=lambda kv: (-sum(kv[1].values()), kv[0])):
        child = node.add(f"{head}  [dim]{sum(rest.values())}[/dim]")
        if max_depth is None or max_depth > 1:
            _add_paths(child, rest, None if max_depth is None else max_depth - 1)

"""strace's ``-e trace=`` expressions, compiled to a set of syscall numbers.

Accepted: names (``write``), classes (``%file``, ``%desc``, ``%memory``, ``%process``,
``%signal``, ``%network``, ``%ipc``, ``%creds``, ``%clock``, ``%stat``), regular
expressions (``/^mmap``), ``all`` and ``none``, each optionally negated with ``!``,
comma-separated. A bare expression (``-e write``) means ``trace=``.
"""

from __future__ import annotations

import re

from syscalls.spec import CLASSES
from syscalls.table import SyscallTable


class FilterError(ValueError):
    pass


def _classes_of(table: SyscallTable, number: int) -> frozenset[str]:
    spec = table.spec_of(number)
    return spec.classes if spec is not None else frozenset()


def compile_trace(expressions: list[str], table: SyscallTable) -> set[int]:
    selected: set[int] | None = None
    for expr in expressions:
        qualifier, _, value = expr.partition("=")
        if not _:
            qualifier, value = "trace", expr
        if qualifier not in ("trace", "t"):
            raise FilterError(f"unsupported -e qualifier {qualifier!r} (only trace= is)")
        negate = value.startswith("!")
        if negate:
            value = value[1:]
        chosen: set[int] = set()
        for item in filter(None, value.split(",")):
            chosen |= _select(item, table)
        if negate:
            chosen = set(table.traceable) - chosen
        selected = chosen if selected is None else selected | chosen
    return set(table.traceable) if selected is None else selected


def _select(item: str, table: SyscallTable) -> set[int]:
    names = table.traceable
    if item == "all":
        return set(names)
    if item == "none":
        return set()
    if item.startswith("%"):
        cls = item[1:]
        if cls not in CLASSES:
            raise FilterError(f"invalid syscall class {item!r} "
                              f"(known: {', '.join('%' + c for c in CLASSES)})")
        return {n for n in names if cls in _classes_of(table, n)}
    if item.startswith("/"):
        try:
            pattern = re.compile(item[1:])
        except re.error as exc:
            raise FilterError(f"invalid regular expression {item!r}: {exc}") from None
        return {n for n, name in names.items() if pattern.search(name)}
    numbers = {n for n, name in names.items() if name == item}
    if not numbers:
        raise FilterError(f"invalid system call {item!r} for {table.abi.name}")
    return numbers

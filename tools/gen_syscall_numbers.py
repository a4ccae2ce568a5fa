#!/usr/bin/env python3
"""Generate ``syscalls/numbers/*.py`` from the Linux kernel's own syscall tables.

The kernel describes its system calls in ``.tbl`` files, one row per syscall::

    <number> <abi> <name> [<entry point> [<compat entry point> [noreturn]]]

Only ``<number>``, ``<abi>`` and ``<name>`` matter here; the NAME column is used
(e.g. ``newfstatat``), never the entry-point symbol (``sys_newfstatat``).  Rows
without an entry point (unimplemented or retired syscalls such as ``tuxcall``)
are kept: they are still numbers a program may issue and a tracer should name.

Which ABI rows are taken, per architecture:

* ``x86_64``: ``common`` and ``64`` (``x32`` rows are skipped);
* ``arm``:    ``common`` and ``eabi`` -- the EABI view (``oabi``-only rows skipped);
* ``i386``:   ``i386``;
* ``aarch64``: ``common`` (that table is made from the installed uapi header, which
  already resolved arm64's choices; see the README in ``tools/kernel-tables/``).

The raw tables live in ``tools/kernel-tables/`` (see the README there for where
each came from).  Usage::

    python tools/gen_syscall_numbers.py            # regenerate syscalls/numbers/
    python tools/gen_syscall_numbers.py --check    # exit 1 if anything is stale
    python tools/gen_syscall_numbers.py arm=/path/to/linux/arch/arm/tools/syscall.tbl

This script uses the standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TABLES_DIR = REPO_ROOT / "tools" / "kernel-tables"
OUT_DIR = REPO_ROOT / "syscalls" / "numbers"
GENERATOR = "tools/gen_syscall_numbers.py"
LINE_WIDTH = 100

#: ABI column values taken for each architecture.
ARCH_ABIS: dict[str, frozenset[str]] = {
    "x86_64": frozenset({"common", "64"}),
    "arm": frozenset({"common", "eabi"}),
    "i386": frozenset({"i386"}),
    "aarch64": frozenset({"common"}),
}

#: Default table file (inside ``tools/kernel-tables/``) for each architecture.
DEFAULT_TABLES: dict[str, str] = {
    "x86_64": "x86_64.tbl",
    "arm": "arm.tbl",
    "i386": "i386.tbl",
    "aarch64": "aarch64.tbl",
}

#: ARM-private syscalls ("SWIs"), numbered from ``__ARM_NR_BASE``.  They are not
#: in ``arch/arm/tools/syscall.tbl``; they are defined in
#: ``arch/arm/include/uapi/asm/unistd.h``::
#:
#:     #define __ARM_NR_BASE        (__NR_SYSCALL_BASE+0x0f0000)
#:     #define __ARM_NR_breakpoint  (__ARM_NR_BASE+1)
#:     ...
#:     #define __ARM_NR_get_tls     (__ARM_NR_BASE+6)
#:
#: (``__NR_SYSCALL_BASE`` is 0 for EABI.)
ARM_NR_BASE = 0x0F0000
ARM_PRIVATE_OFFSETS: dict[int, str] = {
    1: "breakpoint",
    2: "cacheflush",
    3: "usr26",
    4: "usr32",
    5: "set_tls",
    6: "get_tls",
}
ARM_PRIVATE_SOURCE = (
    "torvalds/linux arch/arm/include/uapi/asm/unistd.h "
    "(__ARM_NR_BASE = __NR_SYSCALL_BASE + 0x0f0000, __NR_SYSCALL_BASE = 0 for EABI)"
)


@dataclass(frozen=True)
class TableSource:
    """Where a saved table came from."""

    repo: str
    path: str
    commit: str
    kernel: str
    sha256: str
    note: str = ""


#: Provenance of the tables saved in ``tools/kernel-tables/``, keyed by
#: architecture.  ``sha256`` is that of the saved file, so replacing a table
#: without updating this record is noticed (the header then says so).
SOURCES: dict[str, TableSource] = {
    "x86_64": TableSource(
        repo="torvalds/linux",
        path="arch/x86/entry/syscalls/syscall_64.tbl",
        commit="7237cb3e1544718a972b732e66ebcf0f63b128a5",
        kernel="6.11.0-rc3 (top-level Makefile at the same commit)",
        sha256="980ce3115028c71c5618e7864d262017bde8103bcfe7b413147a14fd312c92ac",
    ),
    "arm": TableSource(
        repo="torvalds/linux",
        path="tools/perf/arch/arm/entry/syscalls/syscall.tbl",
        commit="4de51e81379aa3acbceddb7aec18a36b733fb6cb",
        kernel="6.17 era (dated by content: last row 469 file_setattr, added in v6.17)",
        sha256="16ab1a2c7a83e57ff1643470875f0df870dff1308ccc5784097fa4733908600e",
        note="perf's in-tree copy of arch/arm/tools/syscall.tbl",
    ),
    "i386": TableSource(
        repo="torvalds/linux",
        path="tools/perf/arch/x86/entry/syscalls/syscall_32.tbl",
        commit="220ed690436e919a523bd8cd0ca803268025d4b6",
        kernel=(
            "6.13/6.14 era (dated by content: last row 466 removexattrat, added in"
            " v6.13; no 467 open_tree_attr, added in v6.15)"
        ),
        sha256="b91a30a3e950f0692834d2edc4b8bf1c51cee0f8eec722358eade65a7026785d",
        note="perf's in-tree copy of arch/x86/entry/syscalls/syscall_32.tbl",
    ),
    "aarch64": TableSource(
        repo="Debian linux-libc-dev-arm64-cross 6.1.4-1cross1",
        path="/usr/aarch64-linux-gnu/include/asm/unistd.h (asm-generic/unistd.h)",
        commit="(installed package, not a git commit)",
        kernel="6.1.4",
        sha256="347f3bb89165f07a8a6392ba6282293aeae2935d6c442806c3e718564397f2a9",
        note=(
            "numbers resolved with aarch64-linux-gnu-gcc -E -dM;"
            " see tools/kernel-tables/README.md"
        ),
    ),
}


class TableError(ValueError):
    """A syscall table could not be parsed into a consistent mapping."""


def parse_table(text: str, abis: Iterable[str]) -> dict[int, str]:
    """Parse a kernel ``.tbl`` file, keeping the rows whose ABI is in *abis*.

    Returns ``{number: name}`` sorted by number.  Blank lines and ``#`` lines
    are ignored.  Raises :class:`TableError` on malformed rows, on a number
    that two kept rows share, and on names that are not Python identifiers.
    """
    wanted = frozenset(abis)
    numbers: dict[int, str] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) < 3:
            raise TableError(f"line {lineno}: expected '<number> <abi> <name> ...': {raw!r}")
        number_text, abi, name = fields[0], fields[1], fields[2]
        try:
            number = int(number_text, 10)
        except ValueError:
            raise TableError(f"line {lineno}: bad syscall number {number_text!r}") from None
        if number < 0:
            raise TableError(f"line {lineno}: negative syscall number {number}")
        if abi not in wanted:
            continue
        if not name.isidentifier():
            raise TableError(f"line {lineno}: syscall name {name!r} is not an identifier")
        if number in numbers:
            raise TableError(
                f"line {lineno}: number {number} is both {numbers[number]!r} and {name!r}"
            )
        numbers[number] = name
    return dict(sorted(numbers.items()))


def arm_private() -> dict[int, str]:
    """The ARM-private syscall numbers (``__ARM_NR_*``), sorted by number."""
    return {ARM_NR_BASE + offset: name for offset, name in sorted(ARM_PRIVATE_OFFSETS.items())}


def sha256_text(text: str) -> str:
    """SHA-256 of *text* encoded as UTF-8 (the saved tables are ASCII)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _render_dict(name: str, mapping: Mapping[int, str], *, hex_keys: bool = False) -> list[str]:
    lines = [f"{name}: dict[int, str] = {{"]
    for number, syscall in mapping.items():
        key = f"0x{number:06X}" if hex_keys else str(number)
        lines.append(f'    {key}: "{syscall}",')
    lines.append("}")
    return lines


def _provenance_lines(arch: str, table_text: str, table_name: str) -> list[str]:
    digest = sha256_text(table_text)
    source = SOURCES.get(arch)
    if source is None or source.sha256 != digest:
        return [
            f"Source: {table_name} (sha256 {digest});",
            f"its provenance is not recorded in {GENERATOR} (SOURCES).",
        ]
    lines = [
        f"Source: {source.repo}, {source.path}",
        f"Commit: {source.commit}",
        f"Kernel: {source.kernel}",
    ]
    if source.note:
        lines.append(f"Note: {source.note}")
    return lines


def render_module(arch: str, table_text: str, table_name: str | None = None) -> str:
    """Render the ``syscalls/numbers/<arch>.py`` module for one table."""
    if arch not in ARCH_ABIS:
        raise ValueError(f"unknown architecture {arch!r}; expected one of {sorted(ARCH_ABIS)}")
    abis = ARCH_ABIS[arch]
    numbers = parse_table(table_text, abis)
    name = table_name if table_name is not None else DEFAULT_TABLES[arch]
    doc = [
        f'"""Linux syscall numbers for {arch} (ABI rows: {", ".join(sorted(abis))}).',
        "",
        *_provenance_lines(arch, table_text, name),
        "",
        f"Names are the table's NAME column. {len(numbers)} entries.",
    ]
    if arch == "arm":
        doc += [
            "",
            f"ARM_PRIVATE holds the ARM-private syscalls from {ARM_PRIVATE_SOURCE}.",
        ]
    doc += [
        "",
        f"This file is generated by {GENERATOR}; do not edit.",
    ]
    wrapped = [
        part
        for line in doc
        for part in (textwrap.wrap(line, width=LINE_WIDTH, subsequent_indent="    ") or [""])
    ]
    body = [
        *wrapped,
        '"""',
        "",
        "from __future__ import annotations",
        "",
        *_render_dict("NUMBERS", numbers),
    ]
    if arch == "arm":
        body += ["", *_render_dict("ARM_PRIVATE", arm_private(), hex_keys=True)]
    return "\n".join(body) + "\n"


def default_tables(tables_dir: Path = TABLES_DIR) -> dict[str, Path]:
    """The saved table for each architecture."""
    return {arch: tables_dir / filename for arch, filename in DEFAULT_TABLES.items()}


def _parse_assignment(text: str) -> tuple[str, Path]:
    arch, sep, path = text.partition("=")
    if not sep or arch not in ARCH_ABIS or not path:
        raise argparse.ArgumentTypeError(
            f"expected ARCH=PATH with ARCH one of {sorted(ARCH_ABIS)}, got {text!r}"
        )
    return arch, Path(path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Generate syscalls/numbers/*.py from kernel syscall .tbl files."
    )
    parser.add_argument(
        "tables",
        nargs="*",
        type=_parse_assignment,
        metavar="ARCH=PATH",
        help=f"table to use for ARCH (default: the files in {TABLES_DIR.relative_to(REPO_ROOT)})",
    )
    parser.add_argument(
        "--tables-dir", type=Path, default=TABLES_DIR, help="directory of saved tables"
    )
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR, help="output package directory")
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if any module is out of date"
    )
    args = parser.parse_args(argv)

    tables = default_tables(args.tables_dir)
    tables.update(dict(args.tables))

    stale: list[Path] = []
    for arch, table_path in tables.items():
        text = table_path.read_text(encoding="utf-8")
        rendered = render_module(arch, text, table_path.name)
        out_path = args.out_dir / f"{arch}.py"
        current = out_path.read_text(encoding="utf-8") if out_path.exists() else None
        count = len(parse_table(text, ARCH_ABIS[arch]))
        if current == rendered:
            print(f"{out_path}: up to date ({count} entries)")
            continue
        if args.check:
            stale.append(out_path)
            print(f"{out_path}: out of date", file=sys.stderr)
            continue
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(rendered, encoding="utf-8")
        print(f"{out_path}: written ({count} entries)")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())

"""Printing for ``elftrace relocs``: a rich table, JSON for scripts, and the --verify report."""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback

from rich.console import Console
from rich.table import Table

from emulator.relocs import RelocListing, Verification, list_relocations, verify
from loader.errors import LoaderError

EXIT_MISMATCH = 1
EXIT_CANNOT_RUN = 126
EXIT_EMULATION = 125
SHOWN_OTHER_DIFFERENCES = 8


def relocs_command(args: argparse.Namespace) -> int:
    try:
        if args.verify:
            result = verify(args.binary, args.base, sysroot=args.sysroot)
            return _report_verification(result, args.json)
        listing = list_relocations(args.binary, args.base)
    except LoaderError as exc:
        return _fail(str(exc), EXIT_CANNOT_RUN)
    except Exception as exc:
        if os.environ.get("ELFTRACE_DEBUG"):
            traceback.print_exc()
        return _fail(f"internal error: {type(exc).__name__}: {exc} "
                     "(set ELFTRACE_DEBUG=1 for a traceback)", EXIT_EMULATION)
    if args.json:
        _print_json(listing)
    else:
        _print_table(listing)
    return 0


def _fail(message: str, status: int) -> int:
    sys.stdout.flush()
    print(f"elftrace: {message}", file=sys.stderr, flush=True)
    return status


def _hex(value: int, width: int) -> str:
    return f"{value:#x}"


def _console() -> Console:
    # A table piped to a file or a test keeps whole rows rather than wrapping at 80 columns.
    return Console(highlight=False, width=None if sys.stdout.isatty() else 200)


def _print_json(listing: RelocListing) -> None:
    out = {"binary": listing.info.path, "base": listing.base, "bias": listing.bias,
           "count": len(listing.rows), "relocations": [r.as_json() for r in listing.rows]}
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


def _print_table(listing: RelocListing) -> None:
    console = _console()
    word = listing.info.word_size
    if not listing.rows:
        console.print(f"{listing.info.path}: no dynamic relocations")
        return
    table = Table(title=f"{listing.info.path}: {len(listing.rows)} dynamic relocations, "
                        f"image at {listing.base:#x} (bias {listing.bias:#x})",
                  title_justify="left")
    for name, justify in (("table", "left"), ("type", "left"), ("offset", "right"),
                          ("symbol", "left"), ("addend", "right"), ("value at base", "right"),
                          ("note", "left")):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for r in listing.rows:
        addend = _hex(r.addend & ((1 << (word * 8)) - 1), word)
        if r.addend_in_place:
            addend += "*"
        value = _hex(r.value, r.size) if r.value is not None else "—"
        table.add_row(r.table, r.type, _hex(r.offset, word), r.symbol, addend, value, r.note)
    console.print(table)
    counts: dict[str, int] = {}
    for r in listing.rows:
        counts[r.type] = counts.get(r.type, 0) + 1
    console.print(", ".join(f"{n} {t}" for t, n in sorted(counts.items())))
    if any(r.addend_in_place for r in listing.rows):
        console.print("* REL entry: the addend is the word already at the target")


def _report_verification(result: Verification, as_json: bool) -> int:
    status = 0 if result.ok else EXIT_MISMATCH
    if as_json:
        json.dump({
            "binary": result.path, "base": result.base, "stopped_at": result.stopped_at,
            "checked": result.checked, "ok": result.ok,
            "mismatches": [{"type": m.type, "offset": m.offset, "address": m.address,
                            "symbol": m.symbol or None, "expected": m.expected,
                            "actual": m.actual} for m in result.mismatches],
            "unverifiable": [r.as_json() for r in result.unverifiable],
            "other_words_compared": result.other_words,
            "other_differences": [{"address": a, "file": f, "actual": v}
                                  for a, f, v in result.other_differences],
        }, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return status
    console = _console()
    console.print(f"{result.path}: image at {result.base:#x}, real loader stopped at "
                  f"{result.stopped_at}")
    console.print(f"{result.checked} relocated words checked, "
                  f"{len(result.mismatches)} mismatches")
    if result.mismatches:
        table = Table(title="mismatches", title_justify="left")
        for name in ("type", "offset", "symbol", "expected (elftrace)", "actual (real loader)"):
            table.add_column(name)
        for m in result.mismatches:
            table.add_row(m.type, f"{m.offset:#x}", m.symbol, f"{m.expected:#x}",
                          f"{m.actual:#x}")
        console.print(table)
    if result.unverifiable:
        kinds: dict[str, int] = {}
        for r in result.unverifiable:
            kinds[r.type] = kinds.get(r.type, 0) + 1
        console.print(f"{len(result.unverifiable)} not checkable without running code "
                      "(IRELATIVE/IFUNC, TLS, COPY): "
                      + ", ".join(f"{n} {t}" for t, n in sorted(kinds.items())))
    console.print(f"{result.other_words} other words of writable pages compared, "
                  f"{len(result.other_differences)} written by start-up code")
    for address, file_value, actual in result.other_differences[:SHOWN_OTHER_DIFFERENCES]:
        where = "  (.dynamic: ld.so's own bookkeeping)" if result.in_dynamic(address) else ""
        console.print(f"  {address:#x}: {file_value:#x} -> {actual:#x}{where}")
    if not result.checked:
        console.print("nothing to check: the image has no relocations elftrace computes")
    console.print("OK" if result.ok else "FAILED")
    return status

"""The conformance cases: every subcommand of bins/conform-* (bins/src/conform), with
the arguments, environment and stdin each run gets.

One case is one process: ``conform NAME ARGS...``. The same list drives the recorder
(tests/tools/record_conformance.py, which runs the oracles) and the tests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BINS = ROOT / "bins"
EXPECTED = ROOT / "tests" / "data" / "conformance"

BASE_ENV = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "HOME": "/tmp", "TMPDIR": "/tmp"}


@dataclass(frozen=True)
class ConformCase:
    name: str
    """Unique label: the subcommand, or subcommand-variant when one runs several ways."""
    args: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    stdin: bytes = b""


def _case(label: str, *args: str, env: dict[str, str] | None = None,
          stdin: bytes = b"") -> ConformCase:
    """``label`` is the subcommand, or ``subcommand.variant``."""
    return ConformCase(label, (label.split(".")[0], *args), env or {}, stdin)


SUBCOMMANDS = (
    # concurrency
    "goroutines1000", "chanbuffered", "pingpong", "select", "mutex", "rwmutex", "cond",
    "atomic", "once", "pool", "workers", "pipeline", "preempt", "lockosthread",
    # time
    "timer", "timeafter", "ticker", "afterfunc", "ctxdeadline", "ctxcancel", "sleep",
    "timeformat", "manytimers",
    # memory
    "bigalloc", "smallobjects", "gcpressure", "finalizer", "recursion", "stackgoroutines",
    "memstats",
    # panics, traps and exits
    "defer", "recover", "nilmap", "nilmappanic", "index", "indexpanic", "divzero",
    "divzeropanic", "nilderef", "nilderefpanic", "typeassert", "goexit", "goexitmain",
    "gopanic", "errorpanic", "deadlock",
    # data
    "maps", "strings", "unicode", "reflect", "fmtfloat", "math", "sort", "hashes",
    "generics", "interfaces", "binary",
    # os and io
    "tempdir", "rename", "stat", "symlink", "filemode", "seek", "pipe", "pipedeadline",
    "sigpipe", "signal", "sigignore", "sigterm", "getwd", "readfile",
    # needs another branch or a second process
    "tcp", "exec",
)

STDIN = b"".join(b"line %d: " % i + bytes(range(32, 127)) + b"\n" for i in range(300)) + b"tail"

CASES: tuple[ConformCase, ...] = (
    *(_case(name) for name in SUBCOMMANDS),
    _case("exit"),
    _case("exit.0", "0"),
    _case("exit.255", "255"),
    _case("args", "one", "two words", "", "ünïcode", "--flag=x"),
    _case("env", env={"ELFTRACE_TEST": "hello=world", "CONFORM_EXTRA": ""}),
    _case("stdin", stdin=STDIN),
    _case("stdin.empty"),
)

# GOARM=5 (software floating point, kernel-helper atomics) runs this subset.
ARM5_SUBSET = frozenset({
    "goroutines1000", "mutex", "cond", "atomic", "preempt", "timer", "ticker", "ctxdeadline",
    "sleep", "gcpressure", "finalizer", "recursion", "recover", "divzero", "divzeropanic",
    "nilderef", "nilderefpanic", "gopanic", "fmtfloat", "math", "hashes", "tempdir", "pipe",
    "pipedeadline", "signal", "sigterm", "exit", "stdin", "env",
})

# Cases that cannot pass yet, and why. They still run: an expected failure that
# starts passing is reported (XPASS), so the entry can be removed.
EXPECTED_FAILURES: dict[str, str] = {}


def conform_binaries() -> list[str]:
    """bins/conform-* from the manifest, in manifest order."""
    rows = json.loads((BINS / "manifest.json").read_text())
    return [str(r["path"]) for r in rows if r["program"] == "conform"]


def cases_for(binary: str) -> list[ConformCase]:
    if "-arm5-" in binary:
        return [c for c in CASES if c.args[0] in ARM5_SUBSET]
    return list(CASES)


def arch_of(binary: str) -> str:
    return "arm" if "-arm" in binary else "amd64"


def expected_path(binary: str) -> Path:
    return EXPECTED / f"{binary}.json"

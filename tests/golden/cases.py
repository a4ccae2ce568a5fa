"""The end-to-end cases: one list shared by the golden recorder and the tests.

Every binary in bins/ appears: each hello as is, each workload binary once per
workload, and the benchmark's busy binaries once. A case runs the same command line
under the oracle (natively for amd64 and 386 — an x86-64 kernel runs i386 binaries —,
qemu-arm for ARM, qemu-aarch64 for arm64) and under elftrace.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BINS = ROOT / "bins"
GOLDEN = ROOT / "tests" / "data" / "golden"


@dataclass(frozen=True)
class Case:
    name: str
    binary: str
    """Path relative to the repository root, as given on the command line."""
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    stdin: bytes = b""
    trace: bool = True
    """Compare the syscall sequence too (off for runs whose trace would be huge)."""
    timeout: float = 120.0
    known_gap: str = ""
    """Why elftrace cannot match yet: the tests run the case as an expected failure."""

    @property
    def arch(self) -> str:
        """The GOARCH-style name in the file name: amd64, 386, arm or arm64."""
        for arch in ("arm64", "386", "arm"):
            if f"-{arch}" in self.binary:
                return arch
        return "amd64"

    @property
    def native(self) -> bool:
        """The host runs it directly (the oracle is strace) rather than qemu-user."""
        return self.arch in ("amd64", "386")

    @property
    def has_interp(self) -> bool:
        """A PIE with PT_INTERP: natively the dynamic loader runs before the program."""
        return self.binary.endswith(("-pie", "-pie-stripped"))

    @property
    def golden_path(self) -> Path:
        return GOLDEN / f"{self.name}.json"


WORKLOADS: tuple[tuple[str, tuple[str, ...], dict[str, str], bytes, bool], ...] = (
    ("goroutines", ("goroutines",), {}, b"", True),
    ("sleep", ("sleep",), {}, b"", True),
    ("fileio", ("fileio",), {}, b"", True),
    ("nilpanic", ("nilpanic",), {}, b"", True),
    ("exit", ("exit", "7"), {}, b"", True),
    ("argsenv", ("argsenv", "a b", "", "c"), {"ELFTRACE_TEST": "hello=world"}, b"", True),
    ("cpu", ("cpu",), {}, b"", True),
    ("writes", ("writes", "2000"), {}, b"", True),
    ("stdin", ("stdin",), {}, bytes(range(256)) * 40, True),
)


# Conformance subcommands whose syscalls are compared too (all of them run, output only,
# in tests/conformance/): deterministic file, pipe and signal activity.
CONFORM_TRACED = ("tempdir", "symlink", "seek", "pipe", "signal")
CONFORM_TRACED_BINS = ("conform-1.27-amd64-static-stripped", "conform-1.19-amd64-static-stripped",
                       "conform-1.27-arm7-static-stripped")


def manifest() -> list[dict[str, object]]:
    return json.loads((BINS / "manifest.json").read_text())  # type: ignore[no-any-return]


def all_cases() -> list[Case]:
    cases: list[Case] = []
    for row in manifest():
        if row.get("libc") is not None:
            continue  # cgo and C samples: tests/emulator/test_dynamic.py
        path = f"bins/{row['path']}"
        if row["program"] in ("hello", "stack", "net"):
            cases.append(Case(f"{row['path']}", path))
        elif row["program"] == "conform":
            if row["path"] in CONFORM_TRACED_BINS:
                for sub in CONFORM_TRACED:
                    cases.append(Case(f"{row['path']}.{sub}", path, (sub,)))
        elif row["program"] == "busy":
            # The benchmark's thread case, small: 4 MiB of work over 4 busy goroutines.
            cases.append(Case(f"{row['path']}.busy", path, ("4", "4")))
        else:
            for label, args, env, stdin, trace in WORKLOADS:
                cases.append(Case(f"{row['path']}.{label}", path, args, env, stdin, trace))
    # The 100,000-writes program of the issue, untraced: once per architecture.
    for arch in ("amd64", "arm7"):
        cases.append(Case(f"work-1.27-{arch}-static.writes100k",
                          f"bins/work-1.27-{arch}-static", ("writes",), trace=False))
    return cases

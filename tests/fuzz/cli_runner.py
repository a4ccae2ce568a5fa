"""Run elftrace's CLI on one file and judge the outcome by the rule for hostile input:
either a run (the guest's own status and output) or one line ``elftrace: ...`` with a
non-zero status — never a traceback, an ``internal error`` (exit 70) or a hang.

In-process runs call :func:`emulator.cli.main` with captured stdio (the guest's own
output goes to the real descriptors 1 and 2, which pytest captures), under a watchdog
that interrupts the main thread; subprocess runs use ``python -m emulator`` with a
timeout. Both are bounded with the hidden ``--max-slices``.
"""

from __future__ import annotations

import _thread
import contextlib
import gc
import io
import itertools
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RUN_SLICES = 40
# Generous: only there so that a hang is reported instead of stalling the suite.
WATCHDOG_SECONDS = 120.0
EXIT_INTERNAL = 70
REFUSALS = (125, 126, 127)

# The commands every damaged file is given; one line each. Commands the CLI does not
# have (yet) are skipped, so a new one is added here before it lands.
COMMANDS: tuple[tuple[str, ...], ...] = (
    ("info",),
    ("relocs",),
    ("run", "--max-slices", str(RUN_SLICES)),
)


def available_commands() -> list[tuple[str, ...]]:
    from emulator.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return [c for c in COMMANDS if c[0] in (sub.choices or {})]


@dataclass(frozen=True, slots=True)
class Outcome:
    argv: tuple[str, ...]
    status: int
    stderr: str
    hung: bool = False

    def problem(self, path: str) -> str | None:
        """Why this outcome breaks the rule, or None if it is acceptable."""
        if self.hung:
            return "hang (watchdog fired)"
        if "Traceback (most recent call last)" in self.stderr:
            return "Python traceback"
        if self.status == EXIT_INTERNAL or "internal error" in self.stderr:
            return "internal error"
        lines = self.stderr.splitlines()
        if self.status in REFUSALS:
            if len(lines) != 1 or not lines[0].startswith("elftrace: "):
                return f"refusal is not one 'elftrace: ' line: {self.stderr!r}"
            if self.status == 126 and path not in lines[0]:
                return f"refusal does not name the file: {lines[0]!r}"
        elif lines and not lines[0].startswith("elftrace: "):
            return f"unexpected output from elftrace: {self.stderr!r}"
        return None


_runs = itertools.count(1)
# A Machine is a reference cycle holding a Unicorn instance and its guest memory: collect
# them now and then, or a long in-process run grows by megabytes per file.
COLLECT_EVERY = 8


def run_in_process(argv: tuple[str, ...]) -> Outcome:
    from emulator.cli import main

    if next(_runs) % COLLECT_EVERY == 0:
        gc.collect()

    fired = threading.Event()

    def bark() -> None:
        fired.set()
        _thread.interrupt_main()

    out, err = io.StringIO(), io.StringIO()
    watchdog = threading.Timer(WATCHDOG_SECONDS, bark)
    watchdog.daemon = True
    watchdog.start()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = main(list(argv))
            except SystemExit as exc:
                status = exc.code if isinstance(exc.code, int) else 1
    except KeyboardInterrupt:
        status = 130
    finally:
        watchdog.cancel()
    return Outcome(argv, status, err.getvalue(), hung=fired.is_set())


def run_subprocess(argv: tuple[str, ...]) -> Outcome:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("ELFTRACE_DEBUG", None)
    try:
        proc = subprocess.run([sys.executable, "-m", "emulator", *argv], cwd=REPO, env=env,
                              capture_output=True, timeout=WATCHDOG_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        return Outcome(argv, -1, "", hung=True)
    # The guest's stderr is mixed in here: judge only elftrace's own lines.
    own = "\n".join(line for line in proc.stderr.decode(errors="replace").splitlines()
                    if line.startswith(("elftrace: ", "Traceback", "  File ")))
    return Outcome(argv, proc.returncode, own)

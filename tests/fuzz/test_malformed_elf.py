"""Damaged binaries from bins/ never crash elftrace: every command either runs the file
or refuses it in one line with a non-zero status (tests/fuzz/cli_runner.py has the rule).

The CI run is bounded (a few hundred examples, derandomized so it is the same run every
time); ``ELFTRACE_FUZZ_EXAMPLES=N`` raises the count per test and randomizes, for a
longer search (see README, "Hostile input").
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from cli_runner import available_commands, run_in_process, run_subprocess
from elf_mutations import FUZZ_BINARIES, layout_of, mutate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

LONG_RUN = int(os.environ.get("ELFTRACE_FUZZ_EXAMPLES", "0"))
FUZZ_SETTINGS = settings(
    max_examples=LONG_RUN or 40,
    derandomize=not LONG_RUN,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)


class DrawChooser:
    def __init__(self, data: st.DataObject) -> None:
        self.data = data

    def integer(self, lo: int, hi: int) -> int:
        return self.data.draw(st.integers(lo, hi))


def _damaged(data: st.DataObject, binary: str, directory: Path) -> tuple[Path, list[str]]:
    lay = layout_of(binary)
    count = data.draw(st.integers(1, 3), label="mutations")
    blob, done = mutate(lay, DrawChooser(data), count)
    path = directory / f"{binary}.damaged"
    path.write_bytes(blob)
    path.chmod(0o755)
    return path, done


def _check_all_commands(path: Path, done: list[str], runner=run_in_process) -> None:  # type: ignore[no-untyped-def]
    for command in available_commands():
        argv = (*command, str(path))
        outcome = runner(argv)
        problem = outcome.problem(str(path))
        assert problem is None, f"{' '.join(argv)} after {done}: {problem}\n{outcome.stderr}"


@pytest.mark.parametrize("binary", FUZZ_BINARIES)
@FUZZ_SETTINGS
@given(data=st.data())
def test_damaged_binary_in_process(binary: str, data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path, done = _damaged(data, binary, Path(tmp))
        _check_all_commands(path, done)


@settings(FUZZ_SETTINGS, max_examples=max(LONG_RUN // 10, 6))
@given(data=st.data(), binary=st.sampled_from(FUZZ_BINARIES))
def test_damaged_binary_subprocess(binary: str, data: st.DataObject) -> None:
    """A sample through the real entry point: nothing in-process capture could hide."""
    with tempfile.TemporaryDirectory() as tmp:
        path, done = _damaged(data, binary, Path(tmp))
        _check_all_commands(path, done, run_subprocess)

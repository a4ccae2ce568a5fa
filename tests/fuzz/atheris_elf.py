#!/usr/bin/env python3
"""Coverage-guided fuzzing of elftrace's loader and CLI with atheris (libFuzzer).

Each input is a recipe, not a file: its bytes choose a binary from bins/ and the
structure-aware mutations of tests/fuzz/elf_mutations.py (the ones the hypothesis tests
draw), and the damaged file is given to every command of tests/fuzz/cli_runner.py
in-process. An outcome that breaks the hostile-input rule (a traceback, an internal
error, a hang, a refusal that is not one line) raises, and libFuzzer saves the input.

    /opt/dev/bin/python tests/fuzz/atheris_elf.py -runs=2000 -max_len=256 [CORPUS_DIR]
    /opt/dev/bin/python tests/fuzz/atheris_elf.py crash-<sha1>     # replay one input

Everything after the script name goes to libFuzzer (``-help=1`` lists its flags).
Run it from the repository root; it writes the damaged file to a temporary directory.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[1]), str(HERE)]

import atheris  # noqa: E402

with atheris.instrument_imports(include=["loader", "emulator", "syscalls"]):
    import emulator.cli
    import emulator.machine  # noqa: F401
    import loader.info  # noqa: F401

from cli_runner import available_commands, run_in_process  # noqa: E402
from elf_mutations import FUZZ_BINARIES, layout_of, mutate  # noqa: E402

WORK = Path(tempfile.mkdtemp(prefix="elftrace-atheris-"))
COMMANDS = available_commands()


class ProviderChooser:
    def __init__(self, fdp: atheris.FuzzedDataProvider) -> None:
        self.fdp = fdp

    def integer(self, lo: int, hi: int) -> int:
        return int(self.fdp.ConsumeIntInRange(lo, hi))


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    binary = FUZZ_BINARIES[fdp.ConsumeIntInRange(0, len(FUZZ_BINARIES) - 1)]
    count = fdp.ConsumeIntInRange(1, 4)
    blob, done = mutate(layout_of(binary), ProviderChooser(fdp), count)
    path = WORK / "damaged"
    path.write_bytes(blob)
    os.chmod(path, 0o755)
    for command in COMMANDS:
        outcome = run_in_process((*command, str(path)))
        problem = outcome.problem(str(path))
        if problem is not None:
            raise AssertionError(f"{binary} {done}: {' '.join(command)}: {problem}\n"
                                 f"{outcome.stderr}")


def main() -> None:
    for name in FUZZ_BINARIES:  # parse once, outside the measured inputs
        layout_of(name)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

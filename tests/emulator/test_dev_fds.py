"""/dev/stdin, /dev/stdout, /dev/stderr, /dev/fd/N and /proc/self/fd/N are the program's
own descriptors (syscalls/fs.py: open_path), not elftrace's: after dup2 they follow the
program's, and opening a pipe through them opens that pipe again, whether the model or
the host holds it. A C program (data/dev_fds.c) run natively and under elftrace, amd64
and ARM, must print the same."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE = Path(__file__).parent / "data" / "dev_fds.c"
STDIN = "from the test's pipe\n"


def run(command: list[str], out: Path) -> tuple[int, str, str]:
    proc = subprocess.run([*command, str(out)], input=STDIN, capture_output=True, text=True,
                          timeout=120, check=False, cwd=ROOT)
    return proc.returncode, proc.stdout, out.read_text()


@pytest.fixture(scope="module")
def native(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, tuple[int, str, str]]:
    if shutil.which("gcc") is None:
        pytest.skip("no host C compiler")
    work = tmp_path_factory.mktemp("devfd")
    exe = work / "dev-amd64"
    subprocess.run(["gcc", "-static", "-O1", "-o", str(exe), str(SOURCE)], check=True,
                   capture_output=True, timeout=120)
    expected = run([str(exe)], work / "native.out")
    assert "via /dev/stderr" in expected[2] and STDIN in expected[1]
    return work, expected


def test_dev_fds_are_the_program_s_own(native: tuple[Path, tuple[int, str, str]]) -> None:
    work, expected = native
    got = run([sys.executable, "-m", "emulator", "run", str(work / "dev-amd64")],
              work / "amd64.out")
    assert got == expected


@pytest.mark.skipif(shutil.which("arm-linux-gnueabihf-gcc") is None,
                    reason="no ARM cross compiler")
def test_dev_fds_are_the_program_s_own_on_arm(native: tuple[Path, tuple[int, str, str]]) -> None:
    work, expected = native
    exe = work / "dev-arm"
    subprocess.run(["arm-linux-gnueabihf-gcc", "-static", "-O1", "-o", str(exe), str(SOURCE)],
                   check=True, capture_output=True, timeout=120)
    got = run([sys.executable, "-m", "emulator", "run", str(exe)], work / "arm.out")
    assert got == expected

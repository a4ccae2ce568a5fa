"""Unicorn's TLB starts with 256 entries and grows only when it is flushed; elftrace fills
each entry through a Python hook, so a program touching more pages than that at random
paid a hook call at nearly every access (40 s for a loop native code runs in 0.3 s)
until elftrace flushed the TLB to let it grow (emulator/cpu.py: Cpu.grow_tlb). A C
program scattering 300,000 stores over 16 MiB must print what it prints natively, with
the hook (host code or Python) filling a few thousand pages, not one per store (counted,
never timed)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE = Path(__file__).parent / "data" / "scattered.c"
COUNTING = (
    "import sys\n"
    "import emulator.cpu as c\n"
    "total, cpus = [0], []\n"
    "flush = c.Cpu.flush_tlb\n"
    "def counting(self):\n"
    "    total[0] += self.fills\n"
    "    flush(self)\n"
    "c.Cpu.flush_tlb = counting\n"
    "init = c.Cpu.__init__\n"
    "def keeping(self, *a):\n"
    "    init(self, *a)\n"
    "    cpus.append(self)\n"
    "c.Cpu.__init__ = keeping\n"
    "from emulator.cli import main\n"
    "try:\n"
    "    code = main()\n"
    "finally:\n"
    "    sys.stderr.write(f'fills: {total[0] + sum(cpu.fills for cpu in cpus)}\\n')\n"
    "raise SystemExit(code)\n")
STEPS = "300000"


@pytest.fixture(scope="module")
def native(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    if shutil.which("gcc") is None:
        pytest.skip("no host C compiler")
    work = tmp_path_factory.mktemp("tlb")
    exe = work / "scattered-amd64"
    subprocess.run(["gcc", "-static", "-O1", "-o", str(exe), str(SOURCE)], check=True,
                   capture_output=True, timeout=120)
    proc = subprocess.run([str(exe), STEPS], capture_output=True, text=True, timeout=60,
                          check=True)
    return work, proc.stdout


def fills_running(exe: Path, *options: str) -> tuple[subprocess.CompletedProcess[str], int]:
    proc = subprocess.run([sys.executable, "-c", COUNTING, "run", *options, str(exe), STEPS],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    found = re.search(r"^fills: (\d+)$", proc.stderr, re.M)
    assert found, proc.stderr
    return proc, int(found[1])


@pytest.mark.parametrize("options", [(), ("--deterministic",)])
def test_scattered_stores_let_the_tlb_grow(native: tuple[Path, str],
                                          options: tuple[str, ...]) -> None:
    # Deterministic runs stop for it too (the stop depends on the guest's work alone).
    work, expected = native
    proc, fills = fills_running(work / "scattered-amd64", *options)
    assert (proc.returncode, proc.stdout) == (0, expected)
    assert fills < 30_000, fills


@pytest.mark.skipif(shutil.which("arm-linux-gnueabihf-gcc") is None,
                    reason="no ARM cross compiler")
def test_scattered_stores_let_the_tlb_grow_on_arm(native: tuple[Path, str]) -> None:
    work, expected = native
    exe = work / "scattered-arm"
    subprocess.run(["arm-linux-gnueabihf-gcc", "-static", "-O1", "-o", str(exe), str(SOURCE)],
                   check=True, capture_output=True, timeout=120)
    proc, fills = fills_running(exe)
    assert (proc.returncode, proc.stdout) == (0, expected)
    assert fills < 30_000, fills

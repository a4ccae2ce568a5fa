"""The syscall gate (emulator/cpu.py: a host-code stub reads the syscall registers and
writes the return value around the Python hook) and the Python-only hook it replaces
must behave the same on every guest architecture: same output, same exit status, same
return values, errors included (a negative errno masked to the guest's word)."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

from tests.elfbuild import EM_386, EM_AARCH64, EM_ARM, arm, static_elf, write_exe

ROOT = Path(__file__).resolve().parents[2]
NO_GATE = ("import emulator.cpu as cpu; cpu._GATE_STUBS.clear(); "
           "from emulator.cli import main; raise SystemExit(main())")


def elftrace(*args: str, gate: bool) -> subprocess.CompletedProcess[str]:
    command = ["-m", "emulator"] if gate else ["-c", NO_GATE]
    return subprocess.run([sys.executable, *command, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})


# write(99, 0, 0) twice (the second call takes the dispatcher's fast path), then exit
# with the second call's result: -EBADF, so the status is 256 - 9.
X86_64_EBADF = bytes.fromhex("b801000000bf630000000f05" * 2 + "89c7b83c0000000f05")
I386_EBADF = bytes.fromhex("b804000000bb63000000cd80" * 2 + "89c3b801000000cd80")
ARM_EBADF = arm(0xE3A00063, 0xE3A07004, 0xEF000000, 0xE3A00063, 0xE3A07004, 0xEF000000,
                0xE3A07001, 0xEF000000)
A64_EBADF = arm(0xD2800C60, 0xD2800808, 0xD4000001, 0xD2800C60, 0xD2800808, 0xD4000001,
                0xD2800BA8, 0xD4000001)


@pytest.mark.parametrize("gate", [True, False], ids=["gate", "python-hook"])
@pytest.mark.parametrize("code,machine", [(X86_64_EBADF, 62), (I386_EBADF, EM_386),
                                          (ARM_EBADF, EM_ARM), (A64_EBADF, EM_AARCH64)],
                         ids=["x86_64", "i386", "arm", "aarch64"])
def test_error_return_reaches_the_guest(tmp_path: Path, code: bytes, machine: int,
                                        gate: bool) -> None:
    path = str(write_exe(tmp_path, "prog", static_elf(code, machine=machine)))
    result = elftrace("trace", path, gate=gate)
    assert result.returncode == 256 - 9, result.stderr
    assert result.stderr.count("= -1 EBADF (Bad file descriptor)") == 2


@pytest.mark.parametrize("binary", ["hello-1.27-amd64-static", "hello-1.27-arm7-static",
                                    "hello-1.27-386-static-stripped",
                                    "hello-1.27-arm64-static-stripped"])
def test_go_program_same_with_and_without_gate(binary: str) -> None:
    path = str(ROOT / "bins" / binary)
    gated, plain = elftrace("run", path, gate=True), elftrace("run", path, gate=False)
    assert gated.returncode == plain.returncode == 0, gated.stderr + plain.stderr
    assert gated.stdout == plain.stdout == "hello world\n"


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the gate is x86-64 host code")
def test_gate_is_installed_on_x86_64_hosts(tmp_path: Path) -> None:
    from emulator.machine import Machine

    for code, machine in ((X86_64_EBADF, 62), (ARM_EBADF, EM_ARM)):
        path = str(write_exe(tmp_path, f"prog{machine}", static_elf(code, machine=machine)))
        assert Machine(path, [path]).cpu.gate is not None

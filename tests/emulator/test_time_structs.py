"""Time structures in path syscalls follow each ABI's struct timespec: on 32-bit ARM,
``utimensat`` takes two 32-bit words per time and ``utimensat_time64`` two 64-bit ones
(found by the conformance suite: ``os.Chtimes`` set a wrong mtime on ARM). The tiny ARM
programs set a file's times; the file's real mtime on the host is the check, and
qemu-arm, when installed, must agree."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tests.elfbuild import EM_ARM, arm, static_elf, write_exe

ROOT = Path(__file__).resolve().parents[2]
ATIME, MTIME = 1_000_000_000, 981_173_106  # 2001-09-09, 2001-02-03T04:05:06Z


def utimensat_program(path: Path, time64: bool) -> bytes:
    """utimensat(AT_FDCWD, path, times, 0); exit(result)."""
    number = 412 if time64 else 348
    fmt = "<qqqq" if time64 else "<iiii"
    times = struct.pack(fmt, ATIME, 500, MTIME, 250)
    path_offset = 32 + len(times)
    code = arm(
        0xE3E00063,                          # mvn r0, #99          (AT_FDCWD)
        0xE28F1000 | (path_offset - 12),     # add r1, pc, #path
        0xE28F2010,                          # add r2, pc, #16      (times at 32)
        0xE3A03000,                          # mov r3, #0
        0xE3007000 | ((number >> 12) << 16) | (number & 0xFFF),  # movw r7, #number
        0xEF000000,                          # svc 0
        0xE3A07001,                          # mov r7, #1
        0xEF000000,                          # svc 0                (exit)
    )
    return code + times + str(path).encode() + b"\0"


def run(cmd: list[str]) -> int:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, timeout=120, check=False,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}).returncode


@pytest.mark.parametrize("time64", [False, True], ids=["utimensat", "utimensat_time64"])
def test_arm_utimensat_reads_the_abi_timespec(tmp_path: Path, time64: bool) -> None:
    target = tmp_path / "file"
    target.write_bytes(b"x")
    exe = str(write_exe(tmp_path, "prog",
                        static_elf(utimensat_program(target, time64), machine=EM_ARM)))
    assert run([sys.executable, "-m", "emulator", "run", exe]) == 0
    st = os.stat(target)
    assert (st.st_atime_ns, st.st_mtime_ns) == (ATIME * 10**9 + 500, MTIME * 10**9 + 250)
    qemu = shutil.which("qemu-arm")
    if qemu is None:
        pytest.skip("qemu-arm is not installed: the live oracle comparison is skipped")
    os.utime(target, ns=(0, 0))
    assert run([qemu, exe]) == 0
    st = os.stat(target)
    assert (st.st_atime_ns, st.st_mtime_ns) == (ATIME * 10**9 + 500, MTIME * 10**9 + 250)

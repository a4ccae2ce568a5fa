"""execve: the checks Linux makes before running a program, so a missing or unusable
program fails with Linux's errno; only running another program is ENOSYS."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from syscalls.errno import Errno, SyscallError
from syscalls.process import sys_execve
from tests.unit.test_net_handlers import make_ctx


def execve_errno(path: str) -> Errno:
    ctx = make_ctx()
    ctx.mem.write(0x1000, path.encode() + b"\0")
    ctx.mem.write_word(0x2000, 0x1000)
    ctx.mem.write_word(0x2000 + ctx.abi.word_size, 0)
    with pytest.raises(SyscallError) as err:
        sys_execve(ctx, 0x1000, 0x2000, 0)
    return err.value.errno


def host_errno(path: str) -> Errno:
    """What the host kernel says for a path it cannot run (never an executable file:
    os.execv would replace the test process)."""
    assert not (Path(path).is_file() and os.access(path, os.X_OK))
    try:
        os.execv(path, [path])
    except OSError as exc:
        return Errno(exc.errno)
    raise AssertionError("unreachable")


def test_errors_are_the_host_kernels(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_text("data\n")
    for path in (str(tmp_path / "missing"), str(tmp_path), str(plain),
                 str(plain / "below")):
        assert execve_errno(path) == host_errno(path), path


def test_an_executable_that_is_neither_elf_nor_script_is_enoexec(tmp_path: Path) -> None:
    odd = tmp_path / "odd"
    odd.write_text("not a program\n")
    odd.chmod(0o755)
    assert execve_errno(str(odd)) == Errno.ENOEXEC


@pytest.mark.skipif(shutil.which("true") is None, reason="no true(1)")
def test_a_real_program_is_where_elftrace_stops() -> None:
    assert execve_errno(str(shutil.which("true"))) == Errno.ENOSYS

"""Extended attributes through the real handlers of a Machine (x86-64), checked against
the host kernel's answers for the same files; and coreutils' ``ls -l`` (which asks for
``security.selinux`` and the POSIX ACLs of every file) run natively and under elftrace."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from syscalls import xattr
from syscalls.errno import Errno
from tests.unit.test_fsinfo import O_RDONLY, Guest

REPO = Path(__file__).resolve().parents[2]
XATTR_CREATE, XATTR_REPLACE = 1, 2


@pytest.fixture
def guest() -> Guest:
    g = Guest()
    yield g
    g.machine.process.fds.close_all()


def host_supports_user_xattrs(path: Path) -> bool:
    try:
        os.setxattr(path, "user.probe", b"1")
        os.removexattr(path, "user.probe")
    except OSError:
        return False
    return True


def put(guest: Guest, offset: int, data: bytes) -> int:
    addr = guest.scratch + offset
    guest.machine.mem.write(addr, data)
    return addr


def test_set_get_list_remove_follow_the_host(guest: Guest, tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"")
    if not host_supports_user_xattrs(target):
        pytest.skip("the host file system has no user xattrs")
    path = put(guest, 0, os.fsencode(str(target)) + b"\0")
    name = put(guest, 0x400, b"user.colour\0")
    value = put(guest, 0x800, b"blue")
    out = guest.scratch + 0x1000
    assert guest.call(xattr.sys_setxattr, path, name, value, 4, XATTR_CREATE) == 0
    assert os.getxattr(target, "user.colour") == b"blue"
    assert guest.call(xattr.sys_setxattr, path, name, value, 4, XATTR_CREATE) == -Errno.EEXIST
    # size 0 asks for the size; too small a buffer is ERANGE; then the value itself
    assert guest.call(xattr.sys_getxattr, path, name, 0, 0) == 4
    assert guest.call(xattr.sys_getxattr, path, name, out, 3) == -Errno.ERANGE
    assert guest.call(xattr.sys_lgetxattr, path, name, out, 64) == 4
    assert guest.machine.mem.read(out, 4) == b"blue"
    assert guest.call(xattr.sys_listxattr, path, 0, 0) == len(b"user.colour\0")
    assert guest.call(xattr.sys_llistxattr, path, out, 64) == 12
    assert guest.machine.mem.read(out, 12) == b"user.colour\0"
    fd = guest.open(str(target), O_RDONLY)
    assert guest.call(xattr.sys_fgetxattr, fd, name, out, 64) == 4
    assert guest.call(xattr.sys_flistxattr, fd, out, 64) == 12
    assert guest.call(xattr.sys_fremovexattr, fd, name) == 0
    assert os.listxattr(target) == []
    assert guest.call(xattr.sys_removexattr, path, name) == -Errno.ENODATA
    assert guest.call(xattr.sys_getxattr, path, name, out, 64) == -Errno.ENODATA
    assert guest.call(xattr.sys_setxattr, path, name, value, 4, XATTR_REPLACE) == -Errno.ENODATA


def test_errors_are_linuxs(guest: Guest, tmp_path: Path) -> None:
    missing = put(guest, 0, os.fsencode(str(tmp_path / "missing")) + b"\0")
    name = put(guest, 0x400, b"user.x\0")
    long_name = put(guest, 0x800, b"user." + b"n" * 300 + b"\0")
    assert guest.call(xattr.sys_getxattr, missing, name, 0, 0) == -Errno.ENOENT
    here = put(guest, 0x1000, os.fsencode(str(tmp_path)) + b"\0")
    assert guest.call(xattr.sys_getxattr, here, long_name, 0, 0) == -Errno.ERANGE
    assert guest.call(xattr.sys_setxattr, here, name, 0, 0, 4) == -Errno.EINVAL
    assert guest.call(xattr.sys_fgetxattr, 99, name, 0, 0) == -Errno.EBADF


def test_files_that_live_only_in_elftrace_have_none(guest: Guest) -> None:
    proc = put(guest, 0, b"/proc/self/status\0")
    name = put(guest, 0x400, b"user.x\0")
    assert guest.call(xattr.sys_getxattr, proc, name, 0, 0) == -Errno.ENODATA
    assert guest.call(xattr.sys_listxattr, proc, 0, 0) == 0
    assert guest.call(xattr.sys_setxattr, proc, name, 0, 0, 0) == -Errno.EOPNOTSUPP


@pytest.mark.skipif(platform.machine() != "x86_64" or not shutil.which("strace")
                    or not Path("/bin/ls").exists(), reason="needs x86-64 /bin/ls and strace")
def test_ls_long_listing_matches_native(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"x")
    (tmp_path / "b").symlink_to("a")
    argv = ["/bin/ls", "-l", "--time-style=+%Y", str(tmp_path)]
    native = subprocess.run(["strace", "-e", "trace=%file", *argv], capture_output=True,
                            text=True, timeout=60, check=False)
    ours = subprocess.run([sys.executable, "-m", "emulator", "trace", "-e", "trace=%file",
                           *argv], cwd=REPO, capture_output=True, text=True, timeout=120,
                          check=False)
    assert ours.returncode == native.returncode == 0, ours.stderr
    assert ours.stdout == native.stdout

    def xattr_calls(trace: str) -> list[str]:
        return [line.split(", 0x")[0].split(", NULL")[0] + " " + line.rsplit("= ", 1)[1]
                for line in trace.splitlines() if "xattr(" in line]

    assert xattr_calls(ours.stderr) == xattr_calls(native.stderr)
    assert xattr_calls(ours.stderr)

"""flock, statfs/fstatfs(64) and copy_file_range through the real handlers of a Machine
(x86-64), checked against the host kernel's own answers for the same files."""

from __future__ import annotations

import fcntl
import os
import struct
from pathlib import Path

import pytest

from emulator.machine import Machine
from syscalls import abi as A
from syscalls import fs, fsinfo, poll
from syscalls.errno import Errno, SyscallError
from syscalls.kernel.wait import Block

REPO = Path(__file__).resolve().parents[2]
BINARY = REPO / "bins" / "hello-1.27-amd64-static"
O_RDONLY, O_WRONLY, O_RDWR, O_CREAT = 0, 1, 2, 0o100


class Guest:
    def __init__(self) -> None:
        self.machine = Machine(str(BINARY), [str(BINARY)])
        self.scratch = self.machine.initial_stack.sp - 0x20000

    def call(self, handler, *args: int):  # type: ignore[no-untyped-def]
        try:
            return handler(self.machine.ctx, *args)
        except SyscallError as err:
            return -int(err.errno)

    def cstr(self, text: str) -> int:
        self.machine.mem.write(self.scratch, os.fsencode(text) + b"\0")
        return self.scratch

    def open(self, path: str, flags: int) -> int:
        return self.call(fs.sys_openat, A.AT_FDCWD, self.cstr(path), flags, 0o600)

    def host_fd(self, fd: int) -> int:
        return self.machine.process.fds.get(fd).fd  # type: ignore[attr-defined, no-any-return]


@pytest.fixture
def guest() -> Guest:
    g = Guest()
    yield g
    g.machine.process.fds.close_all()


LOCK_SH, LOCK_EX, LOCK_NB, LOCK_UN = 1, 2, 4, 8


def test_flock_is_a_real_host_lock(guest: Guest, tmp_path: Path) -> None:
    target = tmp_path / "lockme"
    target.write_bytes(b"x")
    a, b = guest.open(str(target), O_RDONLY), guest.open(str(target), O_RDONLY)
    assert guest.call(fsinfo.sys_flock, a, LOCK_EX | LOCK_NB) == 0
    assert guest.call(fsinfo.sys_flock, b, LOCK_SH | LOCK_NB) == -int(Errno.EAGAIN)
    # Another process (here: this test, through its own open file) sees the guest's lock.
    with open(target, "rb") as other, pytest.raises(BlockingIOError):
        fcntl.flock(other, fcntl.LOCK_SH | fcntl.LOCK_NB)
    # A blocking request parks the thread instead of blocking elftrace.
    assert isinstance(guest.call(fsinfo.sys_flock, b, LOCK_SH), Block)
    assert guest.call(fsinfo.sys_flock, a, LOCK_UN) == 0
    assert guest.call(fsinfo.sys_flock, b, LOCK_SH | LOCK_NB) == 0
    assert guest.call(fsinfo.sys_flock, b, 0) == -int(Errno.EINVAL)
    assert guest.call(fsinfo.sys_flock, b, 99) == 0  # LOCK_MAND: ignored, as Linux 5.15+
    assert guest.call(fsinfo.sys_flock, 77, LOCK_SH) == -int(Errno.EBADF)
    efd = guest.call(poll.sys_eventfd2, 0, 0)
    assert guest.call(fsinfo.sys_flock, efd, LOCK_SH) == -int(Errno.ENOLCK)


def test_statfs_matches_the_host(guest: Guest, tmp_path: Path) -> None:
    buf = guest.scratch + 0x1000
    assert guest.call(fsinfo.sys_statfs, guest.cstr(str(tmp_path)), buf) == 0
    fields = struct.unpack("<7q2i7q", guest.machine.mem.read(buf, 120))
    host = os.statvfs(tmp_path)
    assert fields[1] == host.f_bsize and fields[2] == host.f_blocks
    assert fields[9] == host.f_namemax and fields[10] == host.f_frsize
    assert fields[11] & 0x20  # ST_VALID, as Linux sets it
    fd = guest.open(str(tmp_path), O_RDONLY)
    assert guest.call(fsinfo.sys_fstatfs, fd, buf + 0x200) == 0
    assert guest.machine.mem.read(buf + 0x200, 16) == guest.machine.mem.read(buf, 16)
    assert guest.call(fsinfo.sys_statfs, guest.cstr("/no/such/dir"), buf) == \
        -int(Errno.ENOENT)


def test_statfs64_layout_and_sizes(guest: Guest, tmp_path: Path) -> None:
    """The 32-bit ABIs' packed 84-byte struct statfs64 (ARM's kernel also accepts 88)."""
    st = fsinfo._host_statfs("statfs", os.fsencode(tmp_path))
    packed = fsinfo._pack(st, 4, True)
    assert len(packed) == 84
    ftype, bsize, blocks = struct.unpack_from("<IIQ", packed)
    assert (ftype, bsize, blocks) == (st.f_type & 0xFFFFFFFF, st.f_bsize, st.f_blocks)
    assert struct.unpack_from("<I", packed, 56)[0] == st.f_namelen
    assert guest.call(fsinfo.sys_statfs64, guest.cstr(str(tmp_path)), 120,
                      guest.scratch + 0x1000) == -int(Errno.EINVAL)


def test_copy_file_range_copies_and_advances_offsets(guest: Guest, tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.write_bytes(bytes(range(256)) * 4)
    a = guest.open(str(src), O_RDONLY)
    b = guest.open(str(dst), O_RDWR | O_CREAT)
    assert guest.call(fsinfo.sys_copy_file_range, a, 0, b, 0, 100, 0) == 100
    off = guest.scratch + 0x1000
    guest.machine.mem.write(off, struct.pack("<q", 1000))
    assert guest.call(fsinfo.sys_copy_file_range, a, off, b, 0, 100, 0) == 24
    assert struct.unpack("<q", guest.machine.mem.read(off, 8))[0] == 1024
    assert os.lseek(guest.host_fd(a), 0, os.SEEK_CUR) == 100  # the file position stayed
    assert dst.read_bytes() == bytes(range(100)) + (bytes(range(256)) * 4)[1000:]
    assert guest.call(fsinfo.sys_copy_file_range, a, 0, b, 0, 10, 1) == -int(Errno.EINVAL)
    assert guest.call(fsinfo.sys_copy_file_range, b, 0, a, 0, 10, 0) == -int(Errno.EBADF)
    fds = guest.scratch + 0x2000
    assert guest.call(fs.sys_pipe2, fds, 0) == 0
    wfd = struct.unpack("<ii", guest.machine.mem.read(fds, 8))[1]
    assert guest.call(fsinfo.sys_copy_file_range, a, 0, wfd, 0, 10, 0) == -int(Errno.EINVAL)

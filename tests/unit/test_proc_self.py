"""/proc/self/fd and /proc/self/task describe the guest, not elftrace's Python process.

Linux (proc(5)): /proc/self/fd lists one symbolic link per open descriptor of the
process, the descriptor reading the directory included; a link names the file, or for
files without a path ``pipe:[INODE]``, ``socket:[INODE]``, ``anon_inode:[eventfd]``,
``anon_inode:[eventpoll]``. /proc/self/task lists one directory per thread. Go's
os.ReadDir skips entries whose inode is 0, so listed inodes must not be.
Run through the real handlers of a real Machine (x86-64).
"""

from __future__ import annotations

import os
import socket
import struct
from pathlib import Path

import pytest

from emulator.machine import Machine
from syscalls import abi as A
from syscalls import fs, net, poll
from syscalls.errno import SyscallError

REPO = Path(__file__).resolve().parents[2]
BINARY = REPO / "bins" / "hello-1.27-amd64-static"
O_RDONLY, O_WRONLY, O_DIRECTORY = 0, 1, 0o200000
DT_DIR, DT_LNK = 4, 10


class Guest:
    def __init__(self) -> None:
        self.machine = Machine(str(BINARY), [str(BINARY)])
        self.scratch = self.machine.initial_stack.sp - 0x20000

    def call(self, handler, *args: object) -> int:  # type: ignore[no-untyped-def]
        try:
            return int(handler(self.machine.ctx, *args))
        except SyscallError as err:
            return -int(err.errno)

    def cstr(self, text: str) -> int:
        self.machine.mem.write(self.scratch, os.fsencode(text) + b"\0")
        return self.scratch

    def open(self, path: str, flags: int) -> int:
        return self.call(fs.sys_openat, A.AT_FDCWD, self.cstr(path), flags, 0)

    def readlink(self, path: str) -> str | int:
        buf = self.scratch + 0x1000
        n = self.call(fs.sys_readlinkat, A.AT_FDCWD, self.cstr(path), buf, 4096)
        return self.machine.mem.read(buf, n).decode() if n >= 0 else n

    def dirents(self, fd: int) -> list[tuple[int, int, str]]:
        """(inode, d_type, name) from getdents64, read in small batches until the end."""
        out: list[tuple[int, int, str]] = []
        buf = self.scratch + 0x2000
        while (n := self.call(fs.sys_getdents64, fd, buf, 64)) > 0:
            data = self.machine.mem.read(buf, n)
            pos = 0
            while pos < n:
                ino, _off, reclen, dtype = struct.unpack_from("<QqHB", data, pos)
                out.append((ino, dtype, data[pos + 19:pos + reclen].split(b"\0")[0].decode()))
                pos += reclen
        assert n == 0
        return out


@pytest.fixture
def guest() -> Guest:
    g = Guest()
    yield g
    g.machine.process.fds.close_all()


def test_fd_directory_lists_the_guest_descriptors_and_the_reader(guest: Guest) -> None:
    fds_ptr = guest.scratch + 0x3000
    assert guest.call(fs.sys_pipe2, fds_ptr, 0) == 0
    epfd = guest.call(poll.sys_epoll_create1, 0)
    efd = guest.call(poll.sys_eventfd2, 0, 0)
    dirfd = guest.open("/proc/self/fd", O_RDONLY | O_DIRECTORY)
    assert dirfd >= 0
    entries = guest.dirents(dirfd)
    assert [e[2] for e in entries[:2]] == [".", ".."]
    listed = [name for _, _, name in entries[2:]]
    assert listed == [str(fd) for fd in sorted(guest.machine.process.fds.entries)]
    assert str(dirfd) in listed and str(epfd) in listed and str(efd) in listed
    assert all(ino != 0 and dtype == DT_LNK for ino, dtype, _ in entries[2:])
    # A rewind lists again: descriptors opened since then appear.
    extra = guest.open("/proc/self/maps", O_RDONLY)
    assert guest.call(fs.sys_lseek, dirfd, 0, 0) == 0
    assert str(extra) in [name for _, _, name in guest.dirents(dirfd)]


def test_fd_links_name_files_without_paths_as_linux_does(guest: Guest) -> None:
    fds_ptr = guest.scratch + 0x3000
    assert guest.call(fs.sys_pipe2, fds_ptr, 0) == 0
    rfd = struct.unpack("<i", guest.machine.mem.read(fds_ptr, 4))[0]
    epfd = guest.call(poll.sys_epoll_create1, 0)
    efd = guest.call(poll.sys_eventfd2, 0, 0)
    sfd = guest.call(net.sys_socket, socket.AF_INET, socket.SOCK_STREAM, 0)
    assert sfd >= 0
    link = guest.readlink(f"/proc/self/fd/{rfd}")
    assert isinstance(link, str) and link.startswith("pipe:[") and link.endswith("]")
    assert guest.readlink(f"/proc/self/fd/{epfd}") == "anon_inode:[eventpoll]"
    assert guest.readlink(f"/proc/self/fd/{efd}") == "anon_inode:[eventfd]"
    link = guest.readlink(f"/proc/self/fd/{sfd}")
    assert isinstance(link, str) and link.startswith("socket:[") and link != "socket:[0]"
    assert guest.readlink("/proc/self/fd/999") < 0


def test_task_directory_lists_guest_threads(guest: Guest) -> None:
    dirfd = guest.open("/proc/self/task", O_RDONLY | O_DIRECTORY)
    entries = guest.dirents(dirfd)
    tids = sorted(str(t.tid) for t in guest.machine.process.live_tasks())
    assert sorted(name for _, _, name in entries[2:]) == tids
    assert all(dtype == DT_DIR for _, dtype, _ in entries)
    assert guest.open("/proc/self/fd", O_WRONLY | O_DIRECTORY) < 0


def test_rendered_proc_files_are_not_pollable_and_report_their_flags(guest: Guest) -> None:
    """Linux: epoll_ctl(ADD) of /proc/self/maps (no poll operation) fails with EPERM, so
    Go reads it blocking; F_GETFL shows O_LARGEFILE on a 64-bit kernel, as for any file."""
    epfd = guest.call(poll.sys_epoll_create1, 0)
    for path in ("/proc/self/maps", "/proc/self/status", "/proc/self/cmdline"):
        fd = guest.open(path, O_RDONLY | 0o4000)  # O_NONBLOCK, as Go's os.Open tries
        assert fd >= 0
        event = guest.scratch + 0x3000
        guest.machine.mem.write(event, struct.pack("<IQ", 0x80000007, 0))
        assert guest.call(poll.sys_epoll_ctl, epfd, 1, fd, event) == -1  # EPERM
        assert guest.call(fs.sys_fcntl, fd, 3, 0) == 0o4000 | 0o100000  # F_GETFL
    dirfd = guest.open("/proc/self/fd", O_RDONLY | O_DIRECTORY)
    assert guest.call(fs.sys_fcntl, dirfd, 3, 0) == O_DIRECTORY | 0o100000

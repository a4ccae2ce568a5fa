"""--rootfs and --read-only: every escape a guest could try, through the real syscall
handlers of a real Machine (x86-64), with openat2(RESOLVE_IN_ROOT) and with the
component-by-component fallback; and one end-to-end run of bins/ inside a root.

The expectations are Linux's for a process chrooted into the root directory (chroot(2),
path_resolution(7)): ``..`` of ``/`` is ``/``, absolute symlinks start at the root, and
a read-only mount answers EROFS to every change.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from emulator.machine import Machine, RunOptions
from syscalls import abi as A
from syscalls import fs
from syscalls.errno import Errno, SyscallError
from syscalls.kernel.rootfs import ConfinedRoot, openat2_works

REPO = Path(__file__).resolve().parents[2]
GUEST_BINARY = REPO / "bins" / "work-1.27-amd64-static"
SECRET = b"host secret, outside the root\n"
GUEST_PASSWD = b"guest passwd\n"
O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC = 0, 1, 2, 0o100, 0o200, 0o1000
O_DIRECTORY, O_NOFOLLOW = 0o200000, 0o400000
AT_SYMLINK_FOLLOW = 0x400

MODES = [pytest.param(False, id="walk")]
if openat2_works(os.open("/", os.O_PATH)):
    MODES.insert(0, pytest.param(True, id="openat2"))


@dataclass
class Guest:
    machine: Machine
    root: Path
    outside: Path
    scratch: int

    @property
    def ctx(self):  # type: ignore[no-untyped-def]
        return self.machine.ctx

    def cstr(self, text: str, slot: int = 0) -> int:
        addr = self.scratch + slot * 0x1000
        self.machine.mem.write(addr, os.fsencode(text) + b"\0")
        return addr

    def call(self, handler, *args: object) -> int:  # type: ignore[no-untyped-def]
        """The handler's result, or minus the errno it raised (as the guest sees it)."""
        try:
            return int(handler(self.ctx, *args))
        except SyscallError as err:
            return -int(err.errno)

    def open(self, path: str, flags: int = O_RDONLY, dirfd: int = A.AT_FDCWD) -> int:
        return self.call(fs.sys_openat, dirfd, self.cstr(path), flags, 0o644)

    def read_file(self, path: str, dirfd: int = A.AT_FDCWD) -> bytes | int:
        fd = self.open(path, O_RDONLY, dirfd)
        if fd < 0:
            return fd
        buf = self.scratch + 0x8000
        n = self.call(fs.sys_read, fd, buf, 4096)
        self.call(fs.sys_close, fd)
        return self.machine.mem.read(buf, n)

    def stat(self, path: str, flags: int = 0) -> int:
        return self.call(fs.sys_newfstatat, A.AT_FDCWD, self.cstr(path), self.scratch + 0x8000,
                         flags)

    def readlink(self, path: str) -> bytes | int:
        buf = self.scratch + 0x8000
        n = self.call(fs.sys_readlinkat, A.AT_FDCWD, self.cstr(path), buf, 4096)
        return self.machine.mem.read(buf, n) if n >= 0 else n

    def getcwd(self) -> str:
        buf = self.scratch + 0x8000
        n = self.call(fs.sys_getcwd, buf, 4096)
        return self.machine.mem.read(buf, n - 1).decode()

    def listdir(self, path: str) -> list[str]:
        return sorted(self.dirents(path))

    def dirents(self, path: str) -> dict[str, int]:
        """name -> inode, from getdents64 (linux_dirent64: d_ino, d_off, d_reclen, ...)."""
        fd = self.open(path, O_RDONLY | O_DIRECTORY)
        assert fd >= 0
        buf = self.scratch + 0x8000
        n = self.call(fs.sys_getdents64, fd, buf, 0x4000)
        data = self.machine.mem.read(buf, n)
        entries, pos = {}, 0
        while pos < len(data):
            ino = int.from_bytes(data[pos:pos + 8], "little")
            reclen = int.from_bytes(data[pos + 16:pos + 18], "little")
            entries[data[pos + 19:pos + reclen].split(b"\0")[0].decode()] = ino
            pos += reclen
        self.call(fs.sys_close, fd)
        return entries


def make_tree(tmp: Path) -> tuple[Path, Path]:
    outside = tmp / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(SECRET)
    root = tmp / "root"
    for d in ("bin", "etc", "dir/sub", "tmp", "a/b"):
        (root / d).mkdir(parents=True)
    shutil.copyfile(GUEST_BINARY, root / "bin" / "prog")
    (root / "bin" / "prog").chmod(0o755)
    (root / "etc" / "passwd").write_bytes(GUEST_PASSWD)
    links = {
        "abs_link": "/etc/passwd",
        "etc_passwd_link": "/etc/passwd",
        "escape_rel": "../../outside/secret",
        "escape_abs": str(outside / "secret"),
        "escape_dir": str(outside),
        "dir/up": "../../../../../..",
        "dir/up2": "../..",  # from <root>/dir: <root>/.. would be the host's <tmp>
        "dotdot": "..",
        "loop": "loop",
        "dangling": "/created-by-guest",
        "proc_root": "/proc/self/root",
        "host_fd": "/proc/self/fd/3",
    }
    for name, target in links.items():
        os.symlink(target, root / name)
    return root, outside


@pytest.fixture(params=MODES)
def guest(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Guest]:
    yield from _guest(tmp_path, request.param, read_only=False)


@pytest.fixture(params=MODES)
def ro_guest(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Guest]:
    yield from _guest(tmp_path, request.param, read_only=True)


def _guest(tmp: Path, use_openat2: bool, read_only: bool) -> Iterator[Guest]:
    root, outside = make_tree(tmp)
    confined = ConfinedRoot(str(root), read_only=read_only, use_openat2=use_openat2)
    machine = Machine("/bin/prog", ["/bin/prog"], RunOptions(root=confined))
    scratch = machine.initial_stack.sp - 0x20000
    yield Guest(machine, root, outside, scratch)
    confined.close()


ENOENT, ELOOP, EROFS = -int(Errno.ENOENT), -int(Errno.ELOOP), -int(Errno.EROFS)


def test_paths_resolve_inside_the_root(guest: Guest) -> None:
    assert guest.read_file("/etc/passwd") == GUEST_PASSWD
    assert guest.read_file("etc/passwd") == GUEST_PASSWD  # cwd is the root
    assert guest.listdir("/") == sorted([".", "..", "bin", "etc", "dir", "tmp", "a", "abs_link",
                                         "etc_passwd_link", "escape_rel", "escape_abs",
                                         "escape_dir", "loop", "dangling", "proc_root",
                                         "host_fd", "dotdot"])


def test_dotdot_of_the_root_lists_the_root(guest: Guest) -> None:
    entries = guest.dirents("/")
    assert entries[".."] == entries["."] == guest.root.stat().st_ino


def test_dotdot_clamps_at_the_root(guest: Guest) -> None:
    assert guest.read_file("/../../../../outside/secret") == ENOENT
    assert guest.read_file("/../etc/passwd") == GUEST_PASSWD
    assert guest.read_file("../../etc/passwd") == GUEST_PASSWD


def test_absolute_symlinks_start_at_the_root(guest: Guest) -> None:
    assert guest.read_file("/abs_link") == GUEST_PASSWD
    assert guest.read_file("/etc_passwd_link") == GUEST_PASSWD
    assert guest.readlink("/abs_link") == b"/etc/passwd"


def test_symlinks_pointing_outside_stay_inside(guest: Guest) -> None:
    assert guest.read_file("/escape_rel") == ENOENT
    assert guest.read_file("/escape_abs") == ENOENT
    assert guest.read_file("/escape_dir/secret") == ENOENT
    assert guest.read_file("/dir/up/outside/secret") == ENOENT
    assert guest.read_file("/dir/up/etc/passwd") == GUEST_PASSWD
    assert guest.read_file("/dir/up2/outside/secret") == ENOENT
    assert guest.read_file("/dotdot/outside/secret") == ENOENT
    assert guest.stat("/escape_abs") == ENOENT
    assert guest.stat("/escape_abs", A.AT_SYMLINK_NOFOLLOW) == 0  # the link itself
    assert guest.read_file("/loop") == ELOOP


def test_proc_self_root_and_magic_links(guest: Guest) -> None:
    assert guest.readlink("/proc/self/root") == b"/"
    assert guest.readlink("/proc/self/exe") == b"/bin/prog"
    assert guest.read_file("/proc/self/root/../outside/secret") == ENOENT
    assert guest.read_file("/proc_root/etc/passwd") != SECRET
    assert guest.read_file("/host_fd") == ENOENT  # /proc inside the root: nothing there
    exe = guest.read_file("/proc/self/exe")
    assert isinstance(exe, bytes) and exe.startswith(b"\x7fELF")


def test_chdir_and_getcwd_show_the_guest_view(guest: Guest) -> None:
    assert guest.getcwd() == "/"
    assert guest.call(fs.sys_chdir, guest.cstr("/dir/sub")) == 0
    assert guest.getcwd() == "/dir/sub"
    assert guest.call(fs.sys_chdir, guest.cstr("../../../..")) == 0
    assert guest.getcwd() == "/"
    assert guest.read_file("outside/secret") == ENOENT
    assert guest.call(fs.sys_chdir, guest.cstr("/escape_dir")) == ENOENT


def test_openat_with_a_directory_fd(guest: Guest) -> None:
    dirfd = guest.open("/dir", O_RDONLY | O_DIRECTORY)
    assert dirfd >= 0
    assert guest.read_file("../../../outside/secret", dirfd) == ENOENT
    assert guest.read_file("up/outside/secret", dirfd) == ENOENT
    assert guest.read_file("../etc/passwd", dirfd) == GUEST_PASSWD
    # Descriptors the guest did not open inside the root are not directories it can use.
    assert guest.read_file("secret", 1) == -int(Errno.ENOTDIR)


def test_writes_land_inside_the_root(guest: Guest) -> None:
    fd = guest.open("/dangling", O_WRONLY | O_CREAT)
    assert fd >= 0
    assert (guest.root / "created-by-guest").exists()
    assert not Path("/created-by-guest").exists()
    assert guest.open("/escape_abs", O_WRONLY | O_CREAT) == ENOENT  # parent missing inside
    assert (guest.outside / "secret").read_bytes() == SECRET
    assert guest.call(fs.sys_mkdirat, A.AT_FDCWD, guest.cstr("/../newdir"), 0o755) == 0
    assert (guest.root / "newdir").is_dir()
    assert guest.call(fs.sys_renameat2, A.AT_FDCWD, guest.cstr("/etc/passwd"), A.AT_FDCWD,
                      guest.cstr("/escape_dir/stolen", 1), 0) == ENOENT
    # A rename onto a symlink replaces the link, never what it points to.
    assert guest.call(fs.sys_renameat2, A.AT_FDCWD, guest.cstr("/newdir"), A.AT_FDCWD,
                      guest.cstr("/escape_dir", 1), 0) == -int(Errno.ENOTDIR)
    assert guest.call(fs.sys_unlinkat, A.AT_FDCWD, guest.cstr("/escape_abs"), 0) == 0
    assert (guest.outside / "secret").read_bytes() == SECRET
    assert guest.call(fs.sys_symlinkat, guest.cstr("/etc/passwd"), A.AT_FDCWD,
                      guest.cstr("/new_link", 1)) == 0
    assert os.readlink(guest.root / "new_link") == "/etc/passwd"
    assert guest.call(fs.sys_linkat, A.AT_FDCWD, guest.cstr("/escape_rel"), A.AT_FDCWD,
                      guest.cstr("/hard", 1), AT_SYMLINK_FOLLOW) == ENOENT
    assert guest.call(fs.sys_fchmodat, A.AT_FDCWD, guest.cstr("/escape_rel"), 0o777) == ENOENT
    assert guest.call(fs.sys_truncate, guest.cstr("/escape_rel"), 0) == ENOENT
    assert (guest.outside / "secret").read_bytes() == SECRET


def test_a_racing_rename_cannot_lead_outside(guest: Guest) -> None:
    """A thread swaps a directory and a symlink that climbs with ``..`` while the guest
    resolves through them: every lookup ends inside the root (unclamped, ``/a/outside``
    would be the host's <tmp>/outside)."""
    (guest.root / "a" / "b" / "secret").write_bytes(b"inside\n")
    os.symlink("..", guest.root / "climb")
    stop = threading.Event()

    def swap() -> None:
        root = guest.root
        while not stop.is_set():
            os.rename(root / "a", root / "a2")
            os.rename(root / "climb", root / "a")
            os.rename(root / "a", root / "climb")
            os.rename(root / "a2", root / "a")

    swapper = threading.Thread(target=swap)
    swapper.start()
    try:
        seen = set()
        for _ in range(300):
            for path in ("/a/b/secret", "/a/outside/secret", "/a/b/../../../outside/secret"):
                result = guest.read_file(path)
                assert result != SECRET, path
                seen.add(result if isinstance(result, int) else bytes(result))
    finally:
        stop.set()
        swapper.join()
    # The swapper stops with the layout restored: the lookup itself still works (during
    # the race, a busy machine may have shown only the renamed-away moments).
    assert guest.read_file("/a/b/secret") == b"inside\n"
    assert seen


def test_read_only_refuses_every_write(ro_guest: Guest) -> None:
    g = ro_guest
    assert g.read_file("/etc/passwd") == GUEST_PASSWD
    assert g.open("/etc/passwd", O_WRONLY) == EROFS
    assert g.open("/etc/passwd", O_RDWR) == EROFS
    assert g.open("/etc/passwd", O_RDONLY | O_TRUNC) == EROFS
    assert g.open("/new", O_WRONLY | O_CREAT) == EROFS
    assert g.open("/new", O_RDONLY | O_CREAT) == EROFS
    assert g.open("/etc/passwd", O_RDONLY | O_CREAT) >= 0  # exists: nothing changes
    assert g.call(fs.sys_mkdirat, A.AT_FDCWD, g.cstr("/d"), 0o755) == EROFS
    assert g.call(fs.sys_unlinkat, A.AT_FDCWD, g.cstr("/etc/passwd"), 0) == EROFS
    assert g.call(fs.sys_unlinkat, A.AT_FDCWD, g.cstr("/tmp"), A.AT_REMOVEDIR) == EROFS
    assert g.call(fs.sys_renameat2, A.AT_FDCWD, g.cstr("/etc/passwd"), A.AT_FDCWD,
                  g.cstr("/x", 1), 0) == EROFS
    assert g.call(fs.sys_symlinkat, g.cstr("/x"), A.AT_FDCWD, g.cstr("/y", 1)) == EROFS
    assert g.call(fs.sys_linkat, A.AT_FDCWD, g.cstr("/etc/passwd"), A.AT_FDCWD,
                  g.cstr("/y", 1), 0) == EROFS
    assert g.call(fs.sys_truncate, g.cstr("/etc/passwd"), 0) == EROFS
    assert g.call(fs.sys_fchmodat, A.AT_FDCWD, g.cstr("/etc/passwd"), 0o600) == EROFS
    assert g.call(fs.sys_fchownat, A.AT_FDCWD, g.cstr("/etc/passwd"), -1, -1, 0) == EROFS
    assert g.call(fs.sys_utimensat, A.AT_FDCWD, g.cstr("/etc/passwd"), 0, 0) == EROFS
    assert g.call(fs.sys_faccessat, A.AT_FDCWD, g.cstr("/etc/passwd"), 2, 0) == EROFS
    assert g.call(fs.sys_faccessat, A.AT_FDCWD, g.cstr("/etc/passwd"), 4, 0) == 0
    # Character devices without state pass through, writable.
    assert g.open("/dev/null", O_WRONLY) >= 0
    assert (g.root / "etc" / "passwd").read_bytes() == GUEST_PASSWD
    assert sorted(p.name for p in g.root.iterdir()) == sorted(
        ["bin", "etc", "dir", "tmp", "a", "abs_link", "etc_passwd_link", "escape_rel",
         "escape_abs", "escape_dir", "loop", "dangling", "proc_root", "host_fd", "dotdot"])


def _elftrace(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "emulator", *args], cwd=REPO, text=True,
                          capture_output=True, timeout=300, check=False,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO),
                               "TMPDIR": "/tmp"})


def test_end_to_end_a_go_program_inside_a_root(tmp_path: Path) -> None:
    root, _ = make_tree(tmp_path)
    ok = _elftrace("run", "--rootfs", str(root), "/bin/prog", "fileio")
    assert ok.returncode == 0, ok.stderr
    assert "fileio ok" in ok.stdout
    assert sorted(p.name for p in (root / "tmp").iterdir()) == []  # it cleaned up inside
    refused = _elftrace("run", "--rootfs", str(root), "--read-only", "/bin/prog", "fileio")
    assert refused.returncode == 1
    assert "read-only file system" in refused.stdout + refused.stderr
    missing = _elftrace("run", "--rootfs", str(root), str(GUEST_BINARY))
    assert missing.returncode == 126
    assert "inside the root" in missing.stderr

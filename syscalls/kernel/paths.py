"""Guest paths to host paths, and the parts of /proc that describe the guest itself.

The guest's root is the process's :class:`~syscalls.kernel.rootfs.HostRoot` policy (the
host's root, or a ``--rootfs`` directory); its working directory is a guest path kept
here, not in the host process, so ``chdir`` in the guest never moves elftrace. Under
/proc, the entries for the guest process (``/proc/self``, ``/proc/thread-self``,
``/proc/<guest pid>``) are rendered from the emulator's own state: /proc/self/exe names
the guest binary, /proc/self/maps lists the guest's mappings. Entries that describe the host process
faithfully for the guest too (cgroup membership, the mount table) are read from the
host; the rest are refused with ENOENT rather than describing the Python interpreter.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from syscalls.errno import Errno, SyscallError
from syscalls.kernel.rootfs import HostRoot, Lookup

if TYPE_CHECKING:
    from syscalls.kernel.files import File
    from syscalls.kernel.task import Process, Task

# Read from the host's /proc/self: they describe the cgroup and mount namespace the guest
# shares with elftrace (Go derives GOMAXPROCS from them).
HOST_PASSTHROUGH = frozenset({"cgroup", "mountinfo", "mounts", "limits", "oom_score_adj"})

DT_DIR = 4
DT_LNK = 10
PROC_FD_INODES = 0x10000
PROC_TASK_INODES = 0x20000
"""Inode numbers of the listed entries: any non-zero value (readdir skips inode 0)."""

_ANON_INODE_LINKS = {"eventfd": "anon_inode:[eventfd]", "epoll": "anon_inode:[eventpoll]"}


def fd_link(file: File) -> str:
    """What readlink of /proc/self/fd/N says: the path, or Linux's name for a file that
    has none (``socket:[INODE]``, ``anon_inode:[eventpoll]``)."""
    if file.path:
        return file.path
    if file.kind == "socket":
        return f"socket:[{file.stat().ino}]"
    return _ANON_INODE_LINKS.get(file.kind, "anon_inode:[?]")


@dataclass(frozen=True, slots=True)
class ProcEntry:
    """A virtual file (``content``) or symlink (``link``) under the guest's /proc/<pid>."""

    content: bytes | None = None
    link: str | None = None
    is_dir: bool = False
    entries: Callable[[], list[tuple[int, int, str]]] | None = None
    """For a directory the emulator lists itself (``fd``, ``task``): getdents64's
    (inode, d_type, name) records after ``.`` and ``..``, made when the guest reads them
    (a listing of /proc/self/fd includes the descriptor reading it)."""


def normalize(path: str) -> str:
    """Lexically clean an absolute path (no symlink resolution: that is the host's job)."""
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


class PathResolver:
    def __init__(self, process: Process) -> None:
        self.process = process

    def absolute(self, path: str, base: str | None = None) -> str:
        """The guest-absolute form of ``path`` relative to ``base`` (default: the cwd)."""
        if not path:
            raise SyscallError(Errno.ENOENT)
        if path.startswith("/"):
            return normalize(path)
        return normalize(posixpath.join(base or self.process.cwd, path))

    @property
    def root(self) -> HostRoot:
        return self.process.root

    def host(self, guest_abs: str, lookup: Lookup = Lookup.FOLLOW) -> str:
        """A host path naming what a guest-absolute path names; with NOFOLLOW the host
        call must not follow a final symlink either, with FOLLOW it must."""
        return self.process.root.host(guest_abs, lookup)

    def proc_target(self, guest_abs: str, task: Task) -> tuple[str, str] | None:
        """For a path naming the guest's own /proc entries: (``self`` or ``task``, rest)."""
        if not guest_abs.startswith("/proc/"):
            return None
        parts = guest_abs.split("/", 4)  # ['', 'proc', who, rest...]
        who = parts[2]
        rest = "/".join(parts[3:]) if len(parts) > 3 else ""
        pid = self.process.pid
        if who in ("self", str(pid)):
            return "self", rest
        if who == "thread-self":
            return "task", rest
        if who.isdigit() and int(who) in self.process.tasks and int(who) != pid:
            return "task", rest
        return None

    def proc_entry(self, scope: str, rest: str, task: Task, word_size: int) -> ProcEntry:
        p = self.process
        if rest == "":
            return ProcEntry(is_dir=True)
        if rest == "exe":
            return ProcEntry(link=p.exe)
        if rest == "cwd":
            return ProcEntry(link=p.cwd)
        if rest == "root":
            return ProcEntry(link="/")
        if rest == "maps":
            return ProcEntry(content=p.vm.render_maps(word_size).encode())
        if rest == "cmdline":
            return ProcEntry(content=b"".join(a + b"\0" for a in p.argv))
        if rest == "environ":
            return ProcEntry(content=b"".join(e + b"\0" for e in p.envp))
        if rest == "auxv":
            return ProcEntry(content=p.auxv)
        if rest == "comm":
            return ProcEntry(content=(task.comm or p.comm).encode()[:15] + b"\n")
        if rest == "status":
            return ProcEntry(content=self._status(task).encode())
        if rest == "stat":
            return ProcEntry(content=self._stat(task).encode())
        if rest == "fd":
            # The guest's descriptors, never elftrace's own (its epoll, pipes, Python's).
            return ProcEntry(is_dir=True, entries=lambda: [
                (PROC_FD_INODES + fd, DT_LNK, str(fd)) for fd in sorted(p.fds.entries)])
        if rest == "task":
            return ProcEntry(is_dir=True, entries=lambda: [
                (PROC_TASK_INODES + t.tid, DT_DIR, str(t.tid)) for t in p.live_tasks()])
        if rest.startswith("fd/"):
            num = rest[3:]
            if num.isdigit() and int(num) in p.fds.entries:
                return ProcEntry(link=fd_link(p.fds.entries[int(num)].file))
            raise SyscallError(Errno.ENOENT)
        passthrough = HOST_PASSTHROUGH if p.proc_passthrough is None else p.proc_passthrough
        if rest in passthrough:
            try:
                with open(f"/proc/self/{rest}", "rb") as f:
                    return ProcEntry(content=f.read())
            except OSError:
                raise SyscallError(Errno.ENOENT) from None
        raise SyscallError(Errno.ENOENT)

    def _status(self, task: Task) -> str:
        p = self.process
        c = p.creds
        threads = len(p.live_tasks())
        return (f"Name:\t{(task.comm or p.comm)[:15]}\nUmask:\t{p.umask:04o}\nState:\tR (running)\n"
                f"Tgid:\t{p.pid}\nNgid:\t0\nPid:\t{task.tid}\nPPid:\t{p.ppid}\nTracerPid:\t0\n"
                f"Uid:\t{c.uid}\t{c.euid}\t{c.euid}\t{c.euid}\n"
                f"Gid:\t{c.gid}\t{c.egid}\t{c.egid}\t{c.egid}\n"
                f"Threads:\t{threads}\nSigQ:\t0/63432\n"
                f"SigBlk:\t{task.sigmask:016x}\n")

    def _stat(self, task: Task) -> str:
        p = self.process
        name = (task.comm or p.comm)[:15]
        fields = ["R", str(p.ppid), str(p.pgid or p.pid), str(p.sid or p.pid)] + ["0"] * 15
        fields[15] = str(len(p.live_tasks()))
        return f"{task.tid} ({name}) " + " ".join(fields) + "\n"


class SysrootPaths(HostRoot):
    """qemu-user's ``-L DIR`` policy: a guest path names the file inside the sysroot when
    one exists there, else the host's own file (so /dev, /proc and /tmp keep working).
    Lenient by design: it lets a cross-built program find its ld.so and libraries
    while it runs on the host's files otherwise. Not a confinement (that is
    ``--rootfs``)."""

    def __init__(self, sysroot: str, *, read_only: bool = False) -> None:
        super().__init__(read_only=read_only)
        self.sysroot = sysroot

    def host(self, guest_abs: str, lookup: Lookup = Lookup.FOLLOW) -> str:
        if self.sysroot in ("", "/"):
            return guest_abs
        candidate = os.path.join(self.sysroot, guest_abs.lstrip("/"))
        return candidate if os.path.lexists(candidate) else guest_abs

    def open(self, guest_abs: str, host_flags: int, mode: int) -> int:
        return os.open(self.host(guest_abs), host_flags, mode)


def is_dir_host(path: str) -> bool:
    try:
        return os.path.isdir(path)
    except OSError:
        return False

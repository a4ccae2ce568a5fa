"""Process file descriptors (kernel/pid.c, fs/pidfs.c): a file that names a process or,
with PIDFD_THREAD, one of its threads.

A pidfd names the guest itself, one of its threads, or (from CLONE_PIDFD) a vfork
child, exec'd or not. It is readable when what it names has exited, as Linux's pidfd_poll() reports:
a thread-group pidfd when the whole group is gone (never seen from inside), a thread
pidfd when that thread exits (with EPOLLHUP too once a non-leader thread is released;
an exited leader stays a zombie until the group ends).
"""

from __future__ import annotations

from syscalls.abi import O_EXCL, O_NONBLOCK, O_RDWR
from syscalls.kernel.files import EPOLLHUP, EPOLLIN, EPOLLRDNORM, File, StatResult
from syscalls.kernel.task import Process, Task, TaskState

PIDFD_NONBLOCK = O_NONBLOCK
PIDFD_THREAD = O_EXCL
"""Linux 6.9: the pidfd names a thread, not its thread group (O_EXCL's value)."""

PIDFS_DEV = 0x5
"""st_dev of pidfs (Linux >= 6.9), measured on the oracle host."""


class PidFd(File):
    """An open pidfd: what pidfd_open(2) (or CLONE_PIDFD) returns."""

    kind = "pidfd"

    def __init__(self, process: Process, tid: int, flags: int, ino: int) -> None:
        super().__init__(O_RDWR | (flags & (PIDFD_NONBLOCK | PIDFD_THREAD)),
                         "anon_inode:[pidfd]")
        self.process = process
        self.pid = tid
        """The pid this file names: the thread group id, or a thread id with PIDFD_THREAD."""
        self.ino = ino
        self._task = process.tasks.get(tid)
        if self._task is not None:
            self._task.exit_queue.listeners.append(self._target_exited)

    @property
    def thread(self) -> bool:
        return bool(self.flags & PIDFD_THREAD)

    @property
    def is_leader(self) -> bool:
        return self.pid == self.process.pid

    def task(self) -> Task | None:
        """The named thread (for a thread group: its leader) while it can be signalled.

        An exited leader of a live group is a zombie Linux still signals through."""
        if self.process.exit_status is not None:
            return None
        task = self._task
        if task is None:
            return None
        if task.state is TaskState.EXITED and not self.is_leader:
            return None
        return task

    def poll(self) -> int:
        if self.process.exit_status is not None:
            return EPOLLIN | EPOLLRDNORM | EPOLLHUP
        task = self._task
        if self.thread and task is not None and task.state is TaskState.EXITED:
            return EPOLLIN | EPOLLRDNORM | (0 if self.is_leader else EPOLLHUP)
        return 0

    def _target_exited(self) -> None:
        self.changed(writable=False)

    def stat(self) -> StatResult:
        # pidfs inodes carry only permission bits (no file type), owned by the process's user.
        creds = self.process.creds
        return StatResult(PIDFS_DEV, self.ino, 0o700, 1, creds.euid, creds.egid, 0, 0, 4096,
                          0, 0, 0, 0)

    def release(self) -> None:
        if self._task is not None:
            listeners = self._task.exit_queue.listeners
            if self._target_exited in listeners:
                listeners.remove(self._target_exited)


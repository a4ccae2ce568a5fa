"""Threads and the process they belong to.

A :class:`Task` is a guest thread (Linux's task_struct for a CLONE_THREAD child): its
tid, signal mask, queued signals, alternate stack, the clear_child_tid word, what it is
blocked on, and an opaque slot where the emulator keeps its saved CPU state. A
:class:`Process` is the thread group: address space, fd table, signal actions, ids.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from syscalls.kernel.rootfs import HostRoot
from syscalls.kernel.signals import NSIG, AltStack, PendingSignals, SigAction, bit
from syscalls.kernel.wait import WaitQueue

if TYPE_CHECKING:
    from syscalls.kernel.files import FdTable
    from syscalls.kernel.vm import AddressSpace
    from syscalls.kernel.wait import Block


class TaskState(Enum):
    RUNNABLE = "runnable"
    BLOCKED = "blocked"
    EXITED = "exited"


@dataclass(slots=True)
class PendingSyscall:
    """A call that blocked: enough to finish it later, restart it, or trace its resumption."""

    number: int
    name: str
    args: tuple[int, ...]
    block: Block
    spec: Any
    result: int | None = None
    """Set when the call finished while the task was parked, to be written on resume."""
    reason: Any = None
    """Why the thread was woken (a WakeReason), read when it next runs."""


@dataclass(slots=True, eq=False)
class Task:
    tid: int
    process: Process
    state: TaskState = TaskState.RUNNABLE
    sigmask: int = 0
    pending: PendingSignals = field(default_factory=PendingSignals)
    altstack: AltStack = field(default_factory=AltStack)
    clear_child_tid: int = 0
    robust_list: tuple[int, int] = (0, 0)
    blocked: PendingSyscall | None = None
    cpu_state: Any = None
    """Opaque to the kernel model: the emulator's saved registers for this thread."""
    first_run: dict[str, int] | None = None
    """Registers to set the first time a cloned thread runs (pc, sp, return value, tls)."""
    comm: str = ""
    exit_code: int = 0
    saved_sigmask: int | None = None
    """A mask to restore after the next signal delivery (ppoll, pselect, sigsuspend)."""
    exit_queue: WaitQueue = field(default_factory=WaitQueue)
    """Notified when the thread exits (pidfds naming it become readable)."""
    cpu_ns: int = 0
    """CPU time this thread has used (CLOCK_THREAD_CPUTIME_ID), charged per time slice."""

    def deliverable(self) -> int:
        """Bits of signals pending on this thread or its process and not blocked here."""
        return (self.pending.mask | self.process.pending.mask) & ~self.sigmask

    def __repr__(self) -> str:
        return f"Task({self.tid}, {self.state.value})"


@dataclass(slots=True)
class Credentials:
    uid: int = field(default_factory=os.getuid)
    gid: int = field(default_factory=os.getgid)
    euid: int = field(default_factory=os.geteuid)
    egid: int = field(default_factory=os.getegid)


@dataclass(slots=True, eq=False)
class Process:
    pid: int
    ppid: int
    vm: AddressSpace
    fds: FdTable
    exe: str
    """The guest path of the executable (/proc/self/exe)."""
    host_exe: str
    argv: list[bytes]
    envp: list[bytes]
    cwd: str
    creds: Credentials = field(default_factory=Credentials)
    tasks: dict[int, Task] = field(default_factory=dict)
    actions: list[SigAction] = field(default_factory=lambda: [SigAction() for _ in range(NSIG + 1)])
    pending: PendingSignals = field(default_factory=PendingSignals)
    rlimits: dict[int, tuple[int, int]] = field(default_factory=dict)
    umask: int = 0o022
    exit_status: int | None = None
    """Wait status once the whole group has exited: ``code << 8`` or the killing signal."""
    auxv: bytes = b""
    comm: str = ""
    pgid: int = 0
    sid: int = 0
    proc_passthrough: frozenset[str] | None = None
    """/proc/self entries read from the host (None: paths.HOST_PASSTHROUGH); deterministic
    runs read none, so nothing host-specific reaches the guest through them."""
    root: HostRoot = field(default_factory=HostRoot)
    """Where guest paths land on the host (``--rootfs``, ``--read-only``, ``--sysroot``)."""
    parent: Process | None = None
    """The process whose vfork-style clone made this one (None for the program itself)."""
    children: list[Process] = field(default_factory=list)
    """Children not yet reaped by wait4/waitid, zombies included."""
    exit_signal: int = 0
    """What this process's exit sends its parent: clone's CSIGNAL byte (SIGCHLD, or 0)."""
    vfork_done: WaitQueue = field(default_factory=WaitQueue)
    """Notified when this vfork child exits, which resumes its parent's clone."""
    child_events: WaitQueue = field(default_factory=WaitQueue)
    """Notified when a child of this process exits (wait4 and waitid wait here)."""
    host_pid: int | None = None
    """The host process that is this child (under its own elftrace) after it exec'd or, for
    a forked child, from the start: its end is this process's end."""

    def action(self, signo: int) -> SigAction:
        return self.actions[signo]

    def live_tasks(self) -> list[Task]:
        from syscalls.kernel.task import TaskState

        return [t for t in self.tasks.values() if t.state is not TaskState.EXITED]

    def ignores(self, signo: int) -> bool:
        from syscalls.kernel.signals import Default, default_action

        act = self.actions[signo]
        if act.is_ignore:
            return True
        return act.is_default and default_action(signo) in (Default.IGNORE, Default.CONT)

    def blocked_everywhere(self, signo: int) -> bool:
        return all(t.sigmask & bit(signo) for t in self.live_tasks())

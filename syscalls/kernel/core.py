"""The kernel model's root: one emulated process and the services its threads share.

Signal generation lives here because it touches several threads at once: sending a
signal queues it, and if the target (or, for a process-directed signal, some thread
not blocking it) is parked in a syscall, takes it off its wait so the run loop can
deliver the signal (Linux's signal_wake_up). Thread and process exit live here for
the same reason.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from syscalls.kernel.files import FdTable
from syscalls.kernel.futex import FutexTable
from syscalls.kernel.sched import Scheduler
from syscalls.kernel.signals import (
    CLD_DUMPED,
    CLD_EXITED,
    CLD_KILLED,
    SIG_DFL,
    UNBLOCKABLE,
    Default,
    PendingSignals,
    Sig,
    SigInfo,
    bit,
    default_action,
)
from syscalls.kernel.task import Process, Task, TaskState
from syscalls.kernel.timers import Timers
from syscalls.kernel.wait import WaitQueue

if TYPE_CHECKING:
    from syscalls.abi import LinuxAbi
    from syscalls.context import SyscallContext
    from syscalls.kernel.clock import Clock
    from syscalls.kernel.memory import GuestMemory


def _host_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except OSError:
        return 1


MAX_THREADS = 10000
"""Threads one guest process may have: each costs a saved CPU context in elftrace."""


def _thread_limit() -> int:
    """MAX_THREADS, or RLIMIT_NPROC when lower. Linux counts every task of the user
    against RLIMIT_NPROC (and ignores it for root); here it bounds the guest's threads."""
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NPROC)
    if soft == resource.RLIM_INFINITY or os.geteuid() == 0:
        return MAX_THREADS
    return max(1, min(MAX_THREADS, soft))


def _host_uname() -> tuple[str, str, str]:
    u = os.uname()
    return u.nodename, u.release, u.version


@dataclass(slots=True)
class KernelOptions:
    """What the emulated kernel reports about the machine: by default the host's."""

    hostname: str = field(default_factory=lambda: _host_uname()[0])
    release: str = field(default_factory=lambda: _host_uname()[1])
    version: str = field(default_factory=lambda: _host_uname()[2])
    ncpus: int = field(default_factory=_host_cpus)
    max_threads: int = field(default_factory=_thread_limit)
    cpumask_bytes: int = 0
    """What sched_getaffinity returns (the kernel's cpumask size); 0: one word per 64 CPUs."""
    deterministic: bool = False
    seed: int = 0
    """With ``deterministic``: the seed of AT_RANDOM and getrandom's bytes."""
    network: bool = True
    """False (--no-network): sockets of every family but AF_UNIX are refused (EACCES)."""


class Kernel:
    def __init__(self, abi: LinuxAbi, mem: GuestMemory, clock: Clock,
                 options: KernelOptions | None = None) -> None:
        self.abi = abi
        self.mem = mem
        self.clock = clock
        self.options = options or KernelOptions()
        self.scheduler = Scheduler(clock)
        self.timers = Timers(self)
        self.scheduler.alarms = self.timers
        self.futexes = FutexTable()
        self.process: Process | None = None
        self._tids: itertools.count[int] = itertools.count(1)
        self._inodes = itertools.count(4026531840 + 1000)
        self.exit_group_requested = False
        self.host_children: dict[int, Process] = {}
        """Exec'd children by host pid, until the host process ends (reap_host_children)."""
        self.exec_program: Callable[..., int] | None = None
        """Starts an exec'd program on the host and returns its pid (the emulator's
        spawn_exec); None: execve of another program is ENOSYS."""
        self.fork_process: Callable[[SyscallContext], int] | None = None
        """Forks elftrace itself (the emulator's): the child's pid in the parent, 0 in the
        child, whose model is then its own process; None: fork is ENOSYS."""
        self.exec_in_place: Callable[..., None] | None = None
        """Replaces the program elftrace runs by another once the current call has
        returned to the run loop (the emulator's); None: such an execve is ENOSYS."""
        self._random = random.Random(self.options.seed) if self.options.deterministic else None

    def random_bytes(self, count: int) -> bytes:
        """AT_RANDOM and getrandom(2): the host's entropy, or a fixed stream when deterministic."""
        if self._random is not None:
            return self._random.randbytes(count)
        return os.urandom(count)

    def thread_created(self, parent: Task, child: Task) -> None:
        """Called after clone created ``child``; the emulator observes it."""

    def host_child_ended(self, process: Process, status: int) -> None:
        """Called when an exec'd child's host process ended; the emulator observes it."""

    def attach_process(self, process: Process) -> None:
        self.process = process
        self._tids = itertools.count(process.pid + 1)

    @property
    def proc(self) -> Process:
        assert self.process is not None
        return self.process

    def new_tid(self) -> int:
        return next(self._tids)

    def new_inode(self) -> int:
        return next(self._inodes)

    def task(self, tid: int) -> Task | None:
        task = self.proc.tasks.get(tid)
        if task is None or task.state is TaskState.EXITED:
            return None
        return task

    # Signals -----------------------------------------------------------------------------

    def signal_task(self, task: Task, info: SigInfo) -> None:
        """tgkill/tkill and synchronous signals: queue on one thread."""
        process = task.process
        if self._discard_at_send(process, task.sigmask, info.signo):
            return
        if task.pending.add(info):
            self._wake_for_signal(task, info.signo)

    def signal_process(self, info: SigInfo, prefer: Task | None = None,
                       process: Process | None = None) -> None:
        """kill(2): queue on the process; some thread that does not block it will take it,
        ``prefer`` first (the running thread, as Linux's complete_signal chooses)."""
        process = process or self.proc
        if process.host_pid is not None:
            # An exec'd child: its program runs on the host, under its own elftrace.
            if process.exit_status is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.host_pid, info.signo)
            return
        live = process.live_tasks()
        if not live:
            return
        if info.signo == Sig.SIGKILL:
            self.kill_group(Sig.SIGKILL, process=process)
            return
        if self._discard_at_send(process, 0, info.signo) and not process.blocked_everywhere(
                info.signo):
            return
        if not process.pending.add(info):
            return
        if prefer is not None and prefer.state is not TaskState.EXITED:
            live = [prefer, *live]
        for task in live:
            if not task.sigmask & bit(info.signo):
                self._wake_for_signal(task, info.signo)
                break

    def force_signal(self, task: Task, info: SigInfo) -> None:
        """A fault the CPU raised: it cannot be blocked or ignored (force_sig_info_to_task)."""
        process = task.process
        action = process.action(info.signo)
        blocked = task.sigmask & bit(info.signo)
        if action.is_ignore or blocked:
            action.handler = SIG_DFL
            task.sigmask &= ~bit(info.signo)
        task.pending.add(info)

    def _discard_at_send(self, process: Process, mask: int, signo: int) -> bool:
        """Linux drops a signal at send time if it is ignored and not blocked."""
        return process.ignores(signo) and not mask & bit(signo)

    def _wake_for_signal(self, task: Task, signo: int) -> None:
        if task.sigmask & bit(signo) and not bit(signo) & UNBLOCKABLE:
            return
        self.scheduler.interrupt(task)

    # Exit --------------------------------------------------------------------------------

    def exit_thread(self, task: Task, code: int) -> None:
        """exit(2) of one thread: CLONE_CHILD_CLEARTID, then the group ends with its last one."""
        task.exit_code = code
        self._retire(task)
        if task.clear_child_tid:
            try:
                self.mem.write_u32(task.clear_child_tid, 0)
                self.futexes.wake(task.clear_child_tid, 1)
            except Exception:
                pass
        process = task.process
        if not process.live_tasks() and process.exit_status is None:
            self._process_ended(process, (code & 0xFF) << 8)

    def exit_group(self, code: int, process: Process | None = None) -> None:
        self._end_group(process or self.proc, (code & 0xFF) << 8)

    def kill_group(self, signo: int, core: bool = False, process: Process | None = None) -> None:
        """The process dies of a signal (a default action of term or core)."""
        self._end_group(process or self.proc, signo | (0x80 if core else 0))

    def _end_group(self, process: Process, status: int) -> None:
        for task in process.live_tasks():
            task.exit_code = (status >> 8) & 0xFF
            self._retire(task)
        self._process_ended(process, status)

    def _process_ended(self, process: Process, status: int) -> None:
        """The last thread of ``process`` is gone: the program ends, or a child becomes a
        zombie its parent is told about (vfork completion, SIGCHLD, wait4)."""
        if process.exit_status is None:
            process.exit_status = status
        parent = process.parent
        if parent is None:
            self.exit_group_requested = True
            return
        if process.fds is not parent.fds:
            process.fds.close_all()
        process.vfork_done.notify_all()
        parent.child_events.notify_all()
        if process.exit_signal and parent.exit_status is None:
            exited = not status & 0x7F
            code = (CLD_EXITED if exited else CLD_DUMPED if status & 0x80 else CLD_KILLED)
            self.signal_process(SigInfo(process.exit_signal, code, pid=process.pid,
                                        uid=process.creds.uid,
                                        status=status >> 8 if exited else status & 0x7F),
                                process=parent)

    # Programs exec'd on the host -----------------------------------------------------------

    def adopt_host_child(self, process: Process, host_pid: int) -> None:
        """The vfork child ``process`` has exec'd: host process ``host_pid`` runs its new
        program. Its thread is gone and its parent resumes; the process itself lives on
        (signals go to the host process) until reap_host_children sees that end."""
        process.host_pid = host_pid
        self.host_children[host_pid] = process
        for task in process.live_tasks():
            task.exit_code = 0
            self.scheduler.remove(task)
            task.state = TaskState.EXITED
            task.blocked = None
        parent = process.parent
        if parent is None or process.fds is not parent.fds:
            process.fds.close_all()
        process.vfork_done.notify_all()

    def adopt_forked(self, parent: Process, host_pid: int, exit_signal: int) -> Process:
        """The model's view of a child forked on the host: a process with no threads here,
        standing for host process ``host_pid`` (as an exec'd vfork child does)."""
        child = dataclasses.replace(
            parent, pid=host_pid, ppid=parent.pid, tasks={}, children=[], parent=parent,
            exit_signal=exit_signal, exit_status=None, fds=FdTable(), host_pid=host_pid,
            pending=PendingSignals(), vfork_done=WaitQueue(), child_events=WaitQueue())
        parent.children.append(child)
        self.host_children[host_pid] = child
        return child

    def become_forked_child(self, task: Task, pid: int) -> None:
        """In a forked child: the model is this process now, ``task`` (renumbered ``pid``)
        its one thread, with no children and nothing pending (kernel/fork.c)."""
        process = task.process
        for other in list(process.tasks.values()):
            if other is not task:
                self.scheduler.remove(other)
                other.state = TaskState.EXITED
                other.blocked = None
        process.ppid, process.pid = process.pid, pid
        task.tid = pid
        process.tasks = {pid: task}
        process.children = []
        process.pending = PendingSignals()
        task.pending = PendingSignals()
        self.host_children = {}
        self._tids = itertools.count(pid + 1)

    def reap_host_children(self) -> None:
        """Take in the ends of exec'd children's host processes (after a host SIGCHLD):
        each becomes a zombie its parent is told about, as a model child's exit does."""
        for host_pid, process in list(self.host_children.items()):
            try:
                pid, status = os.waitpid(host_pid, os.WNOHANG)
            except ChildProcessError:
                pid, status = host_pid, 0
            if pid == 0:
                continue
            del self.host_children[host_pid]
            status &= 0xFFFF  # a host wait status is a Linux one
            self._process_ended(process, status)
            self.host_child_ended(process, status)
            for task in process.tasks.values():
                if task.exit_queue.listeners:
                    task.exit_queue.notify_all()  # its pidfds turn readable

    def _retire(self, task: Task) -> None:
        self.scheduler.remove(task)
        task.state = TaskState.EXITED
        task.blocked = None
        if task.exit_queue.listeners:
            task.exit_queue.notify_all()

    def default_is_fatal(self, signo: int) -> tuple[bool, bool]:
        """(kills the process, dumps core) for a signal taking its default action."""
        action = default_action(signo)
        return action in (Default.TERM, Default.CORE), action is Default.CORE

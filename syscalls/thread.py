"""Threads and child processes: clone, fork, vfork, set_tid_address, robust lists, rseq,
membarrier.

A clone that shares the address space, files and signal handlers (CLONE_VM |
CLONE_THREAD | CLONE_SIGHAND, what pthread_create and Go's newosproc pass) creates a
guest thread that the emulator time-slices. A vfork-style clone (CLONE_VM |
CLONE_VFORK, what Go's os/exec, its pidfd probe and glibc's posix_spawn pass) creates a
child process sharing the address space: its parent's clone waits until the child has
exited or exec'd, and wait4/waitid reap it. A fork (a copy of the address space) forks
elftrace itself: the child goes on in a host process of its own (the emulator's
fork_process), for which the parent's model keeps a stand-in process.
"""

from __future__ import annotations

import dataclasses
import struct

from syscalls import abi as A
from syscalls.context import SyscallContext
from syscalls.errno import Errno, SyscallError
from syscalls.kernel.pidfd import PidFd
from syscalls.kernel.task import Process, Task
from syscalls.kernel.wait import Block, WakeReason
from syscalls.spec import (
    PROCESS,
    Flags,
    Hex,
    Int,
    Ptr,
    Size,
    Support,
    UInt,
    spec,
)

THREAD_FLAGS = A.CLONE_VM | A.CLONE_THREAD | A.CLONE_SIGHAND
SUPPORTED = (THREAD_FLAGS | A.CLONE_FS | A.CLONE_FILES | A.CLONE_SYSVSEM | A.CLONE_SETTLS
             | A.CLONE_PARENT_SETTID | A.CLONE_CHILD_CLEARTID | A.CLONE_CHILD_SETTID
             | 0x00400000 | 0x00800000)  # CLONE_DETACHED, CLONE_UNTRACED: ignored by Linux


CLONE_PIDFD = 0x00001000
SIGCHLD = 17
VFORK_FLAGS = A.CLONE_VM | A.CLONE_VFORK
CHILD_SUPPORTED = (VFORK_FLAGS | A.CLONE_FILES | A.CLONE_SIGHAND | A.CLONE_SYSVSEM
                   | A.CLONE_SETTLS | A.CLONE_PARENT_SETTID | A.CLONE_CHILD_SETTID
                   | A.CLONE_CHILD_CLEARTID | CLONE_PIDFD | 0x00400000 | 0x00800000)


def sys_clone(ctx: SyscallContext, flags: int, stack: int, ptid: int, arg4: int,
              arg5: int) -> int | Block:
    ctid, tls = (arg5, arg4) if ctx.abi.clone_tls_before_ctid else (arg4, arg5)
    flags &= 0xFFFFFFFFFFFFFFFF
    if flags & CLONE_PIDFD and flags & A.CLONE_PARENT_SETTID:
        raise SyscallError(Errno.EINVAL)  # clone() returns the pidfd where the tid would go
    return _clone(ctx, flags & ~A.CSIGNAL, flags & A.CSIGNAL, stack, ptid, ctid, tls,
                  pidfd_at=ptid)


CLONE_ARGS_SIZE_VER0 = 64
CLONE_ARGS_FIELDS = ("flags", "pidfd", "child_tid", "parent_tid", "exit_signal", "stack",
                     "stack_size", "tls", "set_tid", "set_tid_size", "cgroup")


def sys_clone3(ctx: SyscallContext, args: int, size: int) -> int | Block:
    """clone3(2): struct clone_args, as kernel/fork.c's copy_clone_args_from_user reads it."""
    if size < CLONE_ARGS_SIZE_VER0:
        raise SyscallError(Errno.EINVAL)
    if size > 4096:
        raise SyscallError(Errno.E2BIG)
    raw = ctx.mem.read(args, size)
    known = len(CLONE_ARGS_FIELDS) * 8
    if any(raw[known:]):
        raise SyscallError(Errno.E2BIG)
    raw = raw[:known].ljust(known, b"\0")
    f = dict(zip(CLONE_ARGS_FIELDS, struct.unpack(f"<{len(CLONE_ARGS_FIELDS)}Q", raw),
                 strict=True))
    flags, exit_signal = f["flags"], f["exit_signal"]
    if flags & A.CSIGNAL or exit_signal > 64 or (exit_signal and flags & A.CLONE_THREAD):
        raise SyscallError(Errno.EINVAL)
    if bool(f["stack"]) != bool(f["stack_size"]):
        raise SyscallError(Errno.EINVAL)
    if f["set_tid_size"] or f["set_tid"]:
        raise SyscallError(Errno.EPERM if f["set_tid_size"] else Errno.EINVAL)
    if flags & CLONE_INTO_CGROUP:
        raise SyscallError(Errno.EINVAL, "CLONE_INTO_CGROUP is not supported")
    sp = f["stack"] + f["stack_size"] if f["stack"] else 0
    return _clone(ctx, flags, exit_signal, sp, f["parent_tid"], f["child_tid"], f["tls"],
                  pidfd_at=f["pidfd"])


CLONE_INTO_CGROUP = 0x200000000


def _clone(ctx: SyscallContext, flags: int, exit_signal: int, stack: int, ptid: int,
           ctid: int, tls: int, *, pidfd_at: int) -> int | Block:
    """What clone and clone3 share: a new thread, or a new vfork child process."""
    if flags & A.CLONE_THREAD and not flags & A.CLONE_SIGHAND:
        raise SyscallError(Errno.EINVAL)
    if flags & A.CLONE_SIGHAND and not flags & A.CLONE_VM:
        raise SyscallError(Errno.EINVAL)
    if flags & CLONE_PIDFD and flags & A.CLONE_THREAD:
        raise SyscallError(Errno.EINVAL)
    if len(ctx.process.live_tasks()) >= ctx.kernel.options.max_threads:
        raise SyscallError(Errno.EAGAIN,
                           f"thread limit ({ctx.kernel.options.max_threads}) reached")
    if flags & THREAD_FLAGS != THREAD_FLAGS:
        if flags & VFORK_FLAGS == VFORK_FLAGS and not flags & A.CLONE_THREAD:
            return _vfork_child(ctx, flags, exit_signal, stack, ptid, ctid, tls, pidfd_at)
        if not flags & ~FORK_SUPPORTED and not stack:
            return _fork(ctx, flags, exit_signal, ptid, ctid)
        raise SyscallError(Errno.ENOSYS, f"clone flags {flags:#x} for a new process with its "
                                         "own memory are not supported")
    if flags & ~SUPPORTED:
        raise SyscallError(Errno.EINVAL, f"clone flags {flags & ~SUPPORTED:#x} not supported")
    kernel = ctx.kernel
    child = Task(kernel.new_tid(), ctx.process, sigmask=ctx.task.sigmask,
                 comm=ctx.task.comm)
    if flags & A.CLONE_PARENT_SETTID:
        ctx.mem.write_u32(ptid, child.tid)
    if flags & A.CLONE_CHILD_SETTID:
        ctx.mem.write_u32(ctid, child.tid)
    if flags & A.CLONE_CHILD_CLEARTID:
        child.clear_child_tid = ctid
    ctx.cpu.clone_thread(child, stack, tls if flags & A.CLONE_SETTLS else None)
    ctx.process.tasks[child.tid] = child
    kernel.scheduler.add(child)
    kernel.thread_created(ctx.task, child)
    return child.tid


FORK_SUPPORTED = A.CLONE_PARENT_SETTID | A.CLONE_CHILD_SETTID | A.CLONE_CHILD_CLEARTID


def _fork(ctx: SyscallContext, flags: int, exit_signal: int, ptid: int, ctid: int) -> int:
    """A child process with a copy of the caller's memory: elftrace forks itself (the
    emulator's fork_process), so the child runs on in a host process of its own, which the
    parent's model then stands for as for an exec'd child (kernel.adopt_forked)."""
    kernel = ctx.kernel
    if kernel.fork_process is None:
        raise SyscallError(Errno.ENOSYS, "fork is not supported here")
    parent = ctx.process
    pid = kernel.fork_process(ctx)
    if pid == 0:
        if flags & A.CLONE_CHILD_SETTID:
            ctx.mem.write_u32(ctid, ctx.task.tid)
        if flags & A.CLONE_CHILD_CLEARTID:
            ctx.task.clear_child_tid = ctid
        return 0
    kernel.adopt_forked(parent, pid, exit_signal)
    if flags & A.CLONE_PARENT_SETTID:
        ctx.mem.write_u32(ptid, pid)
    return pid


def _vfork_child(ctx: SyscallContext, flags: int, exit_signal: int, stack: int, ptid: int,
                 ctid: int, tls: int, pidfd_at: int) -> Block:
    """A child process sharing the parent's memory; the calling thread waits until it ends.

    What the child may do is what a vfork child does: system calls on its own copy of the
    fd table and signal actions, then _exit or execve (the new program then runs as a host
    process: see process.sys_execve)."""
    if flags & ~CHILD_SUPPORTED:
        raise SyscallError(Errno.ENOSYS, f"clone flags {flags & ~CHILD_SUPPORTED:#x} for a new "
                                         "process are not supported")
    kernel = ctx.kernel
    parent = ctx.process
    pid = kernel.new_tid()
    fds = parent.fds if flags & A.CLONE_FILES else parent.fds.fork()
    actions = (parent.actions if flags & A.CLONE_SIGHAND
               else [dataclasses.replace(a) for a in parent.actions])
    child = Process(pid=pid, ppid=parent.pid, vm=parent.vm, fds=fds, exe=parent.exe,
                    host_exe=parent.host_exe, argv=parent.argv, envp=parent.envp,
                    cwd=parent.cwd, creds=dataclasses.replace(parent.creds), actions=actions,
                    rlimits=dict(parent.rlimits), umask=parent.umask, auxv=parent.auxv,
                    comm=parent.comm, pgid=parent.pgid, sid=parent.sid,
                    proc_passthrough=parent.proc_passthrough, root=parent.root,
                    parent=parent, exit_signal=exit_signal)
    task = Task(pid, child, sigmask=ctx.task.sigmask, comm=ctx.task.comm,
                altstack=dataclasses.replace(ctx.task.altstack))
    child.tasks[pid] = task
    if flags & CLONE_PIDFD:
        pidfd = PidFd(child, pid, 0, kernel.new_inode())
        ctx.mem.write_u32(pidfd_at, ctx.fds.install(pidfd, cloexec=True))
    if flags & A.CLONE_PARENT_SETTID:
        ctx.mem.write_u32(ptid, pid)
    if flags & A.CLONE_CHILD_SETTID:
        ctx.mem.write_u32(ctid, pid)
    if flags & A.CLONE_CHILD_CLEARTID:
        task.clear_child_tid = ctid
    ctx.cpu.clone_thread(task, stack, tls if flags & A.CLONE_SETTLS else None)
    parent.children.append(child)
    kernel.scheduler.add(task)
    kernel.thread_created(ctx.task, task)

    def child_done(reason: WakeReason) -> int | Block:
        if child.exit_status is None and child.host_pid is None:  # exited or exec'd
            return Block(child_done, queues=(child.vfork_done,), interruptible=False)
        return pid

    return child_done(WakeReason.NOTIFIED)


def sys_vfork(ctx: SyscallContext) -> int | Block:
    """vfork(2) is clone(CLONE_VM | CLONE_VFORK | SIGCHLD) on the caller's stack."""
    return _clone(ctx, VFORK_FLAGS, SIGCHLD, 0, 0, 0, 0, pidfd_at=0)


def sys_fork(ctx: SyscallContext) -> int:
    return _fork(ctx, 0, SIGCHLD, 0, 0)


def sys_set_tid_address(ctx: SyscallContext, tidptr: int) -> int:
    ctx.task.clear_child_tid = tidptr
    return ctx.task.tid


def sys_set_robust_list(ctx: SyscallContext, head: int, length: int) -> int:
    expected = 3 * ctx.abi.word_size
    if length != expected:
        raise SyscallError(Errno.EINVAL)
    ctx.task.robust_list = (head, length)
    return 0


def sys_get_robust_list(ctx: SyscallContext, pid: int, head_ptr: int, len_ptr: int) -> int:
    task = ctx.task if pid == 0 else ctx.kernel.task(pid)
    if task is None:
        raise SyscallError(Errno.ESRCH)
    ctx.mem.write_word(head_ptr, task.robust_list[0])
    ctx.mem.write_word(len_ptr, task.robust_list[1] or 3 * ctx.abi.word_size)
    return 0


def sys_rseq(ctx: SyscallContext, rseq: int, length: int, flags: int, sig: int) -> int:
    raise SyscallError(Errno.ENOSYS, "restartable sequences are not supported")


MEMBARRIER_CMD_QUERY = 0


def sys_membarrier(ctx: SyscallContext, cmd: int, flags: int, cpu_id: int) -> int:
    # One CPU runs every guest thread, so every barrier is already satisfied; only the
    # commands whose semantics need nothing more are offered.
    supported = 0x1 | 0x8 | 0x10  # GLOBAL, PRIVATE_EXPEDITED, REGISTER_PRIVATE_EXPEDITED
    if cmd == MEMBARRIER_CMD_QUERY:
        return supported
    if cmd & ~supported or cmd & (cmd - 1):
        raise SyscallError(Errno.EINVAL)
    return 0


SPECS = (
    spec("clone", sys_clone, Flags(table="clone"), Ptr(), Ptr(), Ptr(), Ptr(),
         classes=(PROCESS,), printer="clone", support=Support.PARTIAL,
         note="threads, vfork children, and fork (elftrace forks itself; the child's "
         "own stack, CLONE_PIDFD and namespaces are ENOSYS)"),
    spec("vfork", sys_vfork, classes=(PROCESS,),
         note="a child process sharing memory; the parent waits until it exits"),
    spec("fork", sys_fork, classes=(PROCESS,),
         note="elftrace forks itself: the child runs on in a host process of its own"),
    spec("clone3", sys_clone3, Ptr(), Size(), classes=(PROCESS,), printer="clone3",
         support=Support.PARTIAL,
         note="as clone; set_tid and CLONE_INTO_CGROUP are refused"),
    spec("set_tid_address", sys_set_tid_address, Ptr()),
    spec("set_robust_list", sys_set_robust_list, Ptr(), Size()),
    spec("get_robust_list", sys_get_robust_list, Int(), Ptr(), Ptr()),
    spec("rseq", sys_rseq, Ptr(), UInt(), Hex(), Hex(), support=Support.NONE,
         note="ENOSYS (glibc continues without it)"),
    spec("membarrier", sys_membarrier, Int(), Hex(), Int()),
)

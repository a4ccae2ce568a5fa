"""execve of another program: it runs as a host process, under its own elftrace.

A guest's vfork child that calls execve (Go's os/exec, posix_spawn, a shell running a
command) gets a new program; elftrace starts ``elftrace run`` on it as a host process —
any architecture elftrace runs, as qemu-user hands execve to the host — and the child
process of the model then stands for that host process (spawn_exec): its exit status,
SIGCHLD and pidfd readiness come from the host's wait status
(syscalls.kernel.core: reap_host_children), and signals sent to it go to the host
process. When the program elftrace runs calls execve itself (a shell's ``exec``, Go's
syscall.Exec), elftrace ends its run and replaces itself with ``elftrace run`` on the
new program (exec_in_place), keeping the pid.

What the new program inherits is what execve keeps: every fd without close-on-exec
(host files and sockets by their host fds; a pipe of the model first becomes a host
pipe, so both sides keep Linux's semantics, and each end the guest holds is one host
description, so its O_NONBLOCK is the child's too), the working directory, the
environment the guest passed (elftrace's own Python ignores it: the interpreter runs
isolated), the signal mask and ignored signals.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from syscalls.errno import Errno, SyscallError

if TYPE_CHECKING:
    from syscalls.context import SyscallContext

_SOURCE_ROOT = str(Path(__file__).resolve().parents[1])
_BOOTSTRAP = ("import sys; sys.path.insert(0, sys.argv.pop(1)); "
              "from emulator.cli import main; sys.exit(main(sys.argv[1:]))")


def _host_fd(file: object) -> int | None:
    from syscalls.kernel.files import HostFile, PipeEnd
    from syscalls.kernel.net import Socket

    if isinstance(file, PipeEnd):
        return file.host_description()
    if isinstance(file, HostFile | Socket):
        return file.fd
    return None  # epoll, eventfd, pidfd, memory files: nothing a host process can hold


def inherited_fds(ctx: SyscallContext) -> dict[int, int]:
    """Guest fd → host fd for every fd the new program keeps."""
    kept: dict[int, int] = {}
    passed: dict[int, int] = {}  # one host fd per guest file (dup'd guest fds share it)
    for fd, entry in sorted(ctx.fds.entries.items()):
        if entry.cloexec:
            continue
        host = passed.get(id(entry.file))
        if host is None:
            host = _host_fd(entry.file)
        if host is not None:
            passed[id(entry.file)] = kept[fd] = host
    return kept


def _command(ctx: SyscallContext, guest_path: str, host_path: str, argv: Sequence[bytes],
             fd_spec: str, options: Sequence[str]) -> list[str]:
    """``elftrace run`` on the new program, told what it inherits."""
    task, process = ctx.task, ctx.process
    ignored = [signo for signo in range(1, signal.NSIG) if process.action(signo).is_ignore]
    argv0 = os.fsdecode(argv[0]) if argv else ""
    return [sys.executable, "-I", "-c", _BOOTSTRAP, _SOURCE_ROOT, "run",
            "--exec-fds", fd_spec, "--exec-sigmask", f"{task.sigmask:#x}",
            "--exec-sigign", ",".join(map(str, ignored)), *options, "--argv0", argv0,
            "--", host_path if "--rootfs" not in options else guest_path,
            *(os.fsdecode(a) for a in argv[1:])]


def _environment(envp: Sequence[bytes]) -> dict[bytes, bytes]:
    env: dict[bytes, bytes] = {}
    for item in envp:
        name, sep, value = item.partition(b"=")
        if sep and name not in env:
            env[name] = value
    return env


def spawn_exec(ctx: SyscallContext, guest_path: str, host_path: str, argv: Sequence[bytes],
               envp: Sequence[bytes], options: Sequence[str]) -> int:
    """Start ``elftrace run`` on the new program; return the host pid."""
    import subprocess

    kept = inherited_fds(ctx)
    stdio = [kept.get(fd, subprocess.DEVNULL) for fd in (0, 1, 2)]
    extra = {fd: host for fd, host in kept.items() if fd > 2}
    fd_spec = ",".join(str(fd) if fd <= 2 else f"{fd}={host}" for fd, host in kept.items())
    command = _command(ctx, guest_path, host_path, argv, fd_spec, options)
    try:
        child = subprocess.Popen(command, stdin=stdio[0], stdout=stdio[1], stderr=stdio[2],
                                 pass_fds=tuple(extra.values()), cwd=_host_cwd(ctx),
                                 env=_environment(envp), close_fds=True)
    except OSError as exc:
        raise SyscallError(Errno(exc.errno or Errno.ENOMEM)) from None
    # A Popen still running when dropped is put on subprocess's list of processes to reap
    # at the next Popen, which would take the wait status the kernel model waits for.
    child.returncode = 0
    return child.pid


class ExecInPlace(Exception):
    """The program elftrace runs called execve: elftrace ends its run (closing the trace)
    and replaces itself with ``elftrace run`` on the new program (os.execve), which keeps
    the pid, as Linux's execve does."""

    def __init__(self, command: list[str], env: dict[bytes, bytes], cwd: str | None) -> None:
        super().__init__("execve")
        self.command = command
        self.env = env
        self.cwd = cwd

    def replace_process(self) -> None:
        if self.cwd is not None:
            os.chdir(self.cwd)
        os.execve(self.command[0], self.command, self.env)


def exec_in_place(ctx: SyscallContext, guest_path: str, host_path: str,
                  argv: Sequence[bytes], envp: Sequence[bytes],
                  options: Sequence[str]) -> ExecInPlace:
    """What replacing the process will take: inheritable copies of the fds the new program
    keeps (the run's end closes the guest's own), and the command."""
    pairs = []
    for fd, host in inherited_fds(ctx).items():
        copy = os.dup(host)
        os.set_inheritable(copy, True)
        pairs.append(f"{fd}={copy}")
    command = _command(ctx, guest_path, host_path, argv, ",".join(pairs), options)
    return ExecInPlace(command, _environment(envp), _host_cwd(ctx))


def _host_cwd(ctx: SyscallContext) -> str | None:
    from syscalls.fs import resolver
    from syscalls.kernel.rootfs import Lookup

    try:
        path = resolver(ctx).host(ctx.process.cwd, Lookup.FOLLOW)
    except SyscallError:
        return None
    return path if os.path.isdir(path) else None

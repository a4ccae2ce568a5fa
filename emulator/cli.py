"""The ``elftrace`` command line.

``elftrace run BINARY [ARGS]`` behaves like qemu-user: the guest's stdio pass through
and the exit status is the guest's (128 + signal if a signal killed it).
``elftrace trace [strace options] BINARY [ARGS]`` also prints every syscall, in
strace's format, on stderr or to ``-o FILE``.

Every failure elftrace itself detects ends in one line on stderr and a distinct exit
status: 127 the file does not exist, 126 it cannot be run (not ELF, malformed, wrong
architecture), 125 the emulation failed (a deadlock, a run bound reached), 2 usage.
An exception nobody expected is a bug in elftrace, not a verdict on the input: it is
reported as one ``internal error`` line with exit status 70 (EX_SOFTWARE), and
``ELFTRACE_DEBUG=1`` (or ``--debug``) adds the Python traceback.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from syscalls.kernel.rootfs import HostRoot

CRASH_SIGNALS = frozenset({signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE,
                           signal.SIGTRAP, signal.SIGSYS, signal.SIGABRT})
EXIT_USAGE = 2
EXIT_INTERNAL = 70  # sysexits.h EX_SOFTWARE
EXIT_EMULATION = 125
EXIT_CANNOT_RUN = 126
EXIT_NOT_FOUND = 127


def _int(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def _common_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--base", type=_int, metavar="ADDR",
                   help="map a position-independent (ET_DYN) image at ADDR instead of Linux's "
                        "default load address")
    p.add_argument("-E", dest="set_env", action="append", default=[], metavar="VAR=VALUE",
                   help="set an environment variable for the guest (repeatable)")
    p.add_argument("-U", dest="unset_env", action="append", default=[], metavar="VAR",
                   help="remove an environment variable for the guest (repeatable)")
    p.add_argument("--argv0", metavar="NAME", help="argv[0] for the guest (default: BINARY)")
    p.add_argument("--rootfs", metavar="DIR",
                   help="make DIR the guest's / (every guest path, symlink and .. resolves "
                        "inside it; BINARY is then a path inside DIR, as with chroot)")
    p.add_argument("--read-only", action="store_true",
                   help="refuse every change to the file system with EROFS")
    # Test-only: bounds runs of damaged binaries in the fuzz tests (tests/fuzz/).
    p.add_argument("--max-slices", type=_int, metavar="N", help=argparse.SUPPRESS)
    p.add_argument("binary", metavar="BINARY", help="the ELF executable to run")
    p.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS",
                   help="arguments for the guest")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="elftrace",
        description="Run Linux ELF binaries (Go first) for x86-64 and 32-bit ARM under "
                    "Unicorn, and trace what they do.")
    parser.add_argument("--debug", action="store_true",
                        help="on an internal error, print the Python traceback")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run a binary, like qemu-user")
    _common_run_options(run)
    trace = sub.add_parser("trace", help="run a binary and print its syscalls, like strace")
    trace.add_argument("-f", dest="follow", action="store_true",
                       help="trace every thread, not just the initial one")
    trace.add_argument("-e", dest="expr", action="append", default=[], metavar="EXPR",
                       help="trace=SET: only these syscalls (names, %%file, %%desc, %%memory, "
                            "%%process, %%signal, %%network, %%ipc, %%creds, %%clock, /regex, "
                            "!negation)")
    trace.add_argument("-o", dest="output", metavar="FILE", help="write the trace to FILE")
    trace.add_argument("-s", dest="strsize", type=_int, default=32, metavar="N",
                       help="print at most N bytes of each string (default 32)")
    trace.add_argument("-T", dest="syscall_times", action="store_true",
                       help="show the time spent in each syscall")
    trace.add_argument("-tt", dest="timestamps", action="store_true",
                       help="prefix lines with the time of day, with microseconds")
    trace.add_argument("-c", dest="summary", action="store_true",
                       help="print a summary table of calls, errors and time instead")
    trace.add_argument("-k", dest="backtraces", action="store_true",
                       help="print the call stack under each syscall (Go-aware, delve layout)")
    trace.add_argument("--frames", type=_int, metavar="N",
                       help="with -k: at most N frames per stack")
    trace.add_argument("--json", action="store_true",
                       help="write one JSON object per event instead of strace lines")
    _common_run_options(trace)
    paths = sub.add_parser("paths", help="run a binary and show the code paths that reach "
                                         "each syscall, with counts")
    paths.add_argument("--folded", metavar="FILE",
                       help="also write folded stacks (flamegraph.pl, speedscope) to FILE")
    paths.add_argument("--depth", type=_int, metavar="N",
                       help="show at most N levels of each tree")
    _common_run_options(paths)
    info = sub.add_parser("info", help="describe an ELF file: format, arch, link kind, "
                                       "relocations, Go version and build settings")
    info.add_argument("binary", metavar="BINARY")
    return parser


def guest_environment(set_env: list[str], unset_env: list[str]) -> list[bytes]:
    env = dict(os.environb)
    for item in set_env:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"-E expects VAR=VALUE, got {item!r}")
        env[os.fsencode(name)] = os.fsencode(value)
    for name in unset_env:
        env.pop(os.fsencode(name), None)
    return [k + b"=" + v for k, v in env.items()]


def fail(message: str, status: int) -> int:
    sys.stdout.flush()
    print(f"elftrace: {message}", file=sys.stderr, flush=True)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _main(args, parser)
    except KeyboardInterrupt:
        return 128 + signal.SIGINT
    except BrokenPipeError:
        return 128 + signal.SIGPIPE
    except Exception as exc:
        return _report_failure(exc, args.debug)


def _report_failure(exc: Exception, debug: bool) -> int:
    """The one place where errors become messages: every refusal the loader or the
    emulator can state is one line; anything else is elftrace's bug, said as such."""
    from emulator.machine import SliceBudgetExhausted
    from loader.errors import LoaderError
    from syscalls.kernel.sched import Deadlock

    if isinstance(exc, LoaderError):
        return fail(one_line(str(exc)), EXIT_CANNOT_RUN)
    if isinstance(exc, _UsageError):
        return fail(str(exc), EXIT_USAGE)
    if isinstance(exc, Deadlock):
        return fail(f"deadlock: {one_line(str(exc))}", EXIT_EMULATION)
    if isinstance(exc, SliceBudgetExhausted):
        return fail(str(exc), EXIT_EMULATION)
    debug = debug or bool(os.environ.get("ELFTRACE_DEBUG"))
    if debug:
        sys.stdout.flush()
        traceback.print_exception(exc)
    hint = "" if debug else " (set ELFTRACE_DEBUG=1 or use --debug for a traceback)"
    return fail(f"internal error: {type(exc).__name__}: {one_line(str(exc))}{hint}",
                EXIT_INTERNAL)


def one_line(message: str) -> str:
    """Messages quote file contents (names, strings): keep them on one printable line."""
    return message.replace("\n", "\\n").replace("\r", "\\r")


def _main(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    # Imported here so that --help and usage errors cost no Unicorn start-up.
    from emulator.events import EventBus, GuestKilled
    from emulator.machine import Machine, RunOptions, exit_code_of

    if args.command == "info":
        if not os.path.lexists(args.binary):
            return fail(f"{args.binary}: No such file or directory", EXIT_NOT_FOUND)
        return _info(args.binary)
    root = _guest_root(args)
    if root is None and not os.path.lexists(args.binary):
        return fail(f"{args.binary}: No such file or directory", EXIT_NOT_FOUND)
    try:
        env = guest_environment(args.set_env, args.unset_env)
    except ValueError as exc:
        parser.error(str(exc))
    if args.max_slices is not None and args.max_slices <= 0:
        parser.error("--max-slices must be positive")
    bus = EventBus()
    options = RunOptions(base=args.base, env=env, max_slices=args.max_slices, root=root)
    guest_argv = [args.argv0 or args.binary, *args.args]
    trace_out: TextIO | None = None
    killed: list[GuestKilled] = []
    bus.subscribe(GuestKilled, killed.append)
    try:
        machine = Machine(args.binary, guest_argv, options, bus)
        crash = _CrashReport(machine, bus)
        paths = None
        if args.command == "trace":
            trace_out = _attach_tracer(args, machine, bus, parser)
        elif args.command == "paths":
            paths = _attach_paths(machine, bus)
        status = machine.run()
    finally:
        if trace_out is not None:
            _close_tracer(args, trace_out)
    code = exit_code_of(status)
    if paths is not None:
        _report_paths(args, paths)
    if status & 0x7F:
        signo = status & 0x7F
        where = f" at pc {killed[0].pc:#x}" if killed else ""
        core = ", core dumped" if status & 0x80 else ""
        name = signal.Signals(signo).name if signo in signal.Signals._value2member_map_ else \
            str(signo)
        fail(f"{args.binary}: killed by {name} ({signal.strsignal(signo)}){where}{core}", code)
        for line in crash.lines:
            print(line, file=sys.stderr)
    return code


def _guest_root(args: argparse.Namespace) -> HostRoot | None:
    """The ConfinedRoot for --rootfs, a read-only HostRoot for --read-only alone, or None."""
    from syscalls.kernel.rootfs import ConfinedRoot, HostRoot

    if args.rootfs is None:
        return HostRoot(read_only=True) if args.read_only else None
    if not os.path.isdir(args.rootfs):
        raise _UsageError(f"--rootfs {args.rootfs}: not a directory")
    return ConfinedRoot(args.rootfs, read_only=args.read_only)


class _UsageError(Exception):
    pass


class _CrashReport:
    """The guest's stack when a signal kills it, for the report after the one-line error."""

    def __init__(self, machine: object, bus: object) -> None:
        from emulator.events import EventBus, GuestKilled
        from emulator.machine import Machine

        assert isinstance(machine, Machine) and isinstance(bus, EventBus)
        self.machine = machine
        self.lines: list[str] = []
        bus.subscribe(GuestKilled, self._on_killed)

    def _on_killed(self, event: object) -> None:
        from emulator.events import GuestKilled
        from emulator.trace.backtrace import BacktraceSource, render

        # A stack is worth printing for a crash (a fault, an abort), not for a signal
        # someone sent from outside.
        assert isinstance(event, GuestKilled)
        if event.info.signo not in CRASH_SIGNALS:
            return
        try:
            backtrace = BacktraceSource(self.machine, limit=64).at_fault()
        except Exception:
            return
        self.lines = render(backtrace, self.machine.arch.word_size)


def _attach_paths(machine: object, bus: object) -> object:
    from emulator.machine import Machine
    from emulator.trace.paths import SyscallPaths

    assert isinstance(machine, Machine)
    paths = SyscallPaths(machine)
    paths.attach(bus)  # type: ignore[arg-type]
    machine.dispatcher.trace(machine.table.names, None)
    return paths


def _report_paths(args: argparse.Namespace, paths: object) -> None:
    from rich.console import Console

    from emulator.trace.paths import SyscallPaths

    assert isinstance(paths, SyscallPaths)
    console = Console(file=sys.stderr, highlight=False)
    console.print(paths.tree(args.depth))
    if args.folded:
        with open(args.folded, "w", encoding="utf-8") as out:
            paths.write_folded(out)


def _info(path: str) -> int:
    from rich.console import Console
    from rich.table import Table

    from loader.info import describe, format_info

    rows = format_info(describe(path))
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for label, value in rows:
        table.add_row(label, value)
    Console(highlight=False).print(table)
    return 0


_SUMMARY_KEY = "_elftrace_summary"


def _attach_tracer(args: argparse.Namespace, machine: object, bus: object,
                   parser: argparse.ArgumentParser) -> TextIO:
    from emulator.events import EventBus
    from emulator.machine import Machine
    from emulator.trace.filter import FilterError, compile_trace
    from emulator.trace.strace import Strace, StraceOptions
    from emulator.trace.summary import Summary

    assert isinstance(machine, Machine) and isinstance(bus, EventBus)
    try:
        numbers = compile_trace(args.expr, machine.table)
    except FilterError as exc:
        parser.error(str(exc))
    if args.strsize < 0:
        parser.error("-s must not be negative")
    out: TextIO
    if args.output:
        try:
            out = open(args.output, "w", encoding="utf-8", errors="backslashreplace")  # noqa: SIM115
        except OSError as exc:
            parser.error(f"cannot write {args.output}: {exc.strerror}")
    else:
        out = sys.stderr
    tids = None if args.follow else {machine.process.pid}
    machine.dispatcher.trace(numbers, tids)
    if args.frames is not None and args.frames <= 0:
        parser.error("--frames must be positive")
    if args.json:
        from emulator.trace.jsonl import JsonLines

        JsonLines(machine, out, args.strsize, args.backtraces, args.frames).attach(bus)
        return out
    if args.summary:
        summary = Summary()
        summary.attach(bus)
        setattr(args, _SUMMARY_KEY, summary)
        return out
    tracer = Strace(machine, out, StraceOptions(follow=args.follow, strsize=args.strsize,
                                                syscall_times=args.syscall_times,
                                                timestamps=args.timestamps,
                                                backtraces=args.backtraces,
                                                frames=args.frames))
    tracer.attach(bus)
    stack = machine.initial_stack
    envp_array = stack.sp + machine.arch.word_size * (len(machine.process.argv) + 2)
    tracer.execve_line(args.binary, machine.process.argv, envp_array, len(machine.process.envp))
    return out


def _close_tracer(args: argparse.Namespace, out: TextIO) -> None:
    summary = getattr(args, _SUMMARY_KEY, None)
    if summary is not None:
        summary.render(out)
    out.flush()
    if out is not sys.stderr:
        out.close()

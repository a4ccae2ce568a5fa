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
import contextlib
import os
import signal
import sys
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from emulator.machine import Inherited
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


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text!r}")
    return value


_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def _size(text: str) -> int:
    """A byte count with an optional K/M/G/T suffix (powers of 1024); 0 means no limit."""
    body = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = body[-1:] if body[-1:] in _SIZE_UNITS else ""
    try:
        value = float(body[: len(body) - len(unit)])
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (examples: 512M, 2G)") from None
    if value < 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"not a size: {text!r}")
    return int(value * _SIZE_UNITS[unit])


def _common_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--base", type=_int, metavar="ADDR",
                   help="map a position-independent (ET_DYN) image at ADDR instead of Linux's "
                        "default load address")
    p.add_argument("-E", dest="set_env", action="append", default=[], metavar="VAR=VALUE",
                   help="set an environment variable for the guest (repeatable)")
    p.add_argument("-U", dest="unset_env", action="append", default=[], metavar="VAR",
                   help="remove an environment variable for the guest (repeatable)")
    p.add_argument("--argv0", metavar="NAME", help="argv[0] for the guest (default: BINARY)")
    p.add_argument("--timeout", type=_seconds, metavar="SECONDS",
                   help="kill the guest with SIGKILL after SECONDS of wall-clock time")
    p.add_argument("--max-memory", type=_size, metavar="SIZE",
                   help="refuse (ENOMEM) guest mappings beyond SIZE bytes of accessible "
                        "memory, e.g. 512M (default: the host's RAM plus swap; 0: no limit)")
    p.add_argument("--max-threads", type=_int, metavar="N",
                   help="refuse (EAGAIN) creating more than N guest threads (default: "
                        "RLIMIT_NPROC, at most 10000)")
    p.add_argument("--no-network", action="store_true",
                   help="refuse sockets other than AF_UNIX (EACCES), as a sandbox policy would")
    p.add_argument("--deterministic", action="store_true",
                   help="virtual clock, seeded random bytes, fixed pids and a thread schedule "
                        "counted in guest work: identical runs give identical traces")
    p.add_argument("--seed", type=_int, default=0, metavar="N",
                   help="with --deterministic: seed for AT_RANDOM and getrandom (default 0)")
    p.add_argument("-L", "--sysroot", metavar="DIR",
                   help="guest root for the interpreter and its libraries, as qemu-user's -L "
                        "(default: / for a native arch, /usr/<triplet> from Debian's "
                        "libc6-*-cross otherwise)")
    p.add_argument("--interp", choices=("auto", "always", "never"), default="auto",
                   help="run through the program's PT_INTERP (the real ld.so from the "
                        "sysroot): auto = when it needs shared libraries (default), always = "
                        "whenever it names one, never = elftrace relocates a PIE itself")
    p.add_argument("--rootfs", metavar="DIR",
                   help="make DIR the guest's / (every guest path, symlink and .. resolves "
                        "inside it; BINARY is then a path inside DIR, as with chroot)")
    p.add_argument("--read-only", action="store_true",
                   help="refuse every change to the file system with EROFS")
    # Test-only: bounds runs of damaged binaries in the fuzz tests (tests/fuzz/).
    p.add_argument("--max-slices", type=_int, metavar="N", help=argparse.SUPPRESS)
    # Set by elftrace for a program its guest exec'd (emulator/spawn.py): what it inherits.
    p.add_argument("--exec-fds", metavar="SPEC", help=argparse.SUPPRESS)
    p.add_argument("--exec-sigmask", type=_int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--exec-sigign", default="", help=argparse.SUPPRESS)
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
    trace.add_argument("--ltrace", action="store_true",
                       help="also report calls from the program into its shared libraries "
                            "(through the PLT), like ltrace; with -c, count them (ltrace's "
                            "-i means something else in strace, so there is no short form)")
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
    relocs = sub.add_parser("relocs", help="list an image's dynamic relocations, or verify "
                                           "elftrace's relocator against the real ld.so")
    relocs.add_argument("--base", type=_int, metavar="ADDR",
                        help="compute values for the image mapped at ADDR (default: where "
                             "elftrace maps it)")
    relocs.add_argument("--json", action="store_true", help="print JSON instead of a table")
    relocs.add_argument("--verify", action="store_true",
                        help="relocate with elftrace and with the real loader (ld.so from the "
                             "sysroot, or a static-pie's own start-up code) at the same base, "
                             "compare every relocated word; exit 1 on any mismatch")
    relocs.add_argument("-L", "--sysroot", metavar="DIR",
                        help="guest root holding the interpreter (as for run)")
    relocs.add_argument("binary", metavar="BINARY")
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
    from emulator.spawn import ExecInPlace

    try:
        return _main(args, parser)
    except ExecInPlace as exec_request:
        # The run ended (the trace is closed): become the new program's elftrace.
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            exec_request.replace_process()
        except OSError as exc:
            return fail(f"cannot start elftrace for the new program: {exc}", EXIT_INTERNAL)
        return EXIT_INTERNAL  # not reached
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
    if args.command == "relocs":
        from emulator.relocs_cli import relocs_command

        return relocs_command(args)
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
    from syscalls.kernel.core import KernelOptions

    options = RunOptions(base=args.base, env=env, timeout=args.timeout,
                         max_memory=_memory_limit(args.max_memory),
                         sysroot=args.sysroot, interpreter=args.interp,
                         max_slices=args.max_slices, root=root,
                         kernel=KernelOptions(network=not args.no_network,
                                              deterministic=args.deterministic,
                                              seed=args.seed))
    if args.max_threads is not None:
        if args.max_threads < 1:
            parser.error("--max-threads must be at least 1")
        options.kernel.max_threads = args.max_threads
    options.exec_options = _exec_options(args)
    if args.exec_fds is not None:
        options.inherited = _inherited(args, parser)
    guest_argv = [args.argv0 or args.binary, *args.args]
    trace_out: TextIO | None = None
    killed: list[GuestKilled] = []
    bus.subscribe(GuestKilled, killed.append)
    machine: Machine | None = None
    try:
        machine = Machine(args.binary, guest_argv, options, bus)
        crash = _CrashReport(machine, bus)
        paths = None
        if args.command == "trace":
            trace_out = _attach_tracer(args, machine, bus, parser)
            machine.before_fork.append(trace_out.flush)
        elif args.command == "paths":
            paths = _attach_paths(machine, bus)
        status = machine.run()
    finally:
        # A forked child's elftrace leaves the trace and its summary to the parent's.
        if trace_out is not None and not (machine is not None and machine.forked):
            _close_tracer(args, trace_out)
    code = exit_code_of(status)
    _memory_note(machine)
    if paths is not None and not machine.forked:
        _report_paths(args, paths)
    if machine.limit_reached is not None:
        return fail(f"{args.binary}: {machine.limit_reached} reached: killed with SIGKILL", code)
    if status & 0x7F and (args.exec_fds is not None or machine.forked):
        _die_of(status & 0x7F)
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


def _exec_options(args: argparse.Namespace) -> tuple[str, ...]:
    """The options a program the guest execs runs with: the same guest file system, network
    policy and determinism."""
    out: list[str] = []
    if args.rootfs:
        out += ["--rootfs", os.path.abspath(args.rootfs)]
    if args.read_only:
        out.append("--read-only")
    if args.sysroot:
        out += ["--sysroot", os.path.abspath(args.sysroot)]
    if args.no_network:
        out.append("--no-network")
    if args.deterministic:
        out += ["--deterministic", "--seed", str(args.seed)]
    return tuple(out)


def _inherited(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Inherited:
    from emulator.machine import Inherited

    fds: dict[int, int] = {}
    try:
        for item in filter(None, args.exec_fds.split(",")):
            guest, _, host_fd = item.partition("=")
            fds[int(guest)] = int(host_fd or guest)
        ignored = tuple(int(s) for s in args.exec_sigign.split(",") if s)
    except ValueError:
        parser.error("--exec-fds/--exec-sigign: malformed")
    return Inherited(fds, args.exec_sigmask, ignored)


def _die_of(signo: int) -> None:
    """A program a guest exec'd died of a signal: so does its elftrace, so that the guest
    that waits for it sees that status (not 128 + signo)."""
    import resource

    sys.stdout.flush()
    sys.stderr.flush()
    with contextlib.suppress(OSError, ValueError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        signal.signal(signo, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signo})
        os.kill(os.getpid(), signo)


def _memory_limit(requested: int | None) -> int | None:
    from emulator import host

    if requested is None:
        return host.memory_bytes()
    return requested or None


def _memory_note(machine: object) -> None:
    """Say so when the memory limit refused something: it may be why the guest failed."""
    from emulator.machine import Machine
    from syscalls.kernel.vm import format_size

    assert isinstance(machine, Machine)
    vm = machine.process.vm
    if vm.limit_refusals and vm.commit_limit is not None:
        times = "once" if vm.limit_refusals == 1 else f"{vm.limit_refusals} times"
        print(f"elftrace: the memory limit ({format_size(vm.commit_limit)}, --max-memory) "
              f"refused a mapping with ENOMEM {times}", file=sys.stderr, flush=True)


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
    machine.dispatcher.trace(machine.table.traceable, None)
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
    if args.ltrace:
        _attach_ltrace(args, machine, bus, out)
    if args.json:
        from emulator.trace.jsonl import JsonLines

        JsonLines(machine, out, args.strsize, args.backtraces, args.frames).attach(bus)
        return out
    if args.summary:
        from emulator.trace.summary import Summary  # rich: ~45 ms, only for -c

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
    machine.before_fork.append(tracer.before_fork)
    if args.follow:
        machine.follow_forks = (tracer.forked, tracer.following)
    if machine.table.number("execve") in numbers:
        # strace shows the execve that started the program only when execve is traced.
        stack = machine.initial_stack
        envp_array = stack.sp + machine.arch.word_size * (len(machine.process.argv) + 2)
        tracer.execve_line(args.binary, machine.process.argv, envp_array,
                           len(machine.process.envp))
    return out


_LTRACE_SUMMARY_KEY = "_elftrace_ltrace_summary"


def _attach_ltrace(args: argparse.Namespace, machine: object, bus: object, out: TextIO) -> None:
    from emulator.events import EventBus
    from emulator.ltrace import LibraryCallPrinter, LibraryCalls, LibraryCallSummary
    from emulator.machine import Machine

    assert isinstance(machine, Machine) and isinstance(bus, EventBus)
    calls = LibraryCalls(machine, bus)
    if not calls.applies:
        print("elftrace: --ltrace: the program is not run through a dynamic loader, so it "
              "calls no shared library", file=sys.stderr)
        return
    calls.attach()
    if args.summary:
        summary = LibraryCallSummary()
        summary.attach(bus)
        setattr(args, _LTRACE_SUMMARY_KEY, summary)
    elif not args.json:
        LibraryCallPrinter(out, machine.process.pid, args.follow).attach(bus)


def _close_tracer(args: argparse.Namespace, out: TextIO) -> None:
    summary = getattr(args, _SUMMARY_KEY, None)
    if summary is not None:
        summary.render(out)
    ltrace_summary = getattr(args, _LTRACE_SUMMARY_KEY, None)
    if ltrace_summary is not None:
        ltrace_summary.render(out)
    out.flush()
    if out is not sys.stderr:
        out.close()

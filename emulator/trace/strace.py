"""The strace-format observer: one line per syscall, as ``strace -f`` prints it.

Lines are held until the call returns so a whole line is printed at once; if another
thread produces output first, the held line is printed with `` <unfinished ...>`` and
completed later as ``<... name resumed>``, exactly strace's convention. With several
threads alive lines carry ``[pid N]`` prefixes. Column alignment (results at column
40), string escaping and truncation (``-s``), ``-T`` and ``-tt`` follow strace.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from emulator.events import (
    EventBus,
    GuestKilled,
    ProcessExited,
    SignalDelivered,
    SyscallEnter,
    SyscallExit,
    ThreadCreated,
    ThreadExited,
    UnsupportedSyscall,
    WritesAnswered,
)
from emulator.trace import netformat  # noqa: F401  (registers the socket printers)
from emulator.trace.backtrace import BacktraceSource, render
from emulator.trace.format import (
    FormatContext,
    capture_entry,
    compile_head,
    format_args,
    format_result,
    format_siginfo,
    joined_args,
    quote,
    spec_plan,
)
from syscalls.kernel.signals import signal_name
from syscalls.spec import Ret

if TYPE_CHECKING:
    from emulator.machine import Machine
    from syscalls.kernel.memory import GuestMemory
    from syscalls.spec import SyscallSpec

RESULT_COLUMN = 40


class LineShape:
    """What the tracer needs to print one spec's lines, worked out once per spec."""

    __slots__ = ("captured", "captured_head", "closed", "head", "plain_result", "plan",
                 "sigreturn", "spec", "split", "trailing")

    def __init__(self, spec: SyscallSpec, word: int, mem: GuestMemory, strsize: int) -> None:
        self.spec = spec
        self.plan = plan = spec_plan(spec)
        self.split = plan.split
        """How many arguments the entry shows (format.split_args)."""
        self.trailing = ", " if 0 < plan.split < len(spec.args) and spec.printer is None else ""
        self.head = None if plan.structs else compile_head(spec, plan.split, word, mem, strsize)
        """The entry's arguments from their values alone (format.compile_head), or None:
        they need a FormatContext."""
        self.closed = spec.printer is None and plan.split >= len(spec.args)
        """Every argument is shown at entry: the exit only adds ``)`` and the result."""
        self.plain_result = spec.printer is None and spec.ret is not Ret.HEX
        """A non-negative result is printed as a plain number."""
        self.sigreturn = spec.printer == "sigreturn"
        self.captured: Captured | None = None
        self.captured_head: Callable[[Sequence[int]], str] | None = None
        """The head of a call whose input buffers are already read (WritesAnswered),
        compiled when the first batch comes (Strace._batch_head)."""


class Captured:
    """A memory reader that answers with bytes read earlier: the first bytes of a write
    the gate logged (see WritesAnswered)."""

    __slots__ = ("data",)

    def __init__(self) -> None:
        self.data = b""

    def read(self, _addr: int, size: int) -> bytes:
        return self.data[:size]


class Held:
    """A call entered and not yet printed whole."""

    __slots__ = ("enter", "entry", "fc", "head", "prefix", "printed", "shape", "stack")

    def __init__(self, enter: SyscallEnter, prefix: str, head: str, shape: LineShape,
                 fc: FormatContext | None, stack: list[str] | None,
                 entry: dict[int, bytes] | None) -> None:
        self.enter = enter
        self.prefix = prefix
        self.head = head
        """``name(`` plus the arguments known at entry."""
        self.shape = shape
        self.fc = fc
        """The entry's format context, reused at exit (None: the head needed none)."""
        self.stack = stack
        """The rendered backtrace (-k), captured when the call was entered."""
        self.entry = entry
        """Value-result arguments as they were at entry (format.capture_entry)."""
        self.printed = False
        """Already written as ``<unfinished ...>``."""


@dataclass(slots=True)
class StraceOptions:
    follow: bool = False
    strsize: int = 32
    syscall_times: bool = False
    """-T"""
    timestamps: bool = False
    """-tt"""
    backtraces: bool = False
    """-k"""
    frames: int | None = None
    """--frames N: at most N frames per backtrace."""


@dataclass
class Strace:
    machine: Machine
    out: TextIO
    options: StraceOptions = field(default_factory=StraceOptions)

    def __post_init__(self) -> None:
        self.held: dict[int, Held] = {}
        self._shapes: dict[int, LineShape] = {}
        """By syscall number (a shape whose spec is not the event's is rebuilt)."""
        self.live: set[int] = {self.machine.process.pid}
        self.stacks: BacktraceSource | None = None
        self._mem = self.machine.mem
        self._abi = self.machine.arch.abi
        self._strsize = self.options.strsize
        self._prefixed = self.options.timestamps
        """Whether lines start with something (-tt, or [pid N] once threads exist)."""
        self._forks: set[int] = set()
        """Forked children (-f) that trace themselves, in their own elftrace."""
        self._in_fork = False
        """This tracer runs in a forked child's elftrace: every line names its pid."""
        self._fork_return: int | None = None
        if self.options.backtraces:
            self.stacks = BacktraceSource(self.machine)

    def _stack(self) -> list[str] | None:
        if self.stacks is None:
            return None
        return render(self.stacks.at_syscall(), self.machine.arch.word_size, self.options.frames)

    def attach(self, bus: EventBus) -> None:
        bus.subscribe(SyscallEnter, self.on_enter)
        bus.subscribe(SyscallExit, self.on_exit)
        bus.subscribe(UnsupportedSyscall, self.on_unsupported)
        bus.subscribe(SignalDelivered, self.on_signal)
        bus.subscribe(ThreadCreated, self.on_thread_created)
        bus.subscribe(ThreadExited, self.on_thread_exited)
        bus.subscribe(ProcessExited, self.on_process_exited)
        bus.subscribe(GuestKilled, self.on_killed)
        if not (self.options.backtraces or self.options.syscall_times
                or self.options.timestamps):
            bus.take_write_batches(self, self.on_writes, self._write_capture)

    def _write_capture(self, host_fd: int) -> int | None:
        """Writes to ``host_fd`` may reach us late unless they go to the file this trace
        goes to (then strace's order of the two on it would change); into /dev/null
        there is no order to keep."""
        try:
            ours = os.fstat(self.out.fileno())
            theirs = os.fstat(host_fd)
        except (AttributeError, OSError, ValueError):
            return self._strsize  # not a host file (a test's buffer): nothing shared
        if (ours.st_dev, ours.st_ino) == (theirs.st_dev, theirs.st_ino) and not (
                stat.S_ISCHR(ours.st_mode) and ours.st_rdev == os.makedev(1, 3)):
            return None
        return self._strsize

    # Line assembly -----------------------------------------------------------------------

    def _prefix(self, tid: int, when: float) -> str:
        prefix = f"[pid {tid:5d}] " if len(self.live) > 1 or self._in_fork else ""
        if self.options.timestamps:
            stamp = time.strftime("%H:%M:%S", time.localtime(when))
            prefix += f"{stamp}.{int(when * 1e6) % 1_000_000:06d} "
        return prefix

    def _write(self, text: str) -> None:
        self.out.write(text + "\n")

    def _interrupt_others(self, tid: int) -> None:
        """Another thread is about to print: held lines of other threads go out unfinished."""
        if not self.held or (len(self.held) == 1 and tid in self.held):
            return
        for other, held in self.held.items():
            if other != tid and not held.printed:
                self._write(held.head + " <unfinished ...>")
                held.printed = True

    def _finish(self, prefix: str, text: str, result: str, duration: float | None,
                note: str = "") -> None:
        line = (prefix + text).ljust(RESULT_COLUMN - 1) + " = " + result
        if duration is not None:
            line += f" <{duration:.6f}>"
        if note:
            line += f" /* {note} */"
        self.out.write(line + "\n")

    def _context(self, args: tuple[int, ...], result: int | None = None,
                 name: str = "") -> FormatContext:
        return FormatContext(self._mem, self._abi, self._strsize, args, result,
                             spec_name=name)

    # Events ------------------------------------------------------------------------------

    def _shape(self, spec: SyscallSpec, number: int) -> LineShape:
        shape = self._shapes.get(number)
        if shape is None or shape.spec is not spec:
            shape = self._shapes[number] = LineShape(spec, self._abi.word_size, self._mem,
                                                     self._strsize)
        return shape

    def on_enter(self, event: SyscallEnter) -> None:
        shape = self._shapes.get(event.number)
        if shape is None or shape.spec is not event.spec:
            shape = self._shape(event.spec, event.number)
        if shape.sigreturn:
            return  # printed whole once the frame has been read (see on_exit)
        if self.held:
            self._interrupt_others(event.tid)
        prefix = self._prefix(event.tid, event.time) if self._prefixed else ""
        args = event.args
        if shape.head is not None and len(args) >= shape.split:
            fc = None
            shown = shape.head(args)
        else:
            fc = FormatContext(self._mem, self._abi, self._strsize, args, spec_name=event.name)
            shown = joined_args(event.spec, fc, 0, shape.split, shape.plan)
        self.held[event.tid] = Held(
            event, prefix, prefix + event.name + "(" + shown + shape.trailing, shape, fc,
            self._stack() if self.stacks is not None else None,
            capture_entry(event.spec, fc) if fc is not None and shape.plan.structs else None)

    def on_exit(self, event: SyscallExit) -> None:
        if event.tid == self._fork_return:
            self._fork_return = None
            return  # a forked child's return from fork: strace shows only the parent's
        held = self.held.pop(event.tid, None)
        if self.held:
            self._interrupt_others(event.tid)
        spec = event.spec
        result = event.result
        if held is None:
            # rt_sigreturn: no entry event is printed before its registers are restored.
            fc = self._context(event.args, result, event.name)
            text = event.name + "(" + joined_args(spec, fc) + ")"
            self._finish(self._prefix(event.tid, event.time), text,
                         format_result(spec, fc, result), None, event.note)
            return
        shape = held.shape
        duration = event.time - held.enter.time if self.options.syscall_times else None
        if shape.closed and shape.plain_result and result is not None and result >= 0:
            tail, shown = ")", str(result)  # the commonest line: nothing to read at exit
        else:
            fc = held.fc
            if fc is None or fc.args is not event.args:
                fc = self._context(event.args, result, event.name)
            else:
                fc.result = result
            fc.entry = held.entry
            shown = format_result(spec, fc, result)
            if spec.printer is not None and not held.printed:
                # Custom printers may show outputs (an affinity mask): format it all now.
                text = event.name + "(" + ", ".join(format_args(spec, fc)) + ")"
                self._finish(held.prefix, text, shown, duration, event.note)
                self._write_stack(held)
                return
            if shape.closed:
                tail = ")"
            elif spec.printer is None:
                tail = joined_args(spec, fc, shape.split, None, shape.plan) + ")"
            else:
                tail = "".join(", " + part for part in format_args(spec, fc, shape.split)) + ")"
        if not held.printed:
            self._finish("", held.head + tail, shown, duration, event.note)
        else:
            self._finish(self._prefix(event.tid, event.time),
                         f"<... {event.name} resumed>" + tail, shown, duration, event.note)
        self._write_stack(held)

    def on_writes(self, event: WritesAnswered) -> None:
        """Writes the gate made: each line as on_enter and on_exit would print it."""
        shape = self._shapes.get(event.number)
        if shape is None or shape.spec is not event.spec:
            shape = self._shape(event.spec, event.number)
        head, captured = self._batch_head(shape)
        if self.held:
            self._interrupt_others(event.tid)
        start = (self._prefix(event.tid, event.time) if self._prefixed else "") + \
            event.name + "("
        width = RESULT_COLUMN - 1
        lines = []
        for args, result, data in event.calls:
            captured.data = data
            lines.append((start + head(args) + ")").ljust(width) + " = " + str(result) + "\n")
        self.out.write("".join(lines))

    def _batch_head(self, shape: LineShape) -> tuple[Callable[[Sequence[int]], str], Captured]:
        if shape.captured_head is None or shape.captured is None:
            captured = Captured()
            head = compile_head(shape.spec, shape.split, self._abi.word_size, self._mem,
                                self._strsize, captured.read) \
                if shape.closed and shape.plain_result else None
            if head is None:
                raise RuntimeError(f"{shape.spec.name} lines cannot be printed from a batch")
            shape.captured, shape.captured_head = captured, head
        return shape.captured_head, shape.captured

    def _write_stack(self, held: Held) -> None:
        if held.stack:
            for line in held.stack:
                self._write(line)

    def on_unsupported(self, event: UnsupportedSyscall) -> None:
        self._interrupt_others(event.tid)
        name = event.name or f"syscall_{event.number:#x}"
        args = ", ".join(f"{a:#x}" for a in event.args[:6])
        self._finish(self._prefix(event.tid, event.time), f"{name}({args})",
                     "-1 ENOSYS (Function not implemented)", None,
                     "not implemented by elftrace")
        for line in self._stack() or ():
            self._write(line)

    def on_signal(self, event: SignalDelivered) -> None:
        if event.tid not in self.live:
            return
        info = event.info
        if info.signo == 9:  # SIGKILL has no stop: the tracee is simply gone
            return
        self._interrupt_others(event.tid)
        self._write(self._prefix(event.tid, event.time)
                    + f"--- {signal_name(info.signo)} {format_siginfo(info)} ---")

    def on_killed(self, event: GuestKilled) -> None:
        # A traced process stops for every signal before its default action kills it
        # (Linux skips its fatal-signal shortcut under ptrace), so strace shows each one.
        info = event.info
        if info.signo == 9:  # SIGKILL has no stop: the tracee is simply gone
            return
        self._interrupt_others(event.tid)
        self._write(self._prefix(event.tid, event.time)
                    + f"--- {signal_name(info.signo)} {format_siginfo(info)} ---")

    def on_thread_created(self, event: ThreadCreated) -> None:
        if self.options.follow:
            self.live.add(event.child)
            self._prefixed = True

    # Forked children (-f) ------------------------------------------------------------

    def before_fork(self) -> None:
        """Two processes will write this trace: each line goes out whole and at once."""
        self.out.flush()
        reconfigure = getattr(self.out, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=True)

    def forked(self, child: int) -> None:
        """In the parent: lines carry pids while the child lives; it prints its own."""
        self._forks.add(child)
        self.live.add(child)
        self._prefixed = True

    def following(self, child: int) -> None:
        """In the forked child's elftrace: the child's lines from here on (the parent's
        unfinished ones are the parent's to finish)."""
        self.held.clear()
        self.live = {child}
        self._forks.clear()
        self._in_fork = True
        self._prefixed = True
        self._fork_return = child

    def on_thread_exited(self, event: ThreadExited) -> None:
        if event.tid in self._forks:
            self._forks.discard(event.tid)  # its own trace said so
            self.live.discard(event.tid)
            self._prefixed = self.options.timestamps or len(self.live) > 1 or self._in_fork
            return
        if event.tid not in self.live:
            return
        self._flush_held(event.tid, event.time)
        self._write(self._prefix(event.tid, event.time) + f"+++ exited with {event.code} +++")
        self.live.discard(event.tid)
        self._prefixed = self.options.timestamps or len(self.live) > 1 or self._in_fork

    def _flush_held(self, tid: int, when: float) -> None:
        held = self.held.pop(tid, None)
        if held is None:
            return
        if not held.printed:
            self._interrupt_others(-1)
            self._write(held.head + " <unfinished ...>")
        self._finish(self._prefix(tid, when), f"<... {held.enter.name} resumed>)", "?", None)

    def on_process_exited(self, event: ProcessExited) -> None:
        status = event.status
        main = self.machine.process.pid
        others = sorted(self.live - {main} - self._forks)
        for tid in others:
            self._flush_held(tid, event.time)
        for tid in others:
            if status & 0x7F == 0:
                self._write(self._prefix(tid, event.time) + f"+++ exited with {status >> 8} +++")
            self.live.discard(tid)
        self._prefixed = self.options.timestamps or len(self.live) > 1 or self._in_fork
        self._flush_held(main, event.time)
        prefix = self._prefix(main, event.time) if self._in_fork else ""
        if status & 0x7F:
            core = " (core dumped)" if status & 0x80 else ""
            self._write(f"{prefix}+++ killed by {signal_name(status & 0x7F)}{core} +++")
        else:
            self._write(f"{prefix}+++ exited with {(status >> 8) & 0xFF} +++")
        self.out.flush()

    def execve_line(self, path: str, argv: list[bytes], envp_addr: int, env_count: int) -> None:
        # As strace: each string cut at -s bytes, and at most -s of them.
        limit = self.options.strsize
        shown = [quote(a[:limit], truncated=len(a) > limit) for a in argv[:limit]]
        args = "[" + ", ".join(shown + (["..."] if len(argv) > limit else [])) + "]"
        self._write(f'execve({quote(path.encode())}, {args}, {envp_addr:#x} '
                    f"/* {env_count} vars */) = 0")

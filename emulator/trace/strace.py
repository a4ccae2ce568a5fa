"""The strace-format observer: one line per syscall, as ``strace -f`` prints it.

Lines are held until the call returns so a whole line is printed at once; if another
thread produces output first, the held line is printed with `` <unfinished ...>`` and
completed later as ``<... name resumed>``, exactly strace's convention. With several
threads alive lines carry ``[pid N]`` prefixes. Column alignment (results at column
40), string escaping and truncation (``-s``), ``-T`` and ``-tt`` follow strace.
"""

from __future__ import annotations

import time
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
)
from emulator.trace import netformat  # noqa: F401  (registers the socket printers)
from emulator.trace.backtrace import BacktraceSource, render
from emulator.trace.format import (
    FormatContext,
    capture_entry,
    format_args,
    format_result,
    format_siginfo,
    joined_args,
    quote,
    spec_plan,
)
from syscalls.kernel.signals import signal_name

if TYPE_CHECKING:
    from emulator.machine import Machine

RESULT_COLUMN = 40


@dataclass(slots=True)
class Held:
    enter: SyscallEnter
    prefix: str
    head: str
    """``name(`` plus the arguments known at entry."""
    printed: bool = False
    """Already written as ``<unfinished ...>``."""
    stack: list[str] | None = None
    """The rendered backtrace (-k), captured when the call was entered."""
    entry: dict[int, bytes] | None = None
    """Value-result arguments as they were at entry (format.capture_entry)."""
    fc: FormatContext | None = None
    """The entry's format context, reused at exit."""
    split: int = 0
    """How many arguments the head shows (format.split_args)."""


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
        self.live: set[int] = {self.machine.process.pid}
        self.stacks: BacktraceSource | None = None
        self._mem = self.machine.mem
        self._abi = self.machine.arch.abi
        self._strsize = self.options.strsize
        self._prefixed = self.options.timestamps
        """Whether lines start with something (-tt, or [pid N] once threads exist)."""
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

    # Line assembly -----------------------------------------------------------------------

    def _prefix(self, tid: int, when: float) -> str:
        prefix = f"[pid {tid:5d}] " if len(self.live) > 1 else ""
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
        line = prefix + text
        if len(line) < RESULT_COLUMN - 1:
            line = line.ljust(RESULT_COLUMN - 1)
        line += " = " + result
        if duration is not None:
            line += f" <{duration:.6f}>"
        if note:
            line += f" /* {note} */"
        self._write(line)

    def _context(self, args: tuple[int, ...], result: int | None = None,
                 name: str = "") -> FormatContext:
        return FormatContext(self._mem, self._abi, self._strsize, args, result,
                             spec_name=name)

    # Events ------------------------------------------------------------------------------

    def on_enter(self, event: SyscallEnter) -> None:
        spec = event.spec
        if spec.printer == "sigreturn":
            return  # printed whole once the frame has been read (see on_exit)
        if self.held:
            self._interrupt_others(event.tid)
        plan = spec_plan(spec)
        count = plan.split
        fc = FormatContext(self._mem, self._abi, self._strsize, event.args,
                           spec_name=event.name)
        trailing = ", " if 0 < count < len(spec.args) and spec.printer is None else ""
        prefix = self._prefix(event.tid, event.time) if self._prefixed else ""
        head = prefix + event.name + "(" + joined_args(spec, fc, 0, count, plan)
        self.held[event.tid] = Held(event, prefix, head + trailing,
                                    stack=self._stack() if self.stacks else None,
                                    entry=capture_entry(spec, fc) if plan.structs else None,
                                    fc=fc, split=count)

    def on_exit(self, event: SyscallExit) -> None:
        held = self.held.pop(event.tid, None)
        if self.held:
            self._interrupt_others(event.tid)
        spec = event.spec
        if held is not None and held.fc is not None and held.fc.args is event.args:
            fc = held.fc
            fc.result = event.result
        else:
            fc = self._context(event.args, event.result, event.name)
        fc.entry = held.entry if held is not None else None
        duration = (event.time - held.enter.time) if held and self.options.syscall_times else None
        result = format_result(spec, fc, event.result)
        note = event.note
        if held is None:
            # rt_sigreturn: no entry event is printed before its registers are restored.
            text = event.name + "(" + joined_args(spec, fc) + ")"
            self._finish(self._prefix(event.tid, event.time), text, result, duration, note)
            return
        if spec.printer is not None and not held.printed:
            # Custom printers may show outputs (an affinity mask): format it all now.
            text = event.name + "(" + ", ".join(format_args(spec, fc)) + ")"
            self._finish(held.prefix, text, result, duration, note)
        else:
            count = held.split
            if spec.printer is None:
                tail = joined_args(spec, fc, count) + ")"
            else:
                tail = "".join(", " + part for part in format_args(spec, fc, count)) + ")"
            if not held.printed:
                self._finish("", held.head + tail, result, duration, note)
            else:
                text = f"<... {event.name} resumed>" + tail
                self._finish(self._prefix(event.tid, event.time), text, result, duration,
                             note)
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

    def on_thread_exited(self, event: ThreadExited) -> None:
        if event.tid not in self.live:
            return
        self._flush_held(event.tid, event.time)
        self._write(self._prefix(event.tid, event.time) + f"+++ exited with {event.code} +++")
        self.live.discard(event.tid)
        self._prefixed = self.options.timestamps or len(self.live) > 1

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
        others = sorted(self.live - {main})
        for tid in others:
            self._flush_held(tid, event.time)
        for tid in others:
            if status & 0x7F == 0:
                self._write(self._prefix(tid, event.time) + f"+++ exited with {status >> 8} +++")
            self.live.discard(tid)
        self._prefixed = self.options.timestamps or len(self.live) > 1
        self._flush_held(main, event.time)
        if status & 0x7F:
            core = " (core dumped)" if status & 0x80 else ""
            self._write(f"+++ killed by {signal_name(status & 0x7F)}{core} +++")
        else:
            self._write(f"+++ exited with {(status >> 8) & 0xFF} +++")
        self.out.flush()

    def execve_line(self, path: str, argv: list[bytes], envp_addr: int, env_count: int) -> None:
        # As strace: each string cut at -s bytes, and at most -s of them.
        limit = self.options.strsize
        shown = [quote(a[:limit], truncated=len(a) > limit) for a in argv[:limit]]
        args = "[" + ", ".join(shown + (["..."] if len(argv) > limit else [])) + "]"
        self._write(f'execve({quote(path.encode())}, {args}, {envp_addr:#x} '
                    f"/* {env_count} vars */) = 0")

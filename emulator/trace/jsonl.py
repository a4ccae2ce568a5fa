"""``--json``: one JSON object per event, for scripts and other tools.

Objects: ``{"event": "syscall", "tid", "name", "number", "args" (as strace formats
them), "raw" (the argument registers as decoded), "result", "error" (errno name or
null), "restarted", "start", "end", "frames" (with -k)}``, and ``signal``, ``thread``,
``exit``, ``unsupported`` and ``killed`` events.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

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
from emulator.trace.backtrace import BacktraceSource
from emulator.trace.format import FormatContext, format_args, format_siginfo
from emulator.unwind import Backtrace
from syscalls.errno import Errno
from syscalls.kernel.signals import signal_name

if TYPE_CHECKING:
    from emulator.machine import Machine


def frames_json(backtrace: Backtrace, limit: int | None) -> list[dict[str, Any]]:
    frames = backtrace.frames if limit is None else backtrace.frames[:limit]
    return [{"pc": f.pc, "function": f.function, "file": f.file, "line": f.line,
             "inlined": f.inlined} for f in frames]


@dataclass
class JsonLines:
    machine: Machine
    out: TextIO
    strsize: int = 32
    backtraces: bool = False
    frames: int | None = None
    entered: dict[int, tuple[SyscallEnter, list[dict[str, Any]] | None]] = field(
        default_factory=dict)

    def __post_init__(self) -> None:
        self.stacks = BacktraceSource(self.machine) if self.backtraces else None

    def attach(self, bus: EventBus) -> None:
        bus.subscribe(SyscallEnter, self.on_enter)
        bus.subscribe(SyscallExit, self.on_exit)
        bus.subscribe(UnsupportedSyscall, self.on_unsupported)
        bus.subscribe(SignalDelivered, self.on_signal)
        bus.subscribe(ThreadCreated, lambda e: self._emit(
            {"event": "thread", "tid": e.parent, "child": e.child, "time": e.time}))
        bus.subscribe(ThreadExited, lambda e: self._emit(
            {"event": "thread-exit", "tid": e.tid, "code": e.code, "time": e.time}))
        bus.subscribe(ProcessExited, self.on_process_exited)
        bus.subscribe(GuestKilled, self.on_killed)

    def _emit(self, obj: dict[str, Any]) -> None:
        self.out.write(json.dumps(obj, separators=(",", ":")) + "\n")

    def _frames(self) -> list[dict[str, Any]] | None:
        if self.stacks is None:
            return None
        return frames_json(self.stacks.at_syscall(), self.frames)

    def on_enter(self, event: SyscallEnter) -> None:
        self.entered[event.tid] = (event, self._frames())

    def on_exit(self, event: SyscallExit) -> None:
        enter, frames = self.entered.pop(event.tid, (None, None))
        fc = FormatContext(self.machine.mem, self.machine.arch.abi, self.strsize, event.args,
                           event.result, spec_name=event.name)
        error = None
        if event.result is not None and -4095 <= event.result < 0:
            try:
                error = Errno(-event.result).name
            except ValueError:
                error = str(-event.result)
        obj: dict[str, Any] = {
            "event": "syscall", "tid": event.tid, "name": event.name, "number": event.number,
            "args": format_args(event.spec, fc), "raw": list(event.args),
            "result": event.result, "error": error, "restarted": event.restarted,
            "start": enter.time if enter is not None else event.time, "end": event.time,
        }
        if event.note:
            obj["note"] = event.note
        if frames is not None:
            obj["frames"] = frames
        self._emit(obj)

    def on_unsupported(self, event: UnsupportedSyscall) -> None:
        obj: dict[str, Any] = {"event": "unsupported", "tid": event.tid, "number": event.number,
                               "name": event.name, "raw": list(event.args),
                               "result": -int(Errno.ENOSYS), "error": "ENOSYS",
                               "time": event.time}
        frames = self._frames()
        if frames is not None:
            obj["frames"] = frames
        self._emit(obj)

    def on_signal(self, event: SignalDelivered) -> None:
        self._emit({"event": "signal", "tid": event.tid, "signal": signal_name(event.info.signo),
                    "info": format_siginfo(event.info), "handler": event.handler,
                    "time": event.time})

    def on_killed(self, event: GuestKilled) -> None:
        self._emit({"event": "killed", "tid": event.tid,
                    "signal": signal_name(event.info.signo), "pc": event.pc,
                    "core": event.core, "time": event.time})

    def on_process_exited(self, event: ProcessExited) -> None:
        status = event.status
        obj: dict[str, Any] = {"event": "exit", "time": event.time}
        if status & 0x7F:
            obj["signal"] = signal_name(status & 0x7F)
        else:
            obj["code"] = (status >> 8) & 0xFF
        self._emit(obj)
        self.out.flush()

"""The one syscall seam: registers in, handler called, result out, events published.

Runs inside Unicorn's syscall hook for the thread that trapped. Calls that complete
at once never stop emulation; a call that blocks, exits, returns from a signal or
makes a signal deliverable ends the slice so the run loop can act. Tracing costs
nothing for calls no observer selected: events are built only for numbers in
``traced``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from emulator.events import EventBus, SyscallEnter, SyscallExit, UnsupportedSyscall
from syscalls.errno import Errno, SyscallError
from syscalls.kernel.task import PendingSyscall
from syscalls.kernel.wait import Block
from syscalls.spec import Ret
from syscalls.table import SyscallTable

if TYPE_CHECKING:
    from emulator.machine import Machine

ENOSYS = -int(Errno.ENOSYS)


class Dispatcher:
    def __init__(self, machine: Machine, table: SyscallTable, bus: EventBus) -> None:
        self.machine = machine
        self.table = table
        self.bound = table.bound
        self.bus = bus
        self.cpu = machine.cpu
        self.now = machine.clock.wall
        """Event timestamps: the host's time of day, or the virtual clock's."""
        self.traced: frozenset[int] = frozenset()
        self.traced_tids: set[int] | None = None
        """Threads whose syscalls are traced; None means all (strace -f)."""

    def trace(self, numbers: Iterable[int], tids: set[int] | None) -> None:
        self.traced = frozenset(numbers)
        self.traced_tids = tids

    def is_traced(self, number: int, tid: int) -> bool:
        return number in self.traced and (self.traced_tids is None or tid in self.traced_tids)

    def on_syscall(self) -> None:
        machine = self.machine
        task = machine.current
        regs = self.cpu.syscall_registers()
        number = regs[0]
        bound = self.bound.get(number)
        if bound is None:
            mux = self.table.multiplexers.get(number)
            if mux is not None:
                # A call carried by another (i386's socketcall) runs as its own.
                number, regs = mux.route(machine.ctx.mem, regs)  # type: ignore[assignment]
                bound = mux.own if number == mux.own.number else self.table.carried.get(number)
            if bound is None:
                self._unsupported(task.tid, number, regs)
                return
        spec = bound.spec
        args = bound.decode(regs[1:])
        traced = number in self.traced and (self.traced_tids is None
                                            or task.tid in self.traced_tids)
        if traced:
            self.bus.publish(SyscallEnter(task.tid, number, spec.name, spec, args, self.now()))
        note = ""
        try:
            result = spec.handler(machine.ctx, *args)  # type: ignore[misc]
        except SyscallError as err:
            note = err.note
            result = -int(err.errno)
        if type(result) is int:
            self.cpu.set_return(result)
            if traced:
                self.bus.publish(SyscallExit(task.tid, number, spec.name, spec, args, result,
                                             self.now(), note=note))
            if task.saved_sigmask is not None:
                task.sigmask, task.saved_sigmask = task.saved_sigmask, None
            if task.deliverable():
                self.cpu.stop()
            return
        if isinstance(result, Block):
            task.blocked = PendingSyscall(number, spec.name, args, result, spec)
            machine.kernel.scheduler.block(task, result)
            self.cpu.stop()
            return
        # NO_RETURN: exit, exit_group, rt_sigreturn.
        if traced and spec.ret is Ret.NONE:
            self.bus.publish(SyscallExit(task.tid, number, spec.name, spec, args, None,
                                         self.now()))
        self.cpu.stop()

    def _unsupported(self, tid: int, number: int, regs: list[int]) -> None:
        self.cpu.set_return(ENOSYS)
        if self.bus.wants(UnsupportedSyscall):
            table = self.table
            name = table.names.get(number) or table.carried_names.get(number)
            self.bus.publish(UnsupportedSyscall(tid, number, name,
                                                tuple(regs[1:]), self.now()))

    def finish(self, task_tid: int, pending: PendingSyscall, result: int, *,
               restarted: bool = False) -> None:
        """Publish the exit of a call that blocked (or was interrupted)."""
        if self.is_traced(pending.number, task_tid):
            self.bus.publish(SyscallExit(task_tid, pending.number, pending.name, pending.spec,
                                         pending.args, result, self.now(),
                                         restarted=restarted))

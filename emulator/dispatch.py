"""The one syscall seam: registers in, handler called, result out, events published.

Runs inside Unicorn's syscall hook for the thread that trapped. Calls that complete
at once never stop emulation; a call that blocks, exits, returns from a signal or
makes a signal deliverable ends the slice so the run loop can act. Tracing costs
nothing for calls no observer selected: events are built only for numbers in
``traced``.

This is the per-syscall hot path (100,000 writes make 100,000 trips through it): an
untraced call goes from the register list straight into its handler through a
per-number invoker (:func:`syscalls.spec.make_invoker`, compiled once the number has
been called COMPILE_AFTER times), with no argument tuple or event built; traced calls of
compiled numbers take a short path of their own (:meth:`Dispatcher._traced`); unknown
numbers and the first calls of each number take the general path. A write the gate's
write lane answers never gets here (see :meth:`Dispatcher._arm_write`); while writes are
traced, the lane records them and they are published here in a batch
(:class:`WritesAnswered`) before anything else is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from emulator.events import (
    EventBus,
    SyscallEnter,
    SyscallExit,
    UnsupportedSyscall,
    WritesAnswered,
)
from syscalls.errno import Errno, SyscallError
from syscalls.fs import MAX_RW
from syscalls.kernel.task import PendingSyscall
from syscalls.kernel.wait import Block
from syscalls.outcome import EXECED
from syscalls.spec import Decoder, Invoker, Ret, compile_decoder, make_invoker
from syscalls.table import SyscallTable

if TYPE_CHECKING:
    from emulator.cpu import WriteLog
    from emulator.machine import Machine
    from syscalls.context import SyscallContext
    from syscalls.kernel.task import Task
    from syscalls.spec import SyscallSpec

ENOSYS = -int(Errno.ENOSYS)
COMPILE_AFTER = 16
"""Calls of one number before its invoker and decoder are compiled (~0.1 ms per new
pattern of argument conversions, ~1 us saved per call): only numbers a program keeps
calling pay for it."""


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
        self.invokers: dict[int, Invoker] = {}
        """Untraced fast path, by number: filled once a number has been called COMPILE_AFTER
        times."""
        self.decoders: dict[int, Decoder] = {}
        """The argument decoders of the same numbers, compiled (see compile_decoder)."""
        self._calls: dict[int, int] = {}
        self._read_registers = self.cpu.syscall_registers
        self._set_return = self.cpu.set_syscall_return
        self._gate = self.cpu.gate
        write = table.number("write")
        self._write_number = -1 if write is None or self._gate is None else write
        """The call the gate's write lane answers natively once armed (see _arm_write)."""
        if self._gate is not None and write is not None:
            self._gate.open_lane(write, machine.arch.syscall_trap, MAX_RW)
        self._log: WriteLog | None = None
        """The gate's log of traced writes, once one was armed (see _arm_write)."""
        self._logged: tuple[int, int] = (0, 0)
        """Whose writes the log holds: (tid, decoded fd)."""

    def trace(self, numbers: Iterable[int], tids: set[int] | None) -> None:
        self.traced = frozenset(numbers)
        self.traced_tids = tids
        if self._gate is not None:
            self._gate.lane.armed = 0

    def is_traced(self, number: int, tid: int) -> bool:
        return number in self.traced and (self.traced_tids is None or tid in self.traced_tids)

    def on_syscall(self) -> None:
        if self._log is not None and self._log.count:
            self.drain_log()
        if self.cpu.tlb_growth_due:
            self.cpu.grow_tlb()
        regs = self._read_registers()
        number = regs[0]
        invoke = self.invokers.get(number)
        if invoke is None:
            self._general(regs)
            return
        ctx = self.machine.ctx
        if number in self.traced and (self.traced_tids is None
                                      or ctx.task.tid in self.traced_tids):
            self._traced(ctx, number, regs)
            return
        try:
            result = invoke(ctx, regs)
        except SyscallError as err:
            result = -int(err.errno)
        if type(result) is int:
            self._set_return(result)
            if number == self._write_number and result > 0:
                self._arm_write(ctx, regs, regs[1], False)
            task = ctx.task
            # _returned written out: the hot path saves the call.
            if task.saved_sigmask is not None:
                task.sigmask, task.saved_sigmask = task.saved_sigmask, None
            if task.deliverable():
                self.cpu.stop()
            return
        self._outcome(ctx.task, number, self.bound[number].spec,
                      self.decoders[number](regs[1:]), result, False)

    def _arm_write(self, ctx: SyscallContext, regs: Sequence[int], fd: int,
                   traced: bool) -> None:
        """After a write the model made on a plain host file from a readable region, let
        the gate make the next ones like it natively (emulator/cpu.py: WriteLane). A
        traced write only if its observers take the calls in batches (WritesAnswered):
        the gate then logs each one, and :meth:`drain_log` publishes them."""
        gate = self._gate
        if gate is None:
            return
        entry = ctx.fds.entries.get(fd)
        host_fd = entry.file.direct_write_fd if entry is not None else None
        if host_fd is None:
            return
        log = None
        if traced:
            capture = self.bus.write_capture(host_fd)
            if capture is None:
                return
            log = self._log = gate.keep_log(capture)
            self._logged = (ctx.task.tid, fd)
        span = self.machine.memory.readable_span(regs[2])
        if span is not None:
            gate.arm_write(regs[1], host_fd, *span, log=log)

    def drain_log(self) -> None:
        """Publish the traced writes the gate answered since Python last ran: before any
        other event (at the next syscall, and when the slice ends)."""
        gate = self._gate
        if gate is None or self._log is None or not self._log.count:
            return
        tid, fd = self._logged
        calls = [((fd, buf, count), result, data)
                 for _, buf, count, result, data in gate.take_log()]
        spec = self.bound[self._write_number].spec
        self.bus.publish(WritesAnswered(tid, self._write_number, spec.name, spec, calls,
                                        self.now()))

    def _traced(self, ctx: SyscallContext, number: int, regs: Sequence[int]) -> None:
        """A traced call of a number already compiled (see _general for the first ones)."""
        task = ctx.task
        spec = self.bound[number].spec
        args = self.decoders[number](regs[1:])
        publish = self.bus.publish
        publish(SyscallEnter(task.tid, number, spec.name, spec, args, self.now()))
        note = ""
        try:
            result = spec.handler(ctx, *args)  # type: ignore[misc]
        except SyscallError as err:
            note = err.note
            result = -int(err.errno)
        if type(result) is int:
            self._set_return(result)
            publish(SyscallExit(task.tid, number, spec.name, spec, args, result, self.now(),
                                False, note))
            if number == self._write_number and result > 0:
                self._arm_write(ctx, regs, args[0], True)
            self._returned(task)
            return
        self._outcome(task, number, spec, args, result, True)

    def _returned(self, task: Task) -> None:
        """After a call returned: a mask a call swapped in for its duration (sigsuspend,
        ppoll) is put back, and a signal it made deliverable ends the slice."""
        if task.saved_sigmask is not None:
            task.sigmask, task.saved_sigmask = task.saved_sigmask, None
        if task.deliverable():
            self.cpu.stop()

    def _general(self, regs: Sequence[int]) -> None:
        """Any call: traced ones publish their entry and exit around the handler."""
        machine = self.machine
        task = machine.current
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
        decode = self.decoders.get(number)
        if decode is None:
            decode = bound.decode
            seen = self._calls[number] = self._calls.get(number, 0) + 1
            if seen >= COMPILE_AFTER:
                abi = self.table.abi
                self.decoders[number] = compile_decoder(spec, abi.word_size, abi.align_pairs)
                self.invokers[number] = make_invoker(spec, abi.word_size, abi.align_pairs)
        args = decode(regs[1:])
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
            self._set_return(result)
            if traced:
                self.bus.publish(SyscallExit(task.tid, number, spec.name, spec, args, result,
                                             self.now(), note=note))
            if number == self._write_number and result > 0:
                self._arm_write(machine.ctx, regs, args[0], traced)
            self._returned(task)
            return
        self._outcome(task, number, spec, args, result, traced)

    def _outcome(self, task: Task, number: int, spec: SyscallSpec, args: tuple[int, ...],
                 result: object, traced: bool) -> None:
        """A call that did not return a value: it blocked, or it does not return."""
        if isinstance(result, Block):
            task.blocked = PendingSyscall(number, spec.name, args, result, spec)
            scheduler = self.machine.kernel.scheduler
            scheduler.block(task, result)
            if task.deliverable():
                # A host signal whose handler ran while this call was being made (after
                # the slice's last look): Linux would not sleep with it pending.
                scheduler.interrupt(task)
            self.cpu.stop()
            return
        # NO_RETURN: exit, exit_group, rt_sigreturn; EXECED: the thread is gone, but strace
        # shows the call's 0.
        if traced and (spec.ret is Ret.NONE or result is EXECED):
            self.bus.publish(SyscallExit(task.tid, number, spec.name, spec, args,
                                         0 if result is EXECED else None, self.now()))
        self.cpu.stop()

    def _unsupported(self, tid: int, number: int, regs: Sequence[int]) -> None:
        self._set_return(ENOSYS)
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

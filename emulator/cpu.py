"""A thin wrapper over one Unicorn engine: fast register access, stop reasons, contexts.

Register reads through the Python binding cost several microseconds each; the syscall
path reads the number and six arguments with one ``uc_reg_read_batch`` call into
preallocated ctypes arrays. Hooks only record why emulation stopped (a fault address,
an interrupt number); the run loop acts on it after ``emu_start`` returns.

The per-syscall calls go through :data:`RAW`, a second handle on Unicorn's library
whose functions have no ``argtypes``: ctypes then passes the prebuilt ctypes objects
as they are instead of converting every argument (uc_reg_write 0.9 -> 0.4 us,
uc_reg_read_batch 1.6 -> 0.9 us). Every argument must therefore be a ctypes object of
the exact C type.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from unicorn import Uc, UcError
from unicorn.unicorn_py3.unicorn import uc_hook_h, uclib

RAW = ctypes.CDLL(uclib._name)
"""Unicorn's functions without argtypes (see the module docstring)."""
_reg_read_batch = RAW.uc_reg_read_batch
_reg_write = RAW.uc_reg_write

if TYPE_CHECKING:
    from unicorn import UcContext

    from emulator.arch.base import Arch


class RegisterBatch:
    """Reads a fixed list of registers with one C call."""

    __slots__ = ("_count", "_count_arg", "_ids", "_ptrs", "_uch", "_values")

    def __init__(self, uc: Uc, reg_ids: Sequence[int]) -> None:
        self._count = len(reg_ids)
        self._ids = (ctypes.c_int * self._count)(*reg_ids)
        self._values = (ctypes.c_uint64 * self._count)()
        base = ctypes.addressof(self._values)
        self._ptrs = (ctypes.c_void_p * self._count)(*(base + 8 * i for i in range(self._count)))
        self._uch = ctypes.c_void_p(uc._uch.value)
        self._count_arg = ctypes.c_int(self._count)

    def read(self) -> list[int]:
        status = _reg_read_batch(self._uch, self._ids, self._ptrs, self._count_arg)
        if status:
            raise UcError(status)
        return self._values[:]


@dataclass(frozen=True, slots=True)
class Fault:
    """An invalid memory access Unicorn reported (recorded by the memory hook)."""

    address: int
    write: bool
    fetch: bool
    mapped: bool
    """The page is mapped but the access was not allowed (a protection fault)."""


@dataclass(frozen=True, slots=True)
class Trap:
    """A CPU exception other than a syscall: an interrupt number and where it happened."""

    kind: str
    """``divide``, ``breakpoint``, ``illegal``, ``segv``, ``bus`` (see the Arch hooks)."""
    pc: int
    address: int = 0


class Cpu:
    def __init__(self, arch: Arch) -> None:
        self.arch = arch
        self.uc = arch.create_uc()
        self._uch = self.uc._uch
        self._raw_uch = ctypes.c_void_p(self._uch.value)
        self._value = ctypes.c_uint64()
        self._value_ref = ctypes.byref(self._value)
        self._mask = arch.abi.word_mask
        self._ret_reg = ctypes.c_int(arch.ret_reg)
        self._callbacks: list[object] = []
        self.hook_error: BaseException | None = None
        self._syscall_batch = RegisterBatch(self.uc, arch.syscall_regs)
        self.fault: Fault | None = None
        self.trap: Trap | None = None
        self.stop_requested = False
        self.on_syscall: Callable[[], None] = _unset
        self.after_stop: list[Callable[[], None]] = []
        """Work that must wait until emulation has stopped (changing PC, switching threads)."""
        arch.install_hooks(self)

    # Registers ---------------------------------------------------------------------------

    def syscall_registers(self) -> list[int]:
        return self._syscall_batch.read()

    def reg(self, reg_id: int) -> int:
        return int(self.uc.reg_read(reg_id))

    def set_reg(self, reg_id: int, value: int) -> None:
        self.uc.reg_write(reg_id, value)

    def set_regs(self, values: dict[int, int]) -> None:
        for reg_id, value in values.items():
            self.uc.reg_write(reg_id, value)

    @property
    def pc(self) -> int:
        return int(self.uc.reg_read(self.arch.pc_reg))

    @property
    def sp(self) -> int:
        return int(self.uc.reg_read(self.arch.sp_reg))

    def set_return(self, value: int) -> None:
        # Direct: the binding's reg_write dispatches on register types at every call.
        self._value.value = value & self._mask
        status = _reg_write(self._raw_uch, self._ret_reg, self._value_ref)
        if status:
            raise UcError(status)

    # Hooks -------------------------------------------------------------------------------

    def add_hook(self, kind: int, cfunctype: type, callback: Callable[..., object],
                 begin: int = 1, end: int = 0, *extra: int) -> None:
        """Register ``callback`` directly with Unicorn (the binding adds a wrapper layer per
        call). An exception in it stops emulation and is raised again by run()."""
        cpu = self

        def guarded(_handle: int, *args: object) -> object:
            try:
                return callback(*args[:-1])
            except BaseException as exc:
                if cpu.hook_error is None:
                    cpu.hook_error = exc
                uclib.uc_emu_stop(cpu._uch)
                return False

        def guarded_no_args(_handle: int, _user_data: object) -> object:
            # The syscall instruction hook: no arguments to slice on every call.
            try:
                return callback()
            except BaseException as exc:
                if cpu.hook_error is None:
                    cpu.hook_error = exc
                uclib.uc_emu_stop(cpu._uch)
                return False

        function = cfunctype(guarded_no_args if len(cfunctype._argtypes_) == 2 else guarded)
        self._callbacks.append(function)
        handle = uc_hook_h()
        status = uclib.uc_hook_add(self._uch, ctypes.byref(handle), kind,
                                   ctypes.cast(function, ctypes.c_void_p), None,
                                   ctypes.c_uint64(begin), ctypes.c_uint64(end),
                                   *(ctypes.c_int(x) for x in extra))
        if status:
            raise UcError(status)

    # Execution ---------------------------------------------------------------------------

    def stop(self) -> None:
        """End the current emulation slice once the current instruction completes."""
        self.stop_requested = True
        self.uc.emu_stop()

    def run(self, begin: int) -> None:
        """Emulate from ``begin`` until a hook stops emulation; faults raise UcError."""
        self.stop_requested = False
        self.fault = None
        self.trap = None
        self.hook_error = None
        try:
            self.uc.emu_start(begin, self.arch.never_address)
        finally:
            error, self.hook_error = self.hook_error, None
            if error is not None:
                raise error

    def run_after_stop(self) -> None:
        actions, self.after_stop = self.after_stop, []
        for action in actions:
            action()

    # Threads -----------------------------------------------------------------------------

    def save(self) -> UcContext:
        return self.uc.context_save()

    def restore(self, context: UcContext) -> None:
        self.uc.context_restore(context)


def _unset() -> None:  # pragma: no cover - replaced before the first emu_start
    raise RuntimeError("syscall hook used before the machine was attached")

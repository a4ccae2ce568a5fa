"""The time slice: ending the running guest thread's turn at a safe point.

Why not ``emu_stop`` from a timer thread: Unicorn 2.1.4 (and upstream at the time of
writing) checks for exit requests after every guest load and store
(tcg-op.c: check_exit_request) and exits with cpu_loop_exit_restore, which rewinds
the PC to the start of the *current* instruction. If the request arrives between the
store of a read-modify-write instruction and the check, that instruction runs twice
after resuming: ``lock cmpxchg`` then fails spuriously, ``ldrex/strex`` loops add
twice, and Go's mutexes break (``sync: unlock of unlocked mutex``).

What we do instead: a UC_HOOK_BLOCK hook whose callback is a C function pointer, so
no Python runs per block. Normally it points at a pure libc function (``labs``),
which does nothing; to end a slice the timer thread swaps the pointer to
``uc_emu_stop``. Unicorn calls block hooks after syncing the PC and before the TB's
first instruction, and checks for the exit right after, so the thread stops exactly
between two translation blocks, with nothing half done.
"""

from __future__ import annotations

import ctypes
import threading
import time

from unicorn import UC_HOOK_BLOCK, Uc
from unicorn.unicorn_py3.unicorn import uc_hook_h, uclib

_LIBC = ctypes.CDLL(None)
_NOOP = ctypes.cast(_LIBC.labs, ctypes.c_void_p).value
_STOP = ctypes.cast(uclib.uc_emu_stop, ctypes.c_void_p).value
_ALL_BEGIN, _ALL_END = 1, 0  # begin > end: every address


class SafeStopError(RuntimeError):
    """The installed Unicorn does not lay out its hook record as 2.1.x does."""


class BlockStopper:
    """A block hook whose C callback can be switched between 'nothing' and 'stop'."""

    def __init__(self, uc: Uc) -> None:
        if _NOOP is None or _STOP is None:
            raise SafeStopError("cannot find C functions for the block hook")
        # With exactly one hook of a kind, Unicorn compiles a direct call to its callback
        # into each block (gen_uc_tracecode's inline hooks), and swapping the pointer
        # would have no effect; with two it calls helper_uc_tracecode, which reads the
        # callback at run time. The second hook is the same pure no-op.
        records = [self._add(uc) for _ in range(2)]
        self._slot = self._find_callback_slot(records[0])

    @staticmethod
    def _add(uc: Uc) -> int:
        handle = uc_hook_h()
        status = uclib.uc_hook_add(uc._uch, ctypes.byref(handle), UC_HOOK_BLOCK,
                                   ctypes.c_void_p(_NOOP), None, ctypes.c_uint64(_ALL_BEGIN),
                                   ctypes.c_uint64(_ALL_END))
        if status:
            raise SafeStopError(f"uc_hook_add failed ({status})")
        return int(handle.value)

    @staticmethod
    def _find_callback_slot(record: int) -> ctypes.c_void_p:
        # struct hook (include/uc_priv.h): ... uint64_t begin, end; void *callback; ...
        # Find the callback by its value right after begin/end, so a layout change is
        # detected rather than written through.
        words = (ctypes.c_uint64 * 12).from_address(record)
        for i in range(2, 12):
            if words[i] == _NOOP and words[i - 2] == _ALL_BEGIN and words[i - 1] == _ALL_END:
                return ctypes.c_void_p.from_address(record + 8 * i)
        raise SafeStopError("unexpected layout of Unicorn's hook record")

    def request_stop(self) -> None:
        self._slot.value = _STOP

    def clear(self) -> None:
        self._slot.value = _NOOP


class SliceTimer:
    """Ends the current slice after ``quantum`` seconds, at the next block boundary."""

    def __init__(self, uc: Uc, quantum: float) -> None:
        self.quantum = quantum
        self.fired = False
        self.stopper = BlockStopper(uc)
        self._armed = False
        self._generation = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._quit = False
        self._thread = threading.Thread(target=self._loop, name="elftrace-slice", daemon=True)
        self._started = False

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._thread.start()

    def stop(self) -> None:
        self._quit = True
        self._wake.set()

    def arm(self) -> None:
        with self._lock:
            self.fired = False
            self._armed = True
            self._generation += 1
        self._wake.set()

    def disarm(self) -> None:
        with self._lock:
            self._armed = False
            self.stopper.clear()

    def _loop(self) -> None:
        while not self._quit:
            self._wake.wait()
            if self._quit:
                return
            with self._lock:
                generation = self._generation
            time.sleep(self.quantum)
            with self._lock:
                if self._armed and self._generation == generation:
                    self.fired = True
                    self.stopper.request_stop()
                elif not self._armed:
                    self._wake.clear()

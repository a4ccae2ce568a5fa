"""The time slice: ending the running guest thread's turn at a safe point.

Why not ``emu_stop`` from a timer thread: Unicorn 2.1.4 (and upstream at the time of
writing) checks for exit requests after every guest load and store
(tcg-op.c: check_exit_request) and exits with cpu_loop_exit_restore, which rewinds
the PC to the start of the *current* instruction. If the request arrives between the
store of a read-modify-write instruction and the check, that instruction runs twice
after resuming: ``lock cmpxchg`` then fails spuriously, ``ldrex/strex`` loops add
twice, and Go's mutexes break (``sync: unlock of unlocked mutex``).

What we do instead: Unicorn calls block hooks after syncing the PC and before a
translation block's first instruction, and checks for exit right after. One block
hook whose callback is a C function is compiled into each block as a direct call
(gen_uc_tracecode's inline hooks), so no Python runs per block. The callback is a
five-instruction host-code stub: if the flag byte it is given is set, tail-call
``uc_emu_stop``, else return. The timer thread only sets the flag; the stop then
happens exactly between two blocks, with nothing half done.

On hosts without a stub here (not x86-64), the fallback is two block hooks whose C
callback pointer the timer swaps between ``labs`` (a pure no-op) and ``uc_emu_stop``:
correct, but Unicorn then calls them through its generic helper, which costs more.
"""

from __future__ import annotations

import contextlib
import ctypes
import mmap
import platform
import select
import struct
import threading
import time

from unicorn import UC_HOOK_BLOCK, Uc
from unicorn.unicorn_py3.unicorn import uc_hook_h, uclib

_LIBC = ctypes.CDLL(None)
_NOOP = ctypes.cast(_LIBC.labs, ctypes.c_void_p).value
_STOP = ctypes.cast(uclib.uc_emu_stop, ctypes.c_void_p).value
_ALL_BEGIN, _ALL_END = 1, 0  # begin > end: every address


def _x86_64_stub(stop: int) -> bytes:
    """void callback(uc_engine *uc, uint64_t pc, uint32_t size, uint8_t *flag)."""
    return (bytes.fromhex("803900")          # cmp byte ptr [rcx], 0
            + bytes.fromhex("7501")          # jne stop
            + bytes.fromhex("c3")            # ret
            + bytes.fromhex("ff2500000000")  # stop: jmp qword ptr [rip + 0]
            + struct.pack("<Q", stop))       # .quad uc_emu_stop   (rdi = uc, unchanged)


def _x86_64_counting_stub(stop: int) -> bytes:
    """The same callback for deterministic runs; its user data is a :class:`_WorkCounter`:
    count the block, and stop when the count reaches the limit or the flag is set."""
    return (bytes.fromhex("48ff01")          # inc qword ptr [rcx]          (count)
            + bytes.fromhex("488b01")        # mov rax, qword ptr [rcx]
            + bytes.fromhex("483b4108")      # cmp rax, qword ptr [rcx + 8] (limit)
            + bytes.fromhex("7307")          # jae stop
            + bytes.fromhex("80791000")      # cmp byte ptr [rcx + 16], 0   (flag)
            + bytes.fromhex("7501")          # jne stop
            + bytes.fromhex("c3")            # ret
            + bytes.fromhex("ff2500000000")  # stop: jmp qword ptr [rip + 0]
            + struct.pack("<Q", stop))


class _WorkCounter(ctypes.Structure):
    _fields_ = (("count", ctypes.c_uint64), ("limit", ctypes.c_uint64),
                ("flag", ctypes.c_uint8))


NO_LIMIT = (1 << 64) - 1
_STUBS = {"x86_64": _x86_64_stub}
_COUNTING_STUBS = {"x86_64": _x86_64_counting_stub}


class SafeStopError(RuntimeError):
    """Neither stop mechanism can be set up with the installed Unicorn."""


def _add_block_hook(uc: Uc, callback: int, user_data: int | None) -> int:
    handle = uc_hook_h()
    status = uclib.uc_hook_add(uc._uch, ctypes.byref(handle), UC_HOOK_BLOCK,
                               ctypes.c_void_p(callback), ctypes.c_void_p(user_data),
                               ctypes.c_uint64(_ALL_BEGIN), ctypes.c_uint64(_ALL_END))
    if status:
        raise SafeStopError(f"uc_hook_add failed ({status})")
    return int(handle.value)


class BlockStopper:
    """Asks the emulation to stop at the next translation-block boundary.

    With ``counting``, the same native callback also counts executed blocks and stops
    when the count reaches ``limit``: guest work as a deterministic measure, for
    --deterministic's time slices and virtual clock (no Python runs per block)."""

    def __init__(self, uc: Uc, *, counting: bool = False) -> None:
        if _STOP is None:
            raise SafeStopError("cannot find uc_emu_stop")
        self.counter: _WorkCounter | None = None
        if counting:
            counting_stub = _COUNTING_STUBS.get(platform.machine())
            if counting_stub is None:
                raise SafeStopError(f"--deterministic needs an x86-64 host, not "
                                    f"{platform.machine()}")
            self.counter = _WorkCounter(0, NO_LIMIT, 0)
            self._init_stub(uc, counting_stub(_STOP), ctypes.addressof(self.counter))
            return
        stub = _STUBS.get(platform.machine())
        if stub is not None:
            self._init_stub(uc, stub(_STOP))
        else:
            self._init_swap(uc)

    def _init_stub(self, uc: Uc, code: bytes, user_data: int | None = None) -> None:
        self._code = mmap.mmap(-1, mmap.PAGESIZE,
                               prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        self._code.write(code)
        self._code_view = (ctypes.c_char * len(code)).from_buffer(self._code)
        self._flag = ctypes.c_uint8(0)
        if user_data is None:
            user_data = ctypes.addressof(self._flag)
        _add_block_hook(uc, ctypes.addressof(self._code_view), user_data)
        self._slot: ctypes.c_void_p | None = None

    def work(self) -> int:
        """Blocks executed so far (counting mode)."""
        assert self.counter is not None
        return int(self.counter.count)

    def _init_swap(self, uc: Uc) -> None:
        if _NOOP is None:
            raise SafeStopError("cannot find a no-op C function for the block hook")
        # Two hooks, so Unicorn reads the callback pointer at run time instead of
        # compiling it into each block.
        records = [_add_block_hook(uc, _NOOP, None) for _ in range(2)]
        self._slot = self._find_callback_slot(records[0])

    @staticmethod
    def _find_callback_slot(record: int) -> ctypes.c_void_p:
        # struct hook (include/uc_priv.h): ... uint64_t begin, end; void *callback; ...
        # Found by value right after begin/end, so a layout change is detected.
        words = (ctypes.c_uint64 * 12).from_address(record)
        for i in range(2, 12):
            if words[i] == _NOOP and words[i - 2] == _ALL_BEGIN and words[i - 1] == _ALL_END:
                return ctypes.c_void_p.from_address(record + 8 * i)
        raise SafeStopError("unexpected layout of Unicorn's hook record")

    def request_stop(self) -> None:
        if self.counter is not None:
            self.counter.flag = 1
        elif self._slot is None:
            self._flag.value = 1
        else:
            self._slot.value = _STOP

    def clear(self) -> None:
        if self.counter is not None:
            self.counter.flag = 0
        elif self._slot is None:
            self._flag.value = 0
        else:
            self._slot.value = _NOOP


class SliceTimer:
    """Ends the current slice after ``quantum`` seconds, at the next block boundary; and at
    once when a host signal arrives (``watch_fd`` becomes readable), so that it reaches
    the guest even while a guest thread spins without making syscalls.

    With ``work_quantum`` (deterministic runs), a slice is that many translation blocks
    instead, counted natively: the schedule then depends on the guest's work only."""

    def __init__(self, uc: Uc, quantum: float, work_quantum: int | None = None) -> None:
        self.quantum = quantum
        self.work_quantum = work_quantum
        self._fired = False
        self.stopper = BlockStopper(uc, counting=work_quantum is not None)
        self.watch_fd: int | None = None
        self._armed = False
        self._generation = 0
        self._lock = threading.Lock()
        self._quit = False
        self._handled = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="elftrace-slice", daemon=True)
        self._started = False

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._thread.start()

    def stop(self) -> None:
        self._quit = True
        self._handled.set()

    def after_fork(self, watch_fd: int) -> None:
        """In a forked process, where the timer thread no longer exists (and its lock may
        have been held): a new thread, watching the new wake-up pipe."""
        self._lock = threading.Lock()
        self._handled = threading.Event()
        self._armed = False
        self._quit = False
        self.stopper.clear()
        self.watch_fd = watch_fd
        self._thread = threading.Thread(target=self._loop, name="elftrace-slice", daemon=True)
        self._started = False
        self.start()

    @property
    def fired(self) -> bool:
        """The last armed slice ended because its time (or work) was up."""
        return self._fired

    def arm(self) -> None:
        counter = self.stopper.counter
        if counter is not None:
            self._fired = False
            counter.limit = counter.count + (self.work_quantum or 1)
            return
        with self._lock:
            self._fired = False
            self._armed = True
            self._generation += 1

    def disarm(self) -> None:
        counter = self.stopper.counter
        if counter is not None:
            self._fired = bool(counter.count >= counter.limit)
            counter.limit = NO_LIMIT
            with self._lock:
                self.stopper.clear()
            return
        with self._lock:
            self._armed = False
            self.stopper.clear()

    def signal_handled(self) -> None:
        """The run loop has taken the pending host signals."""
        self._handled.set()

    def _loop(self) -> None:
        last = -1
        while not self._quit:
            readable: list[int] = []
            if self.watch_fd is not None:
                with contextlib.suppress(OSError, ValueError):
                    readable, _, _ = select.select([self.watch_fd], [], [], self.quantum)
            else:
                time.sleep(self.quantum)
            if self._quit:
                return
            with self._lock:
                if readable:
                    self._handled.clear()
                    self.stopper.request_stop()
                elif self._armed and self._generation == last:
                    self._fired = True
                    self.stopper.request_stop()
                last = self._generation if self._armed else -1
            if readable:
                # Wait until the run loop drains the pipe, rather than spinning on it.
                self._handled.wait(1.0)

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

On x86-64 hosts the syscall hook goes through a :class:`SyscallGate` instead: a small
host-code stub is the hook Unicorn calls; it reads the syscall registers into a shared
buffer with ``uc_reg_read_batch``, calls the Python callback with no arguments, and
writes the return value the callback left in the buffer back with ``uc_reg_write``.
The same C calls, made from native code: ~0.1 us instead of ~1.5 us through ctypes.

The gate also has a *write lane* (:class:`WriteLane`): after the kernel model has
answered a ``write(2)`` to a plain host file from a readable guest region, the
dispatcher arms the lane with that call's facts (number, guest fd, host fd, the
region and its host address); while it stays armed, the stub answers the same kind of
write itself, calling the host's ``write`` on the same bytes, and Python does not run.
The stub disarms the lane before it hands any syscall to Python, and the CPU disarms it
before every emulation slice, so anything that could change those facts (close, dup2,
fcntl, munmap, mprotect, a thread or process switch) happens with the lane disarmed;
a failing host write also goes to Python, which makes the call again and reports or
waits as the model says (nothing was written). While writes are traced, the lane is armed
only for observers that take them in batches, and with a :class:`WriteLog`: the stub
records each call (its registers, the buffer's first bytes, the result) and a full log
sends the next write to Python; the dispatcher publishes the records before any other
event (see emulator/dispatch.py: drain_log).
"""

from __future__ import annotations

import ctypes
import mmap
import platform
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from unicorn import Uc, UcError
from unicorn.unicorn_py3.unicorn import uc_hook_h, uclib

RAW = ctypes.CDLL(uclib._name)
"""Unicorn's functions without argtypes (see the module docstring)."""
_LIBC = ctypes.CDLL(None)
_reg_read_batch = RAW.uc_reg_read_batch
_reg_write = RAW.uc_reg_write

_PROT_READ, _PROT_WRITE, _PROT_EXEC, _PROT_ALL = 1, 2, 4, 7
_PAGE_SIZE = 4096
"""The TLB hook's page: Unicorn's target page size on every architecture we run."""
_UC_CTL_TLB_FLUSH_WRITE = 11 | 1 << 30
"""UC_CTL_WRITE(UC_CTL_TLB_FLUSH, 0): the binding has no method for it."""
_TLB_FIRST_ENTRIES = 256
"""Unicorn's TLB size at start (QEMU's CPU_TLB_DYN_DEFAULT_BITS), per MMU mode."""
_TLB_MAX_ENTRIES = 1 << 16
_NO_LIMIT = 1 << 62
_TLB_FILL_CFUNC = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p, ctypes.c_uint64,
                                   ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)

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


class _GateRecord(ctypes.Structure):
    """What the gate stub reads (offsets are fixed in its code)."""

    _fields_ = (("reg_read_batch", ctypes.c_void_p),  # 0
                ("reg_write", ctypes.c_void_p),       # 8
                ("callback", ctypes.c_void_p),        # 16
                ("ids", ctypes.c_void_p),             # 24
                ("ptrs", ctypes.c_void_p),            # 32
                ("count", ctypes.c_int32),            # 40
                ("ret_reg", ctypes.c_int32),          # 44
                ("slots", ctypes.c_void_p),           # 48
                ("lane", ctypes.c_void_p))            # 56


class WriteLane(ctypes.Structure):
    """The write the gate may answer natively (see the module docstring); offsets are
    fixed in the stub's code."""

    _fields_ = (("armed", ctypes.c_uint64),           # 0
                ("number", ctypes.c_uint64),          # 8   the syscall number register
                ("intno", ctypes.c_uint64),           # 16  the trap's (0: SYSCALL insn)
                ("guest_fd", ctypes.c_uint64),        # 24  the fd register, as read
                ("host_fd", ctypes.c_uint64),         # 32
                ("lo", ctypes.c_uint64),              # 40  guest region [lo, hi)
                ("hi", ctypes.c_uint64),              # 48
                ("host", ctypes.c_uint64),            # 56  host address of lo
                ("write", ctypes.c_void_p),           # 64  the host libc's write()
                ("max_count", ctypes.c_uint64),       # 72  larger writes go to Python
                ("hits", ctypes.c_uint64),            # 80  writes answered natively
                ("log", ctypes.c_void_p))             # 88  a WriteLog, or NULL


class WriteLog(ctypes.Structure):
    """Where the stub records the writes it answers while they are traced (offsets are
    fixed in its code). Each record is ``fd, buf, count, result`` (uint64 each) and the
    buffer's first ``capture`` bytes, as they were when written; a full log sends the
    next write to Python, which drains it first."""

    _fields_ = (("count", ctypes.c_uint64),           # 0   records filled
                ("capacity", ctypes.c_uint64),        # 8
                ("record_size", ctypes.c_uint64),     # 16  32 + capture, rounded up to 8
                ("capture", ctypes.c_uint64),         # 24  bytes of data kept per record
                ("records", ctypes.c_void_p))         # 32


_RECORD_HEAD = struct.Struct("<4Q")


class RegionTable(ctypes.Structure):
    """The guest's mappings as the TLB hook's host code reads them (offsets fixed in
    its code): ``count`` sorted, non-overlapping [start, end) ranges and their UC_PROT_*
    bits, kept by emulator/memory.py: RegionMap; and the TLB's fill counters
    (Cpu.grow_tlb)."""

    _fields_ = (("count", ctypes.c_uint64),           # 0
                ("starts", ctypes.c_void_p),          # 8   uint64[count]
                ("ends", ctypes.c_void_p),            # 16  uint64[count]
                ("prots", ctypes.c_void_p),           # 24  uint64[count]
                ("python_only", ctypes.c_uint64),     # 32  nonzero: every fill to Python
                ("fills", ctypes.c_uint64),           # 40  since the last flush
                ("fill_limit", ctypes.c_uint64),      # 48  from there on, fills to Python
                ("python", ctypes.c_void_p))          # 56  the Python fill hook


# The TLB fill hook's host code (x86-64, System V ABI): ``bool fill(uc_engine *uc,
# uint64_t page, uc_mem_type type, uc_tlb_entry *entry, RegionTable *table)``. It grants
# an access its region allows, as the Python hook would (a data access gets the page
# without EXEC, a fetch without WRITE); anything else (no region, a refusal, the fill
# limit, python_only) it hands to the Python hook with the same arguments (a tail call).
# Assembled with GNU as from the listing in the comments.
_FILL_X86_64 = bytes.fromhex(
    "4d8b4828"          # 000 fill:    mov r9, [r8+40]       (fills)
    "4d3b4830"          # 004          cmp r9, [r8+48]
    "0f839a000000"      # 008          jae python            (fill limit reached)
    "4983782000"        # 00e          cmp qword [r8+32], 0
    "0f858f000000"      # 013          jne python            (python_only)
    "31c0"              # 019          xor eax, eax          (lo = 0)
    "4d8b10"            # 01b          mov r10, [r8]         (hi = count)
    "4d8b5808"          # 01e          mov r11, [r8+8]       (starts)
    "4c39d0"            # 022 search:  cmp rax, r10
    "7318"              # 025          jae found
    "4e8d0c10"          # 027          lea r9, [rax+r10]
    "49d1e9"            # 02b          shr r9, 1             (mid)
    "4b3934cb"          # 02e          cmp [r11+r9*8], rsi
    "7706"              # 032          ja upper              (starts[mid] > page)
    "498d4101"          # 034          lea rax, [r9+1]       (lo = mid + 1)
    "ebe8"              # 038          jmp search
    "4d89ca"            # 03a upper:   mov r10, r9           (hi = mid)
    "ebe3"              # 03d          jmp search
    "4885c0"            # 03f found:   test rax, rax
    "7464"              # 042          jz python             (below every region)
    "48ffc8"            # 044          dec rax               (i: the last start <= page)
    "4d8b4810"          # 047          mov r9, [r8+16]
    "493934c1"          # 04b          cmp [r9+rax*8], rsi
    "7657"              # 04f          jbe python            (ends[i] <= page: unmapped)
    "4d8b4818"          # 051          mov r9, [r8+24]
    "4d8b0cc1"          # 055          mov r9, [r9+rax*8]    (prot)
    "41ba01000000"      # 059          mov r10d, 1           (need READ,
    "83fa11"            # 05f          cmp edx, 17
    "7506"              # 062          jne fetch
    "41ba02000000"      # 064          mov r10d, 2            WRITE for UC_MEM_WRITE,
    "83fa12"            # 06a fetch:   cmp edx, 18
    "7506"              # 06d          jne check
    "41ba04000000"      # 06f          mov r10d, 4            EXEC for UC_MEM_FETCH)
    "4d85d1"            # 075 check:   test r9, r10
    "742e"              # 078          jz python             (refused: Python records it)
    "4d89cb"            # 07a          mov r11, r9
    "4983e306"          # 07d          and r11, 6
    "4983fb06"          # 081          cmp r11, 6
    "7510"              # 085          jne entry             (not both WRITE and EXEC)
    "4183fa04"          # 087          cmp r10d, 4
    "7406"              # 08b          je nowrite
    "4983e1fb"          # 08d          and r9, ~4            (data: no EXEC)
    "eb04"              # 091          jmp entry
    "4983e1fd"          # 093 nowrite: and r9, ~2            (fetch: no WRITE)
    "488931"            # 097 entry:   mov [rcx], rsi        (entry->paddr = page)
    "44894908"          # 09a          mov [rcx+8], r9d      (entry->perms)
    "49ff4028"          # 09e          inc qword [r8+40]     (fills)
    "b801000000"        # 0a2          mov eax, 1
    "c3"                # 0a7          ret
    "41ff6038")         # 0a8 python:  jmp [r8+56]
_FILL_STUBS = {"x86_64": _FILL_X86_64}


# The gate's host code (x86-64, System V ABI). Entry INSN (offset 0) is an instruction
# hook, ``void (uc_engine *uc, gate *g)``; entry INTR (offset 0x0f) an interrupt hook,
# ``void (uc_engine *uc, uint32_t intno, gate *g)``, which first stores intno in
# slots[9]. ``slots`` is uint64[10]: the syscall registers in [0..6], the return
# value in [7], "write the return value" in [8]. Between reading the registers and
# calling Python, the write lane (WriteLane; lane->armed is cleared on every syscall
# and set again only by a native write that succeeded), and with a log (WriteLog), the
# call's record: its registers and first bytes before the write, its result after.
# Assembled with GNU as from the listing in the comments (offsets on the left).
_GATE_X86_64 = bytes.fromhex(
    "53"                # 000 insn:    push rbx
    "4154"              # 001          push r12
    "4883ec08"          # 003          sub rsp, 8            (16-byte alignment for calls)
    "4889f3"            # 007          mov rbx, rsi          (gate)
    "4989fc"            # 00a          mov r12, rdi          (uc)
    "eb17"              # 00d          jmp common
    "53"                # 00f intr:    push rbx
    "4154"              # 010          push r12
    "4883ec08"          # 012          sub rsp, 8
    "4889d3"            # 016          mov rbx, rdx          (gate)
    "4989fc"            # 019          mov r12, rdi          (uc)
    "488b4330"          # 01c          mov rax, [rbx+48]     (slots)
    "89f6"              # 020          mov esi, esi          (zero-extend intno)
    "48897048"          # 022          mov [rax+72], rsi     (slots[9] = intno)
    "488b7318"          # 026 common:  mov rsi, [rbx+24]     (ids)
    "488b5320"          # 02a          mov rdx, [rbx+32]     (ptrs)
    "8b4b28"            # 02e          mov ecx, [rbx+40]     (count)
    "ff13"              # 031          call [rbx]            uc_reg_read_batch(uc, ...)
    "488b4330"          # 033          mov rax, [rbx+48]     (slots)
    "488b4b38"          # 037          mov rcx, [rbx+56]     (lane)
    "48833900"          # 03b          cmp qword [rcx], 0    (armed?)
    "0f840e010000"      # 03f          je python
    "48c70100000000"    # 045          mov qword [rcx], 0    (disarm)
    "488b10"            # 04c          mov rdx, [rax]
    "483b5108"          # 04f          cmp rdx, [rcx+8]      (number)
    "0f85fa000000"      # 053          jne python
    "488b5048"          # 059          mov rdx, [rax+72]
    "483b5110"          # 05d          cmp rdx, [rcx+16]     (intno)
    "0f85ec000000"      # 061          jne python
    "488b5008"          # 067          mov rdx, [rax+8]
    "483b5118"          # 06b          cmp rdx, [rcx+24]     (fd)
    "0f85de000000"      # 06f          jne python
    "488b5018"          # 075          mov rdx, [rax+24]     (count)
    "4885d2"            # 079          test rdx, rdx
    "0f84d1000000"      # 07c          jz python
    "483b5148"          # 082          cmp rdx, [rcx+72]
    "0f87c7000000"      # 086          ja python             (count > max_count)
    "488b7010"          # 08c          mov rsi, [rax+16]     (buf)
    "483b7128"          # 090          cmp rsi, [rcx+40]
    "0f82b9000000"      # 094          jb python             (buf < lo)
    "4c8b4130"          # 09a          mov r8, [rcx+48]
    "4929f0"            # 09e          sub r8, rsi           (hi - buf)
    "0f86ac000000"      # 0a1          jbe python            (buf >= hi)
    "4c39c2"            # 0a7          cmp rdx, r8
    "0f87a3000000"      # 0aa          ja python             (buf + count > hi)
    "482b7128"          # 0b0          sub rsi, [rcx+40]
    "48037138"          # 0b4          add rsi, [rcx+56]     (host address of buf)
    "4c8b4958"          # 0b8          mov r9, [rcx+88]      (log)
    "4d85c9"            # 0bc          test r9, r9
    "7446"              # 0bf          jz write
    "4d8b11"            # 0c1          mov r10, [r9]         (log count)
    "4d3b5108"          # 0c4          cmp r10, [r9+8]
    "0f8385000000"      # 0c8          jae python            (log full: Python drains it)
    "4d0faf5110"        # 0ce          imul r10, [r9+16]     (* record size)
    "4d035120"          # 0d3          add r10, [r9+32]      (+ records: this record)
    "4c8b5808"          # 0d7          mov r11, [rax+8]
    "4d891a"            # 0db          mov [r10], r11        (record.fd)
    "4c8b5810"          # 0de          mov r11, [rax+16]
    "4d895a08"          # 0e2          mov [r10+8], r11      (record.buf)
    "49895210"          # 0e6          mov [r10+16], rdx     (record.count)
    "498d7a20"          # 0ea          lea rdi, [r10+32]     (record.data)
    "4989f0"            # 0ee          mov r8, rsi
    "4889d1"            # 0f1          mov rcx, rdx
    "493b4918"          # 0f4          cmp rcx, [r9+24]
    "7604"              # 0f8          jbe copy
    "498b4918"          # 0fa          mov rcx, [r9+24]      (at most the log's capture)
    "f3a4"              # 0fe copy:    rep movsb             (the first bytes)
    "4c89c6"            # 100          mov rsi, r8
    "488b4b38"          # 103          mov rcx, [rbx+56]     (lane)
    "488b7920"          # 107 write:   mov rdi, [rcx+32]     (host fd)
    "ff5140"            # 10b          call [rcx+64]         write(host_fd, ..., count)
    "4885c0"            # 10e          test rax, rax
    "7840"              # 111          js python             (failed: Python makes the call)
    "488b4b38"          # 113          mov rcx, [rbx+56]
    "48c70101000000"    # 117          mov qword [rcx], 1    (armed again)
    "4883415001"        # 11e          add qword [rcx+80], 1 (hits)
    "4c8b4958"          # 123          mov r9, [rcx+88]      (log)
    "4d85c9"            # 127          test r9, r9
    "7419"              # 12a          jz answered
    "4d8b11"            # 12c          mov r10, [r9]
    "4d89d3"            # 12f          mov r11, r10
    "4d0faf5910"        # 132          imul r11, [r9+16]
    "4d035920"          # 137          add r11, [r9+32]
    "49894318"          # 13b          mov [r11+24], rax     (record.result)
    "49ffc2"            # 13f          inc r10
    "4d8911"            # 142          mov [r9], r10         (log count + 1)
    "488b5330"          # 145 answered: mov rdx, [rbx+48]
    "48894238"          # 149          mov [rdx+56], rax     (slots[7] = result)
    "488d5238"          # 14d          lea rdx, [rdx+56]
    "eb1e"              # 151          jmp store
    "488b4330"          # 153 python:  mov rax, [rbx+48]
    "48c7404000000000"  # 157          mov qword [rax+64], 0 (slots[8] = 0)
    "ff5310"            # 15f          call [rbx+16]         the Python callback
    "488b4330"          # 162          mov rax, [rbx+48]
    "4883784000"        # 166          cmp qword [rax+64], 0
    "740d"              # 16b          je done
    "488d5038"          # 16d          lea rdx, [rax+56]     (&slots[7])
    "4c89e7"            # 171 store:   mov rdi, r12
    "8b732c"            # 174          mov esi, [rbx+44]     (ret_reg)
    "ff5308"            # 177          call [rbx+8]          uc_reg_write(uc, ret_reg, rdx)
    "4883c408"          # 17a done:    add rsp, 8
    "415c"              # 17e          pop r12
    "5b"                # 180          pop rbx
    "c3")               # 181          ret
_GATE_INSN_ENTRY = 0x00
_GATE_INTR_ENTRY = 0x0F
_GATE_STUBS = {"x86_64": _GATE_X86_64}
_SLOT_RETURN, _SLOT_PENDING, _SLOT_INTNO = 7, 8, 9
_GATE_CALLBACK = ctypes.CFUNCTYPE(None)


class SyscallGate:
    """The syscall hook as host code around a zero-argument Python callback (see the
    module docstring). Only available on x86-64 hosts; :meth:`create` returns None
    elsewhere, or if the system refuses an executable page, and the caller falls back
    on an ordinary Python hook."""

    def __init__(self, code: mmap.mmap, uc: Uc, reg_ids: Sequence[int], ret_reg: int,
                 word_mask: int) -> None:
        count = len(reg_ids)
        self._code = code
        self._code_address = ctypes.addressof(ctypes.c_char.from_buffer(code))
        self._slots = (ctypes.c_uint64 * 10)()
        self._ids = (ctypes.c_int * count)(*reg_ids)
        base = ctypes.addressof(self._slots)
        self._ptrs = (ctypes.c_void_p * count)(*(base + 8 * i for i in range(count)))
        self._record = _GateRecord(
            ctypes.cast(RAW.uc_reg_read_batch, ctypes.c_void_p).value,
            ctypes.cast(RAW.uc_reg_write, ctypes.c_void_p).value,
            None, ctypes.addressof(self._ids), ctypes.addressof(self._ptrs), count,
            ret_reg, base)
        self.slots = memoryview(self._slots).cast("B").cast("Q")
        self._unpack = struct.Struct(f"<{count}Q").unpack_from
        self._mask = word_mask
        self._callback: object = None
        self.lane = WriteLane()
        """Never armed until :meth:`open_lane` has said which write it answers."""
        self.lane.write = ctypes.cast(_LIBC.write, ctypes.c_void_p).value
        self._record.lane = ctypes.addressof(self.lane)
        self._log: WriteLog | None = None
        self._records = ctypes.create_string_buffer(0)

    @classmethod
    def create(cls, uc: Uc, reg_ids: Sequence[int], ret_reg: int,
               word_mask: int) -> SyscallGate | None:
        code = _executable(_GATE_STUBS.get(platform.machine()))
        if code is None:
            return None
        return cls(code, uc, reg_ids, ret_reg, word_mask)

    def hook(self, callback: Callable[[], None], intr: bool) -> tuple[int, int]:
        """(host-code address, user data) to register with uc_hook_add: ``callback`` is
        called with the registers in :meth:`registers`."""
        function = _GATE_CALLBACK(callback)
        self._callback = function
        self._record.callback = ctypes.cast(function, ctypes.c_void_p).value
        entry = _GATE_INTR_ENTRY if intr else _GATE_INSN_ENTRY
        return self._code_address + entry, ctypes.addressof(self._record)

    def registers(self) -> tuple[int, ...]:
        """The syscall registers as the stub read them when the hook was entered."""
        return self._unpack(self.slots)

    def intno(self) -> int:
        return int(self.slots[_SLOT_INTNO])

    def open_lane(self, number: int, intno: int, max_count: int) -> None:
        """Let the write lane answer syscall ``number`` (arriving through trap ``intno``,
        0 for x86-64's SYSCALL instruction) of at most ``max_count`` bytes."""
        lane = self.lane
        lane.armed = 0
        lane.number = number
        lane.intno = intno
        lane.max_count = max_count

    def arm_write(self, fd_register: int, host_fd: int, lo: int, hi: int, host: int,
                  log: WriteLog | None = None) -> None:
        """Until the next syscall Python sees, writes to ``fd_register`` from guest
        [lo, hi) (at host address ``host``) go to ``host_fd`` natively, each recorded in
        ``log`` if one is given."""
        lane = self.lane
        if lane.max_count:
            lane.guest_fd = fd_register
            lane.host_fd = host_fd
            lane.lo = lo
            lane.hi = hi
            lane.host = host
            lane.log = None if log is None else ctypes.addressof(log)
            lane.armed = 1

    def keep_log(self, capture: int, capacity: int = 256) -> WriteLog:
        """The log the stub records traced writes in, keeping ``capture`` bytes of each
        (made anew if the capture differs; drain the old one first)."""
        log = self._log
        if log is None or log.capture != capture:
            record_size = 32 + (capture + 7) // 8 * 8
            self._records = ctypes.create_string_buffer(record_size * capacity)
            log = self._log = WriteLog(0, capacity, record_size, capture,
                                       ctypes.addressof(self._records))
        return log

    def take_log(self) -> list[tuple[int, int, int, int, bytes]]:
        """The records in the log (fd, buf, count, result, first bytes), oldest first;
        the log is then empty."""
        log = self._log
        if log is None or not log.count:
            return []
        records = memoryview(self._records)
        size, capture, unpack = log.record_size, log.capture, _RECORD_HEAD.unpack_from
        taken = []
        for offset in range(0, log.count * size, size):
            fd, buf, count, result = unpack(records, offset)
            kept = offset + 32 + (count if count < capture else capture)
            taken.append((fd, buf, count, result, records[offset + 32:kept].tobytes()))
        log.count = 0
        return taken

    def defer_return(self, value: int) -> None:
        """Have the stub write ``value`` to the return register when the callback returns."""
        slots = self.slots
        slots[_SLOT_RETURN] = value & self._mask
        slots[_SLOT_PENDING] = 1


@dataclass(frozen=True, slots=True)
class Fault:
    """An invalid memory access (recorded by the TLB fill hook, see
    :meth:`Cpu.use_page_permissions`)."""

    address: int
    write: bool
    fetch: bool
    mapped: bool
    """The page is mapped but the access was not allowed (a protection fault)."""
    exact: bool = True
    """False while ``address`` is only the page's: the TLB hook sees no more."""


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
        self.syscall_registers: Callable[[], Sequence[int]] = self._syscall_batch.read
        """The syscall number and argument registers; through the gate, as the hook found
        them (so: only inside the syscall hook)."""
        self.set_syscall_return: Callable[[int], None] = self.set_return
        """Set the return register from inside the syscall hook; through the gate, the
        write happens when the hook returns (nothing in the hook reads it back)."""
        self.gate: SyscallGate | None = None
        self.fault: Fault | None = None
        self.lenient_tlb = False
        """Let every page through the TLB hook (only while pinpointing a fault)."""
        self._page_permissions = False
        self.tlb_entries = _TLB_FIRST_ENTRIES
        """How large we believe Unicorn's TLB has grown (see :meth:`grow_tlb`)."""
        self._tlb = RegionTable(fill_limit=2 * _TLB_FIRST_ENTRIES)
        """The fill counters (and, with the host-code hook, the regions it reads)."""
        self._fill_code: mmap.mmap | None = None
        self.tlb_growth_due = False
        """The TLB is thrashing: flush it (grow_tlb) at the next safe point."""
        self.on_tlb_pressure: Callable[[], None] = _nothing
        """Called (from the TLB hook) when the growth becomes due: ask for a safe stop."""
        self.trap: Trap | None = None
        self.stop_requested = False
        self.on_syscall: Callable[[], None] = _unset
        self.after_stop: list[Callable[[], None]] = []
        """Work that must wait until emulation has stopped (changing PC, switching threads)."""
        arch.install_hooks(self)

    # Registers ---------------------------------------------------------------------------

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

    def add_syscall_hook(self, kind: int, cfunctype: type, callback: Callable[..., None],
                         begin: int = 1, end: int = 0, *extra: int) -> None:
        """Register the hook syscalls arrive through (the syscall instruction's, or the
        interrupt hook, which also sees traps: ``callback(intno)``). Through a
        :class:`SyscallGate` where there is one, else as :meth:`add_hook` does."""
        intr = len(cfunctype._argtypes_) == 3  # type: ignore[attr-defined]
        gate = SyscallGate.create(self.uc, self.arch.syscall_regs, self.arch.ret_reg,
                                  self._mask)
        if gate is None:
            self.add_hook(kind, cfunctype, callback, begin, end, *extra)
            return
        cpu = self
        intno = gate.intno

        def gated() -> None:
            try:
                if intr:
                    callback(intno())
                else:
                    callback()
            except BaseException as exc:
                if cpu.hook_error is None:
                    cpu.hook_error = exc
                uclib.uc_emu_stop(cpu._uch)

        address, user_data = gate.hook(gated, intr)
        handle = uc_hook_h()
        status = uclib.uc_hook_add(self._uch, ctypes.byref(handle), kind,
                                   ctypes.c_void_p(address), ctypes.c_void_p(user_data),
                                   ctypes.c_uint64(begin), ctypes.c_uint64(end),
                                   *(ctypes.c_int(x) for x in extra))
        if status:
            raise UcError(status)
        self.gate = gate
        self.syscall_registers = gate.registers
        self.set_syscall_return = gate.defer_return

    # Page permissions --------------------------------------------------------------------

    @property
    def fills(self) -> int:
        """Pages the TLB hook has filled since the last flush."""
        return int(self._tlb.fills)

    def use_page_permissions(self, prot_at: Callable[[int], int],
                             regions: RegionTable | None = None) -> None:
        """Have Unicorn's TLB ask ``prot_at(page)`` (UC_PROT_* bits, -1 if unmapped) for
        every page it fills, and record a refused access as :attr:`fault`.

        Why: in its default TLB mode Unicorn 2.1.4 gives every page the guest's MMU
        permissions, which with no guest page tables means executable, and never lets a
        store to an executable page take the fast path (it might be code). So every
        store in the program took the slow path. Here a data access gets a writable
        page without EXEC, a fetch gets EXEC without WRITE (a page that is both is
        filled by whichever kind of access comes), and stores run at full speed:
        CPU-bound guests ~2.5x faster. The same hook replaces the invalid-memory hook,
        whose mere presence also forces every store onto the slow path.

        With ``regions`` (the same map as ``prot_at``'s, kept in a RegionTable) and an
        x86-64 host, the hook Unicorn calls is host code that grants what the regions
        allow and calls the Python hook only for the rest (~0.05 instead of ~2.5 us a fill).
        """
        from unicorn import UC_HOOK_TLB_FILL, UC_MEM_FETCH, UC_MEM_WRITE, UC_TLB_VIRTUAL

        self.uc.ctl_set_tlb_mode(UC_TLB_VIRTUAL)
        # With exits enabled and none set, emu_start's ``until`` is ignored: otherwise
        # Unicorn looks up the code page at until - 1 at every stop (to drop a cached
        # block there), which this hook must refuse, and emu_start fails.
        self.uc.ctl_exits_enabled(True)
        needed = {UC_MEM_FETCH: _PROT_EXEC, UC_MEM_WRITE: _PROT_WRITE}
        pack_entry = struct.Struct("<QI").pack
        memmove = ctypes.memmove
        cpu = self

        def fill(_uc: object, page: int, access: int, entry: int, _user: object) -> bool:
            try:
                counters = cpu._tlb
                counters.fills += 1
                if counters.fills > counters.fill_limit:
                    counters.fill_limit = _NO_LIMIT
                    cpu.tlb_growth_due = True
                    cpu.on_tlb_pressure()
                prot = prot_at(page)
                need = needed.get(access, _PROT_READ)
                if prot & need and prot >= 0 and not cpu.lenient_tlb:
                    if prot & _PROT_WRITE and prot & _PROT_EXEC:
                        prot &= ~(_PROT_WRITE if need == _PROT_EXEC else _PROT_EXEC)
                    memmove(entry, pack_entry(page, prot), 12)
                    return True
                if cpu.lenient_tlb:
                    # Let the access through to Unicorn's own checks, whose hooks see
                    # the exact address (see _pinpoint_fault).
                    memmove(entry, pack_entry(page, _PROT_ALL), 12)
                    return True
                cpu.fault = Fault(page, need == _PROT_WRITE, need == _PROT_EXEC, prot >= 0,
                                  exact=False)
                return False
            except BaseException as exc:
                if cpu.hook_error is None:
                    cpu.hook_error = exc
                uclib.uc_emu_stop(cpu._uch)
                return False

        function = _TLB_FILL_CFUNC(fill)
        self._callbacks.append(function)
        callback = ctypes.cast(function, ctypes.c_void_p).value
        user_data = None
        code = _executable(_FILL_STUBS.get(platform.machine())) if regions is not None \
            else None
        if code is not None and regions is not None:
            regions.fills, regions.fill_limit = self._tlb.fills, self._tlb.fill_limit
            regions.python = callback
            self._tlb, self._fill_code = regions, code
            callback = ctypes.addressof(ctypes.c_char.from_buffer(code))
            user_data = ctypes.addressof(regions)
        handle = uc_hook_h()
        status = uclib.uc_hook_add(self._uch, ctypes.byref(handle), UC_HOOK_TLB_FILL,
                                   ctypes.c_void_p(callback), ctypes.c_void_p(user_data),
                                   ctypes.c_uint64(1), ctypes.c_uint64(0))
        if status:
            raise UcError(status)
        self._page_permissions = True

    def flush_tlb(self) -> None:
        """Forget every cached page translation (after permissions change)."""
        if self._page_permissions:
            status = uclib.uc_ctl(self._uch, ctypes.c_int(_UC_CTL_TLB_FLUSH_WRITE))
            if status:
                raise UcError(status)
            self._tlb.fills = 0

    def grow_tlb(self) -> None:
        """Flush the TLB so that Unicorn enlarges it. Why: the TLB starts with 256 entries
        (1 MiB of 4 KiB pages) and, as in QEMU, is resized only when it is flushed (doubled
        if more than 70 % of it was in use), which elftrace otherwise does only when
        permissions change; a program using more memory at random then refilled an entry
        through the TLB hook at nearly every access (a C loop over 16 MiB: 40 s instead of
        1.5 s). So when the hook has filled twice as many pages as we believe the TLB holds
        since the last flush, the run stops at a safe point and flushes, each time doubling
        what we believe, up to 65,536 entries (256 MiB)."""
        self.tlb_growth_due = False
        self.tlb_entries = min(2 * self.tlb_entries, _TLB_MAX_ENTRIES)
        self.flush_tlb()
        self._tlb.fill_limit = 2 * self.tlb_entries if self.tlb_entries < _TLB_MAX_ENTRIES \
            else _NO_LIMIT

    def exact_fault(self) -> Fault | None:
        """The fault that ended the last run, with its exact address. Call it once the
        time slice is disarmed: finding the address runs the faulting instruction again,
        and a pending slice stop would end that run first."""
        fault = self.fault
        if fault is not None and not fault.exact:
            fault = self.fault = self._pinpoint_fault(fault)
        return fault

    def _pinpoint_fault(self, fault: Fault) -> Fault:
        """The exact address of a refused access: the TLB hook sees only its page. A
        fetch faults where the PC stands (or, for an instruction running into the next
        page, at that page). For data, run the faulting instruction once more with
        every page let through and an invalid-memory hook in place, then put the
        registers back as they were."""
        from unicorn import UC_HOOK_MEM_INVALID

        page = fault.address
        if fault.fetch:
            pc = self.pc
            address = pc if page <= pc < page + _PAGE_SIZE else page
            return Fault(address, fault.write, fault.fetch, fault.mapped)

        exact: list[int] = []

        def on_invalid(_uc: Uc, _access: int, address: int, _size: int, _value: int,
                       _user: object) -> bool:
            exact.append(address)
            return False

        context = self.uc.context_save()
        hook = self.uc.hook_add(UC_HOOK_MEM_INVALID, on_invalid)
        self.lenient_tlb = True
        self._tlb.python_only += 1
        self.flush_tlb()
        try:
            self.uc.emu_start(self.arch.resume_address(self), self.arch.never_address,
                              count=1)
        except UcError:
            pass
        finally:
            self.lenient_tlb = False
            self._tlb.python_only -= 1
            self.uc.hook_del(hook)
            self.uc.context_restore(context)
            self.flush_tlb()
        address = next((a for a in exact if page <= a < page + _PAGE_SIZE), None)
        if address is None:  # an access spanning two pages: the first byte's address
            address = exact[0] if exact else page
        return Fault(address, fault.write, fault.fetch, fault.mapped)

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
        if self.gate is not None:
            self.gate.lane.armed = 0  # a thread or process switch, a signal frame: see WriteLane
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


def _nothing() -> None:
    pass


def _executable(code: bytes | None) -> mmap.mmap | None:
    """``code`` in an executable page of its own; None without code for this host, or if
    the system refuses such a page."""
    if code is None:
        return None
    try:
        page = mmap.mmap(-1, mmap.PAGESIZE,
                         prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    except (OSError, ValueError):
        return None
    page.write(code)
    return page


def _unset() -> None:  # pragma: no cover - replaced before the first emu_start
    raise RuntimeError("syscall hook used before the machine was attached")

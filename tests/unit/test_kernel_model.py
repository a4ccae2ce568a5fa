"""The pure-Python kernel model: address space, pending signals, futexes, pipes, epoll.

Oracles: Linux's documented and source-level behaviour (mm/mmap.c top-down placement,
mm/mprotect.c, fs/proc/task_mmu.c's /proc/PID/maps format, kernel/signal.c
next_signal, kernel/futex/waitwake.c, fs/pipe.c, fs/eventpoll.c) and, where a
behaviour is observable from user space, the running host kernel itself: the same
sequence of operations is replayed on real pipes, epoll instances, futexes and
mappings, and the model must give the same answers.
"""

from __future__ import annotations

import ctypes
import os
import re
import select
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import pytest

from syscalls.abi import O_NONBLOCK, O_RDONLY, O_WRONLY
from syscalls.errno import Errno, SyscallError
from syscalls.kernel.files import (
    EPOLLERR,
    EPOLLET,
    EPOLLHUP,
    EPOLLIN,
    EPOLLONESHOT,
    EPOLLOUT,
    PIPE_CAPACITY,
    Epoll,
    Pipe,
    PipeEnd,
    WouldBlock,
)
from syscalls.kernel.futex import FUTEX_BITSET_MATCH_ANY, FutexTable
from syscalls.kernel.signals import (
    SIGRTMIN,
    PendingSignals,
    Sig,
    SigInfo,
    bit,
)
from syscalls.kernel.vm import (
    PAGE,
    PROT_EXEC,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
    AddressSpace,
    Vma,
)
from syscalls.kernel.wait import Block, WakeReason

if TYPE_CHECKING:
    from syscalls.kernel.task import Task

LINUX = sys.platform == "linux"
needs_linux = pytest.mark.skipif(not LINUX, reason="the host Linux kernel is the oracle")
MiB = 1 << 20
GiB = 1 << 30

# Address space ---------------------------------------------------------------------------


@dataclass
class FakeBackend:
    """Records calls and enforces Unicorn's rules: map only unmapped pages; unmap, protect,
    discard and write only mapped ones."""

    pages: dict[int, int] = field(default_factory=dict)
    calls: list[tuple[Any, ...]] = field(default_factory=list)

    def _range(self, start: int, size: int) -> range:
        assert start % PAGE == 0 and size % PAGE == 0 and size > 0, (hex(start), hex(size))
        return range(start, start + size, PAGE)

    def map(self, start: int, size: int, prot: int) -> None:
        self.calls.append(("map", start, size, prot))
        for page in self._range(start, size):
            assert page not in self.pages, f"map over mapped page {page:#x}"
            self.pages[page] = prot

    def unmap(self, start: int, size: int) -> None:
        self.calls.append(("unmap", start, size))
        for page in self._range(start, size):
            assert page in self.pages, f"unmap of unmapped page {page:#x}"
            del self.pages[page]

    def protect(self, start: int, size: int, prot: int) -> None:
        self.calls.append(("protect", start, size, prot))
        for page in self._range(start, size):
            assert page in self.pages, f"protect of unmapped page {page:#x}"
            self.pages[page] = prot

    def discard(self, start: int, size: int) -> None:
        self.calls.append(("discard", start, size))
        for page in self._range(start, size):
            assert page in self.pages, f"discard of unmapped page {page:#x}"

    def write(self, addr: int, data: bytes) -> None:
        self.calls.append(("write", addr, len(data)))
        for page in range(addr & ~(PAGE - 1), addr + len(data), PAGE):
            assert page in self.pages, f"write to unmapped page {page:#x}"


MMAP_BASE = 0x7F0000000000
MMAP_MIN = 0x10000
TASK_SIZE = 0x7FFFFFFFF000


def new_vm() -> tuple[AddressSpace, FakeBackend]:
    backend = FakeBackend()
    return AddressSpace(backend, mmap_base=MMAP_BASE, mmap_min=MMAP_MIN,
                        task_size=TASK_SIZE), backend


def check_consistent(vm: AddressSpace, backend: FakeBackend) -> None:
    """The backend holds exactly the committed VMAs' pages, with their protections."""
    expected: dict[int, int] = {}
    last_end = 0
    for v in vm.vmas:
        assert v.start < v.end and v.start % PAGE == 0 and v.end % PAGE == 0
        assert v.start >= last_end, "VMAs overlap or are unsorted"
        last_end = v.end
        if v.committed:
            for page in range(v.start, v.end, PAGE):
                expected[page] = v.prot
        else:
            assert not any(p in backend.pages for p in range(v.start, min(v.end, v.start + 64
                                                                         * PAGE), PAGE))
    assert backend.pages == expected


def layout(vm: AddressSpace) -> list[tuple[int, int, int]]:
    return [(v.start, v.end, v.prot) for v in vm.vmas]


def test_top_down_placement_below_mmap_base() -> None:
    vm, backend = new_vm()
    first = vm.find_free(0x3000)
    assert first == MMAP_BASE - 0x3000
    vm.map_fixed(first, 0x3000, PROT_READ | PROT_WRITE)
    second = vm.find_free(0x1000)
    assert second == first - 0x1000
    vm.map_fixed(second, 0x1000, PROT_READ)
    check_consistent(vm, backend)


def test_top_down_takes_the_highest_gap_that_fits() -> None:
    vm, backend = new_vm()
    vm.map_fixed(MMAP_BASE - 0x4000, 0x4000, PROT_READ)
    vm.map_fixed(MMAP_BASE - 0x10000, 0x8000, PROT_READ)  # hole [base-0x8000, base-0x4000)
    assert vm.find_free(0x4000) == MMAP_BASE - 0x8000
    assert vm.find_free(0x2000) == MMAP_BASE - 0x6000
    assert vm.find_free(0x5000) == MMAP_BASE - 0x10000 - 0x5000
    check_consistent(vm, backend)


def test_mappings_above_mmap_base_are_not_used_for_top_down() -> None:
    vm, _ = new_vm()
    vm.map_fixed(MMAP_BASE + 0x100000, 0x1000, PROT_READ)
    assert vm.find_free(0x1000) == MMAP_BASE - 0x1000


def test_hint_honoured_when_free() -> None:
    vm, _ = new_vm()
    assert vm.find_free(0x2000, hint=0xC000000000) == 0xC000000000
    assert vm.find_free(64 * MiB, hint=0x4000000000) == 0x4000000000


def test_hint_ignored_when_taken_or_out_of_range() -> None:
    vm, _ = new_vm()
    vm.map_fixed(0xC000000000, 0x1000, PROT_READ)
    # Overlapping the existing mapping by one page: the hint is not usable.
    assert vm.find_free(0x2000, hint=0xC000000000 - 0x1000) == MMAP_BASE - 0x2000
    assert vm.find_free(0x1000, hint=0xC000000000) == MMAP_BASE - 0x1000
    assert vm.find_free(0x1000, hint=0x1000) == MMAP_BASE - 0x1000  # below mmap_min_addr
    assert vm.find_free(0x2000, hint=TASK_SIZE - 0x1000) == MMAP_BASE - 0x2000


def test_map_fixed_replaces_the_middle_of_a_mapping() -> None:
    vm, backend = new_vm()
    base = 0x10000000
    vm.map_fixed(base, 0x10000, PROT_READ | PROT_WRITE)
    backend.calls.clear()
    vm.map_fixed(base + 0x4000, 0x2000, PROT_READ | PROT_EXEC, data=b"\x90" * 16)
    assert layout(vm) == [(base, base + 0x4000, PROT_READ | PROT_WRITE),
                          (base + 0x4000, base + 0x6000, PROT_READ | PROT_EXEC),
                          (base + 0x6000, base + 0x10000, PROT_READ | PROT_WRITE)]
    assert ("unmap", base + 0x4000, 0x2000) in backend.calls
    assert ("map", base + 0x4000, 0x2000, PROT_READ | PROT_EXEC) in backend.calls
    check_consistent(vm, backend)


def test_map_fixed_over_several_mappings_and_holes() -> None:
    vm, backend = new_vm()
    base = 0x20000000
    vm.map_fixed(base, 0x2000, PROT_READ)
    vm.map_fixed(base + 0x4000, 0x2000, PROT_READ | PROT_WRITE)
    vm.map_fixed(base + 0x1000, 0x4000, PROT_NONE)
    assert layout(vm) == [(base, base + 0x1000, PROT_READ),
                          (base + 0x1000, base + 0x5000, PROT_NONE),
                          (base + 0x5000, base + 0x6000, PROT_READ | PROT_WRITE)]
    check_consistent(vm, backend)


def test_prot_none_reservation_is_not_mapped_until_accessible() -> None:
    vm, backend = new_vm()
    base = 0xC000000000
    vm.map_fixed(base, 4 * GiB, PROT_NONE)
    assert backend.calls == []
    assert vm.committed_bytes == 0
    vm.protect(base + 0x10000, 0x2000, PROT_READ | PROT_WRITE)
    assert backend.calls == [("map", base + 0x10000, 0x2000, PROT_READ | PROT_WRITE)]
    # Go's pattern: MAP_FIXED read-write over part of the reservation.
    vm.map_fixed(base + 64 * MiB, 0x4000, PROT_READ | PROT_WRITE)
    assert backend.calls[-1] == ("map", base + 64 * MiB, 0x4000, PROT_READ | PROT_WRITE)
    assert vm.committed_bytes == 0x6000
    check_consistent(vm, backend)
    vm.protect(base + 0x10000, 0x2000, PROT_NONE)
    check_consistent(vm, backend)
    vm.unmap(base, 4 * GiB)
    assert backend.pages == {}
    assert vm.vmas == []
    assert vm.committed_bytes == 0


def test_munmap_splits() -> None:
    vm, backend = new_vm()
    base = 0x30000000
    vm.map_fixed(base, 0x10000, PROT_READ | PROT_WRITE)
    backend.calls.clear()
    vm.unmap(base + 0x4000, 0x3000)
    assert backend.calls == [("unmap", base + 0x4000, 0x3000)]
    assert layout(vm) == [(base, base + 0x4000, PROT_READ | PROT_WRITE),
                          (base + 0x7000, base + 0x10000, PROT_READ | PROT_WRITE)]
    check_consistent(vm, backend)


def test_munmap_of_nothing_is_fine() -> None:
    vm, backend = new_vm()
    vm.unmap(0x40000000, 0x1000)
    assert backend.calls == [] and vm.vmas == []


def test_mprotect_splits_and_merges_back() -> None:
    vm, backend = new_vm()
    base = 0x50000000
    vm.map_fixed(base, 0x10000, PROT_READ | PROT_WRITE)
    backend.calls.clear()
    vm.protect(base + 0x2000, 0x1000, PROT_READ)
    assert backend.calls == [("protect", base + 0x2000, 0x1000, PROT_READ)]
    assert layout(vm) == [(base, base + 0x2000, PROT_READ | PROT_WRITE),
                          (base + 0x2000, base + 0x3000, PROT_READ),
                          (base + 0x3000, base + 0x10000, PROT_READ | PROT_WRITE)]
    check_consistent(vm, backend)
    vm.protect(base + 0x2000, 0x1000, PROT_READ | PROT_WRITE)
    # vma_merge: identical anonymous neighbours become one VMA again.
    assert layout(vm) == [(base, base + 0x10000, PROT_READ | PROT_WRITE)]
    check_consistent(vm, backend)


def test_mprotect_of_unmapped_start_is_enomem_and_changes_nothing() -> None:
    vm, backend = new_vm()
    base = 0x60000000
    vm.map_fixed(base + 0x1000, 0x2000, PROT_READ | PROT_WRITE)
    before = layout(vm)
    with pytest.raises(SyscallError) as exc:
        vm.protect(base, 0x3000, PROT_READ)
    assert exc.value.errno == Errno.ENOMEM
    assert layout(vm) == before
    check_consistent(vm, backend)


def test_mprotect_past_the_end_is_enomem() -> None:
    vm, _ = new_vm()
    vm.map_fixed(0x61000000, 0x2000, PROT_READ)
    with pytest.raises(SyscallError) as exc:
        vm.protect(0x61000000, 0x3000, PROT_READ | PROT_WRITE)
    assert exc.value.errno == Errno.ENOMEM


# --- the same on the host kernel: mprotect over a hole ---

class HostMm:
    """Raw mmap/munmap/mprotect through libc, and this process's /proc/self/maps."""

    def __init__(self) -> None:
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.mmap.restype = ctypes.c_void_p
        self.libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                                   ctypes.c_int, ctypes.c_int, ctypes.c_long]
        self.libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        self.libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]

    def mmap_noreplace(self, addr: int, size: int, prot: int) -> int | None:
        got = self.libc.mmap(addr, size, prot, 0x02 | 0x20 | 0x100000, -1, 0)
        return None if got in (None, ctypes.c_void_p(-1).value) or got != addr else int(got)

    def munmap(self, addr: int, size: int) -> None:
        assert self.libc.munmap(addr, size) == 0

    def mprotect(self, addr: int, size: int, prot: int) -> int:
        if self.libc.mprotect(addr, size, prot) == 0:
            return 0
        return -ctypes.get_errno()

    def perms(self, start: int, end: int) -> list[tuple[int, int, str]]:
        out = []
        with open("/proc/self/maps") as f:
            lines = f.read().splitlines()
        for line in lines:
            lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
            if lo < end and hi > start:
                out.append((max(lo, start), min(hi, end), line.split()[1]))
        return out


def perms_of(vm: AddressSpace, start: int, end: int) -> list[tuple[int, int, str]]:
    out = []
    for v in vm.overlapping(start, end):
        p = ("r" if v.prot & PROT_READ else "-") + ("w" if v.prot & PROT_WRITE else "-") + \
            ("x" if v.prot & PROT_EXEC else "-") + "p"
        out.append((max(v.start, start), min(v.end, end), p))
    return out


@needs_linux
def test_mprotect_over_a_hole_matches_the_host() -> None:
    host = HostMm()
    base = None
    for candidate in range(0x3A0000000000, 0x3B0000000000, 0x1000000000):
        base = host.mmap_noreplace(candidate, 0x3000, PROT_READ | PROT_WRITE)
        if base is not None:
            break
    if base is None:
        pytest.skip("no free range for the host experiment")
    try:
        host.munmap(base + 0x1000, 0x1000)
        host_result = host.mprotect(base, 0x3000, PROT_READ)
        host_after = host.perms(base, base + 0x3000)
    finally:
        host.munmap(base, 0x3000)
    assert host_result == -Errno.ENOMEM

    vm, backend = new_vm()
    vm.map_fixed(base, 0x3000, PROT_READ | PROT_WRITE)
    vm.unmap(base + 0x1000, 0x1000)
    with pytest.raises(SyscallError) as exc:
        vm.protect(base, 0x3000, PROT_READ)
    assert -exc.value.errno == host_result
    check_consistent(vm, backend)
    assert perms_of(vm, base, base + 0x3000) == host_after


# --- /proc/self/maps rendering ---

MAPS_LINE = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) ([r-])([w-])([x-])([sp]) ([0-9a-f]+) "
                       r"([0-9a-f]+):([0-9a-f]+) (\d+) *(.*)$")


def vm_from_maps(text: str) -> AddressSpace:
    vm, _ = new_vm()
    for line in text.splitlines():
        m = MAPS_LINE.match(line)
        assert m is not None, line
        prot = (PROT_READ if m[3] == "r" else 0) | (PROT_WRITE if m[4] == "w" else 0) | \
            (PROT_EXEC if m[5] == "x" else 0)
        vm._insert(Vma(int(m[1], 16), int(m[2], 16), prot, m[6] == "s", m[11], int(m[7], 16),
                       int(m[10]), (int(m[8], 16), int(m[9], 16)), committed=True))
    return vm


def host_maps() -> str:
    with open("/proc/self/maps") as f:
        return f.read()


def kernel_maps_line(v: Vma, pointer_size: int) -> str:
    """fs/proc/task_mmu.c show_vma_header_prefix + show_map_vma, in C-format terms:
    seq_setwidth(m, 25 + sizeof(void *) * 6 - 1);
    "%08lx-%08lx %c%c%c%c %08llx %02x:%02x %lu " then, if there is a name,
    seq_pad(m, ' ') (spaces up to the width, then one more) and the name."""
    perms = ("r" if v.prot & PROT_READ else "-") + ("w" if v.prot & PROT_WRITE else "-") + \
        ("x" if v.prot & PROT_EXEC else "-") + ("s" if v.shared else "p")
    head = "%08x-%08x %s %08x %02x:%02x %d " % (  # noqa: UP031 - mirrors the kernel's format
        v.start, v.end, perms, v.offset, v.device[0], v.device[1], v.inode)
    if not v.name:
        return head
    width = 25 + pointer_size * 6 - 1
    return head.ljust(width) + " " + v.name


def test_kernel_maps_line_oracle_matches_a_real_line() -> None:
    """The formula above reproduces lines this very kernel printed (when readable)."""
    if not os.path.exists("/proc/self/maps"):
        pytest.skip("no /proc/self/maps here")
    text = host_maps()
    vm = vm_from_maps(text)
    assert "".join(kernel_maps_line(v, 8) + "\n" for v in vm.vmas) == text


def render_fields(text: str) -> list[tuple[object, ...]]:
    """Each line's values: (start, end) as numbers, then the other columns as words."""
    out: list[tuple[object, ...]] = []
    for line in text.splitlines():
        span, *rest = line.split(maxsplit=5)
        start, end = (int(x, 16) for x in span.split("-"))
        out.append((start, end, *rest))
    return out


def sample_vm() -> AddressSpace:
    vm, _ = new_vm()
    vm.map_fixed(0x400000, 0x1000, PROT_READ, name="/bin/hello", offset=0, inode=123,
                 device=(0xFE, 0x01))
    vm.map_fixed(0x401000, 0x2000, PROT_READ | PROT_EXEC, name="/bin/hello", offset=0x1000,
                 inode=123, device=(0xFE, 0x01))
    vm.map_fixed(0x1000000, 0x21000, PROT_READ | PROT_WRITE, name="[heap]")
    vm.map_fixed(0xC000000000, 0x400000, PROT_READ | PROT_WRITE)
    vm.map_fixed(0x7FFFF7FF0000, 0x1000, PROT_READ, shared=True, name="/dev/shm/x",
                 inode=9, device=(0, 0x19))
    vm.map_fixed(0x7FFFFFFDE000, 0x21000, PROT_READ | PROT_WRITE, name="[stack]")
    return vm


def test_render_maps_fields() -> None:
    """Padding aside, every field is what /proc/PID/maps shows."""
    vm = sample_vm()
    assert render_fields(vm.render_maps(8)) == render_fields(
        "".join(kernel_maps_line(v, 8) + "\n" for v in vm.vmas))


MAPS_LAYOUT_BUG = (
    "syscalls/kernel/vm.py render_maps: addresses are zero-padded to 12 digits on 64-bit "
    "(the kernel prints %08lx), names start one column late (the kernel pads to "
    "25 + 6 * sizeof(void *) - 1 = 72 columns, then one space), and unnamed lines lose "
    "the trailing space after the inode")


def test_render_maps_exact_64bit() -> None:
    vm = sample_vm()
    assert vm.render_maps(8) == "".join(kernel_maps_line(v, 8) + "\n" for v in vm.vmas)


def test_render_maps_exact_32bit() -> None:
    vm, _ = new_vm()
    vm.map_fixed(0x10000, 0x1000, PROT_READ | PROT_EXEC, name="/bin/hello", inode=7,
                 device=(8, 1))
    vm.map_fixed(0x20000, 0x1000, PROT_READ | PROT_WRITE)
    vm.map_fixed(0xBEFDF000, 0x21000, PROT_READ | PROT_WRITE, name="[stack]")
    assert vm.render_maps(4) == "".join(kernel_maps_line(v, 4) + "\n" for v in vm.vmas)


@needs_linux
def test_render_maps_reproduces_the_host_maps() -> None:
    text = host_maps()
    assert vm_from_maps(text).render_maps(8) == text


# Pending signals --------------------------------------------------------------------------

def info(signo: int, pid: int = 0) -> SigInfo:
    return SigInfo(signo=signo, code=0, pid=pid)


def drain(p: PendingSignals, blocked: int = 0) -> list[tuple[int, int]]:
    out = []
    while (got := p.take(blocked)) is not None:
        out.append((got.signo, got.pid))
    return out


def test_standard_signals_coalesce() -> None:
    p = PendingSignals()
    assert p.add(info(Sig.SIGUSR1, 1)) is True
    assert p.add(info(Sig.SIGUSR1, 2)) is False
    assert drain(p) == [(Sig.SIGUSR1, 1)]
    assert p.mask == 0


def test_realtime_signals_queue_in_order() -> None:
    p = PendingSignals()
    rt = SIGRTMIN + 3
    for pid in (1, 2, 3):
        assert p.add(info(rt, pid)) is True
    assert p.mask == bit(rt)
    assert p.take(0).pid == 1  # type: ignore[union-attr]
    assert p.mask == bit(rt), "still pending while instances remain"
    assert drain(p) == [(rt, 2), (rt, 3)]
    assert p.mask == 0


def test_lowest_number_first() -> None:
    p = PendingSignals()
    for s in (Sig.SIGTERM, SIGRTMIN + 5, Sig.SIGHUP, SIGRTMIN, Sig.SIGINT):
        p.add(info(s))
    assert [s for s, _ in drain(p)] == [Sig.SIGHUP, Sig.SIGINT, Sig.SIGTERM, SIGRTMIN,
                                        SIGRTMIN + 5]


def test_synchronous_signals_before_others() -> None:
    p = PendingSignals()
    for s in (Sig.SIGHUP, Sig.SIGINT, Sig.SIGSEGV, SIGRTMIN):
        p.add(info(s))
    assert drain(p)[0] == (Sig.SIGSEGV, 0)


def test_synchronous_signals_lowest_first() -> None:
    p = PendingSignals()
    for s in (Sig.SIGSEGV, Sig.SIGBUS, Sig.SIGILL):
        p.add(info(s))
    assert [s for s, _ in drain(p)] == [Sig.SIGILL, Sig.SIGBUS, Sig.SIGSEGV]


def test_blocked_signals_stay_pending() -> None:
    p = PendingSignals()
    p.add(info(Sig.SIGHUP))
    p.add(info(Sig.SIGUSR2))
    assert drain(p, blocked=bit(Sig.SIGHUP)) == [(Sig.SIGUSR2, 0)]
    assert p.mask == bit(Sig.SIGHUP)
    assert drain(p) == [(Sig.SIGHUP, 0)]


def test_blocked_sync_signal_does_not_jump_the_queue() -> None:
    p = PendingSignals()
    p.add(info(Sig.SIGSEGV))
    p.add(info(Sig.SIGTERM))
    assert drain(p, blocked=bit(Sig.SIGSEGV)) == [(Sig.SIGTERM, 0)]


def test_discard() -> None:
    p = PendingSignals()
    p.add(info(SIGRTMIN + 1))
    p.add(info(SIGRTMIN + 1))
    p.add(info(Sig.SIGCHLD))
    p.discard(SIGRTMIN + 1)
    assert drain(p) == [(Sig.SIGCHLD, 0)]


# Futexes --------------------------------------------------------------------------------

class RecordingWaker:
    def __init__(self) -> None:
        self.woken: list[Block] = []

    def wake(self, block: Block, reason: WakeReason) -> None:
        assert reason is WakeReason.NOTIFIED
        self.woken.append(block)


FAKE_TASK = cast("Task", object())
ADDR_A, ADDR_B = 0x1000, 0x2000


def model_waiter(table: FutexTable, waker: RecordingWaker, addr: int, bitset: int) -> Block:
    block = Block(lambda reason: 0, queues=(table.queue(addr),), data=bitset)
    block.attach(FAKE_TASK, waker)
    return block


def test_wake_counts_and_fifo_order() -> None:
    table, waker = FutexTable(), RecordingWaker()
    blocks = [model_waiter(table, waker, ADDR_A, FUTEX_BITSET_MATCH_ANY) for _ in range(3)]
    assert table.wake(ADDR_A, 1) == 1
    assert waker.woken == [blocks[0]]
    assert table.wake(ADDR_A, 10) == 2
    assert waker.woken == blocks
    assert table.wake(ADDR_A, 10) == 0
    assert ADDR_A not in table.queues


def test_wake_on_another_address_wakes_nobody() -> None:
    table, waker = FutexTable(), RecordingWaker()
    model_waiter(table, waker, ADDR_A, FUTEX_BITSET_MATCH_ANY)
    assert table.wake(ADDR_B, 10) == 0
    assert waker.woken == []


def test_wake_bitset() -> None:
    table, waker = FutexTable(), RecordingWaker()
    b1 = model_waiter(table, waker, ADDR_A, 0b01)
    b2 = model_waiter(table, waker, ADDR_A, 0b10)
    b3 = model_waiter(table, waker, ADDR_A, 0b11)
    assert table.wake(ADDR_A, 10, 0b10) == 2
    assert waker.woken == [b2, b3]
    assert table.wake(ADDR_A, 10, 0b100) == 0
    assert table.wake(ADDR_A, 10, 0b01) == 1
    assert waker.woken == [b2, b3, b1]


def test_requeue_moves_waiters() -> None:
    table, waker = FutexTable(), RecordingWaker()
    blocks = [model_waiter(table, waker, ADDR_A, FUTEX_BITSET_MATCH_ANY) for _ in range(4)]
    assert table.requeue(ADDR_A, 1, ADDR_B, 2) == 3
    assert waker.woken == [blocks[0]]
    assert table.wake(ADDR_B, 10) == 2
    assert waker.woken == blocks[:3]
    assert table.wake(ADDR_A, 10) == 1


# --- the same scenarios on the host kernel ---

SYS_FUTEX = 202  # x86-64
FUTEX_PRIVATE = 128
FUTEX_WAIT_BITSET, FUTEX_WAKE_BITSET, FUTEX_CMP_REQUEUE = 9, 10, 4

Op = tuple[str, int, int, int]  # ("wake", word index, count, bitset) | ("requeue", n, m, 0)


def host_futex(waiters: list[tuple[int, int]], ops: list[Op]) -> list[int]:
    """Run ``waiters`` (word index, bitset) blocked in FUTEX_WAIT_BITSET in threads, in
    order, then ``ops`` from this thread; return each op's return value."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    words = (ctypes.c_uint32 * 2)()
    long_ = ctypes.c_long

    def addr(i: int) -> ctypes.c_void_p:
        return ctypes.c_void_p(ctypes.addressof(words) + 4 * i)

    tids: list[int] = []

    def wait(i: int, bitset: int) -> None:
        tids.append(threading.get_native_id())
        libc.syscall(long_(SYS_FUTEX), addr(i), long_(FUTEX_WAIT_BITSET | FUTEX_PRIVATE),
                     long_(0), None, None, long_(bitset))

    def blocked(tid: int) -> bool:
        try:
            with open(f"/proc/self/task/{tid}/syscall") as f:
                return f.read().split()[0] == str(SYS_FUTEX)
        except OSError:
            return False

    threads = []
    results: list[int] = []
    try:
        for i, bitset in waiters:
            t = threading.Thread(target=wait, args=(i, bitset), daemon=True)
            t.start()
            threads.append(t)
            deadline = time.monotonic() + 10
            while not (len(tids) == len(threads) and blocked(tids[-1])):
                if time.monotonic() > deadline:
                    pytest.skip("host futex waiter did not block in time")
                time.sleep(0.001)
        for op, a, b, c in ops:
            if op == "wake":
                r = libc.syscall(long_(SYS_FUTEX), addr(a), long_(FUTEX_WAKE_BITSET |
                                 FUTEX_PRIVATE), long_(b), None, None, long_(c))
            else:
                r = libc.syscall(long_(SYS_FUTEX), addr(0), long_(FUTEX_CMP_REQUEUE |
                                 FUTEX_PRIVATE), long_(a), long_(b), addr(1), long_(0))
            results.append(int(r))
    finally:
        for _ in range(100):
            for i in (0, 1):
                libc.syscall(long_(SYS_FUTEX), addr(i), long_(FUTEX_WAKE_BITSET |
                             FUTEX_PRIVATE), long_(1 << 30), None, None,
                             long_(FUTEX_BITSET_MATCH_ANY))
            if not any(t.is_alive() for t in threads):
                break
            time.sleep(0.01)
    return results


def model_futex(waiters: list[tuple[int, int]], ops: list[Op]) -> list[int]:
    table, waker = FutexTable(), RecordingWaker()
    addrs = (ADDR_A, ADDR_B)
    for i, bitset in waiters:
        model_waiter(table, waker, addrs[i], bitset)
    out = []
    for op, a, b, c in ops:
        if op == "wake":
            out.append(table.wake(addrs[a], b, c))
        else:
            out.append(table.requeue(ADDR_A, a, ADDR_B, b))
    return out


ANY = FUTEX_BITSET_MATCH_ANY
FUTEX_SCENARIOS = {
    "counts": ([(0, ANY)] * 3, [("wake", 0, 1, ANY), ("wake", 0, 5, ANY), ("wake", 0, 5, ANY)]),
    "bitsets": ([(0, 1), (0, 2), (0, 3)],
                [("wake", 0, 10, 2), ("wake", 0, 10, 4), ("wake", 0, 10, 1)]),
    "bitset-count": ([(0, 1), (0, 1), (0, 1)], [("wake", 0, 2, 1), ("wake", 0, 2, ANY)]),
    "other-word": ([(1, ANY), (0, ANY)], [("wake", 0, 5, ANY), ("wake", 1, 5, ANY)]),
    "requeue": ([(0, ANY)] * 4,
                [("requeue", 1, 2, 0), ("wake", 1, 10, ANY), ("wake", 0, 10, ANY)]),
    "wake-zero": ([(0, ANY)] * 2, [("wake", 0, 0, ANY), ("wake", 0, 10, ANY)]),
}
HOST_FUTEX_OK = LINUX and __import__("platform").machine() == "x86_64"


@pytest.mark.skipif(not HOST_FUTEX_OK, reason="host futex oracle needs x86-64 Linux")
@pytest.mark.parametrize("name", [
    *FUTEX_SCENARIOS,
])
def test_futex_model_matches_host(name: str) -> None:
    waiters, ops = FUTEX_SCENARIOS[name]
    assert model_futex(waiters, ops) == host_futex(waiters, ops)


# Pipes ----------------------------------------------------------------------------------

def model_pipe() -> tuple[PipeEnd, PipeEnd]:
    pipe = Pipe(ino=77)
    return PipeEnd(pipe, O_RDONLY), PipeEnd(pipe, O_WRONLY)


def host_pipe() -> tuple[int, int]:
    r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    return r, w


def test_pipe_data_then_eof_when_writers_gone() -> None:
    r, w = model_pipe()
    assert w.write(b"abc") == 3
    w.release()
    assert r.read(2) == b"ab"
    assert r.read(10) == b"c"
    assert r.read(10) == b""
    assert r.poll() & EPOLLHUP


def test_pipe_empty_with_writer_would_block() -> None:
    r, _w = model_pipe()
    with pytest.raises(WouldBlock):
        r.read(1)


def test_pipe_epipe_when_readers_gone() -> None:
    r, w = model_pipe()
    r.release()
    with pytest.raises(SyscallError) as exc:
        w.write(b"x")
    assert exc.value.errno == Errno.EPIPE
    assert w.poll() & EPOLLERR


def test_pipe_wrong_direction_is_ebadf() -> None:
    r, w = model_pipe()
    with pytest.raises(SyscallError) as exc:
        r.write(b"x")
    assert exc.value.errno == Errno.EBADF
    with pytest.raises(SyscallError) as exc:
        w.read(1)
    assert exc.value.errno == Errno.EBADF


def test_pipe_small_writes_are_atomic() -> None:
    r, w = model_pipe()
    assert w.write(b"x" * (PIPE_CAPACITY - 100)) == PIPE_CAPACITY - 100
    with pytest.raises(WouldBlock):
        w.write(b"y" * 200)  # <= PIPE_BUF: all or nothing
    assert w.write(b"y" * 100) == 100
    with pytest.raises(WouldBlock):
        w.write(b"z")
    assert not w.poll() & EPOLLOUT
    assert len(r.read(PIPE_CAPACITY)) == PIPE_CAPACITY
    assert w.poll() & EPOLLOUT


def test_pipe_large_write_may_be_partial() -> None:
    _r, w = model_pipe()
    w.write(b"x" * (PIPE_CAPACITY - 8192))
    assert w.write(b"y" * 10000) == 8192


@needs_linux
def test_pipe_semantics_match_host() -> None:
    """EOF, EAGAIN, EPIPE and poll bits on a real pipe, the same steps as the model."""

    def host_run() -> list[object]:
        r, w = host_pipe()
        out: list[object] = []
        try:
            try:
                os.read(r, 1)
            except BlockingIOError:
                out.append("EAGAIN")
            out.append(os.write(w, b"hello"))
            out.append(poll_host(r))
            os.close(w)
            out.append(os.read(r, 3))
            out.append(poll_host(r))
            out.append(os.read(r, 10))
            out.append(os.read(r, 10))
        finally:
            os.close(r)
        r, w = host_pipe()
        os.close(r)
        try:
            os.write(w, b"x")
        except BrokenPipeError:
            out.append("EPIPE")
        out.append(poll_host(w, out=True))
        os.close(w)
        return out

    def model_run() -> list[object]:
        r, w = model_pipe()
        out: list[object] = []
        try:
            r.read(1)
        except WouldBlock:
            out.append("EAGAIN")
        out.append(w.write(b"hello"))
        out.append(r.poll() & (EPOLLIN | EPOLLHUP | EPOLLERR))
        w.release()
        out.append(r.read(3))
        out.append(r.poll() & (EPOLLIN | EPOLLHUP | EPOLLERR))
        out.append(r.read(10))
        out.append(r.read(10))
        r, w = model_pipe()
        r.release()
        try:
            w.write(b"x")
        except SyscallError as err:
            out.append(err.errno.name)
        out.append(w.poll() & (EPOLLOUT | EPOLLHUP | EPOLLERR))
        return out

    assert model_run() == host_run()


def poll_host(fd: int, out: bool = False) -> int:
    p = select.poll()
    p.register(fd, select.POLLOUT if out else select.POLLIN)
    events = p.poll(0)
    return events[0][1] if events else 0


# Epoll ----------------------------------------------------------------------------------

def host_epoll_steps(events: int, steps: list[str]) -> list[list[int]]:
    """Run ``steps`` on a real pipe watched by a real epoll; report the events after each."""
    r, w = host_pipe()
    ep = select.epoll()
    ep.register(r, events)
    results = []
    try:
        for step in steps:
            apply_host_step(step, r, w)
            results.append(sorted(ev for _, ev in ep.poll(0)))
            if step == "close-writer":
                w = -1
    finally:
        ep.close()
        os.close(r)
        if w >= 0:
            os.close(w)
    return results


def apply_host_step(step: str, r: int, w: int) -> None:
    if step.startswith("write:"):
        os.write(w, step[6:].encode())
    elif step.startswith("read:"):
        os.read(r, int(step[5:]))
    elif step == "close-writer":
        os.close(w)


def model_epoll_steps(events: int, steps: list[str]) -> list[list[int]]:
    r, w = model_pipe()
    ep = Epoll(0, ino=5)
    ep.add(3, r, events, 3)
    results = []
    for step in steps:
        if step.startswith("write:"):
            w.write(step[6:].encode())
        elif step.startswith("read:"):
            r.read(int(step[5:]))
        elif step == "close-writer":
            w.release()
        results.append(sorted(ev for ev, _ in ep.collect(16)))
    return results


ET_STEPS = ["poll", "write:ab", "poll", "poll", "write:c", "poll", "read:3", "poll",
            "write:d", "close-writer", "poll"]
LT_STEPS = ["poll", "write:ab", "poll", "poll", "read:1", "poll", "read:1", "poll",
            "close-writer", "poll"]


@needs_linux
def test_epoll_edge_triggered_write_edges_match_host() -> None:
    events = EPOLLIN | EPOLLET
    assert model_epoll_steps(events, ET_STEPS) == host_epoll_steps(events, ET_STEPS)


@needs_linux
def test_epoll_level_triggered_matches_host() -> None:
    assert model_epoll_steps(EPOLLIN, LT_STEPS) == host_epoll_steps(EPOLLIN, LT_STEPS)


@needs_linux
def test_epoll_oneshot_matches_host() -> None:
    steps = ["write:a", "poll", "write:b", "poll"]
    events = EPOLLIN | EPOLLONESHOT
    assert model_epoll_steps(events, steps) == host_epoll_steps(events, steps)


@needs_linux
def test_epoll_edge_triggered_partial_read_does_not_rearm() -> None:
    steps = ["write:abc", "poll", "read:1", "poll"]
    events = EPOLLIN | EPOLLET
    assert model_epoll_steps(events, steps) == host_epoll_steps(events, steps)


def test_epoll_edge_triggered_basic_model() -> None:
    """The model alone, for hosts without epoll: one report per new write."""
    r, w = model_pipe()
    ep = Epoll(0, ino=5)
    ep.add(3, r, EPOLLIN | EPOLLET, 42)
    assert ep.collect(8) == []
    w.write(b"x")
    # Only requested events (plus EPOLLERR/EPOLLHUP) are reported: not EPOLLRDNORM.
    assert ep.collect(8) == [(EPOLLIN, 42)]
    assert ep.collect(8) == []
    w.write(b"y")
    assert [d for _, d in ep.collect(8)] == [42]


def test_epoll_add_twice_and_missing_delete() -> None:
    r, _w = model_pipe()
    ep = Epoll(0, ino=5)
    ep.add(3, r, EPOLLIN, 0)
    with pytest.raises(SyscallError) as exc:
        ep.add(3, r, EPOLLIN, 0)
    assert exc.value.errno == Errno.EEXIST
    with pytest.raises(SyscallError) as exc:
        ep.delete(4)
    assert exc.value.errno == Errno.ENOENT
    with pytest.raises(SyscallError) as exc:
        ep.modify(4, EPOLLIN, 0)
    assert exc.value.errno == Errno.ENOENT


def test_nonblocking_flag_is_reported() -> None:
    pipe = Pipe(ino=1)
    assert PipeEnd(pipe, O_RDONLY | O_NONBLOCK).nonblocking
    assert not PipeEnd(pipe, O_WRONLY).nonblocking

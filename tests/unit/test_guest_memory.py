"""Guest memory in Unicorn: windows of host memory, joined regions, and the commit limit."""

from __future__ import annotations

import pytest
from unicorn import UC_ARCH_X86, UC_MODE_64, Uc

from emulator.memory import MAX_REGIONS, MERGE_LIMIT, UnicornMemory
from syscalls.errno import Errno, SyscallError
from syscalls.kernel.vm import PROT_NONE, PROT_READ, PROT_WRITE, AddressSpace

RW = PROT_READ | PROT_WRITE
PAGE = 4096
BASE = 0x7F0000000000


def memory() -> UnicornMemory:
    return UnicornMemory(Uc(UC_ARCH_X86, UC_MODE_64), 47)


def regions(mem: UnicornMemory) -> list[tuple[int, int, int]]:
    return sorted((a, b + 1, p) for a, b, p in mem.uc.mem_regions())


def test_small_neighbours_become_one_region_and_keep_their_bytes() -> None:
    mem = memory()
    mem.map(BASE, PAGE, RW)
    mem.write(BASE, b"low")
    mem.map(BASE + PAGE, PAGE, RW)
    mem.write(BASE + PAGE, b"high")
    assert regions(mem) == [(BASE, BASE + 2 * PAGE, RW)]
    assert mem.read(BASE, 3) == b"low" and mem.read(BASE + PAGE, 4) == b"high"
    assert mem.region_count == 1


def test_different_protections_and_large_regions_stay_apart() -> None:
    mem = memory()
    mem.map(BASE, PAGE, PROT_READ)
    mem.map(BASE + PAGE, PAGE, RW)
    mem.map(BASE + 2 * PAGE, MERGE_LIMIT, RW)
    assert len(regions(mem)) == 3
    mem.protect(BASE, PAGE, RW)  # now joinable with the next page, not with the big one
    assert regions(mem)[0] == (BASE, BASE + 2 * PAGE, RW)
    assert mem.region_count == len(regions(mem)) == 2


def test_unmapped_pages_read_back_as_zero_when_mapped_again() -> None:
    mem = memory()
    mem.map(BASE, 4 * PAGE, RW)
    mem.write(BASE + PAGE, b"secret")
    mem.unmap(BASE + PAGE, PAGE)
    assert mem.region_count == len(regions(mem)) == 2
    mem.map(BASE + PAGE, PAGE, RW)
    assert mem.read(BASE + PAGE, 6) == bytes(6)
    assert regions(mem) == [(BASE, BASE + 4 * PAGE, RW)]


def test_region_limit_is_enomem_not_a_crawl() -> None:
    mem = memory()
    vm = AddressSpace(mem, mmap_base=BASE, mmap_min=0x10000, task_size=1 << 47)
    for i in range(MAX_REGIONS):  # alternate protections so nothing joins
        vm.map_fixed(0x10000000 + i * PAGE, PAGE, PROT_READ if i % 2 else RW)
    with pytest.raises(SyscallError) as err:
        vm.map_fixed(0x10000000 + MAX_REGIONS * PAGE + PAGE, PAGE, RW)
    assert err.value.errno == Errno.ENOMEM


def test_commit_limit_refuses_and_leaves_the_address_space_as_it_was() -> None:
    vm = AddressSpace(memory(), mmap_base=BASE, mmap_min=0x10000, task_size=1 << 47)
    vm.commit_limit = 8 * PAGE
    vm.map_fixed(BASE, 6 * PAGE, RW)
    vm.map_fixed(BASE + 16 * PAGE, 64 * PAGE, PROT_NONE)  # reservations are free
    with pytest.raises(SyscallError) as err:
        vm.map_fixed(BASE + 8 * PAGE, 4 * PAGE, RW)
    assert err.value.errno == Errno.ENOMEM and vm.limit_refusals == 1
    with pytest.raises(SyscallError):
        vm.protect(BASE + 16 * PAGE, 4 * PAGE, RW)
    assert vm.committed_bytes == 6 * PAGE
    assert [(v.start, v.end, v.prot) for v in vm.vmas] == [
        (BASE, BASE + 6 * PAGE, RW), (BASE + 16 * PAGE, BASE + 80 * PAGE, PROT_NONE)]
    vm.map_fixed(BASE, 8 * PAGE, RW)  # replacing committed memory costs only the growth
    vm.protect(BASE + 16 * PAGE, 0, RW)
    assert vm.committed_bytes == 8 * PAGE


def test_adjacent_anonymous_mappings_are_one_vma_as_in_linux() -> None:
    vm = AddressSpace(memory(), mmap_base=BASE, mmap_min=0x10000, task_size=1 << 47)
    vm.map_fixed(BASE + PAGE, PAGE, RW)
    vm.map_fixed(BASE, PAGE, RW)
    vm.map_fixed(BASE + 2 * PAGE, PAGE, PROT_READ)
    assert [(v.start, v.end) for v in vm.vmas] == [(BASE, BASE + 2 * PAGE),
                                                   (BASE + 2 * PAGE, BASE + 3 * PAGE)]

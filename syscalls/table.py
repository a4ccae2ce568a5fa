"""The syscall table of one architecture: its numbers joined with the family specs.

Numbers come from the generated ``syscalls.numbers`` modules (the kernel's own tables);
behaviour from each family module's ``SPECS``. A number whose name has no spec is
known by name but unimplemented: the dispatcher answers ENOSYS and reports it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from syscalls import (
    arch_arm,
    arch_i386,
    arch_x86_64,
    fs,
    fsinfo,
    futex,
    mm,
    net,
    poll,
    process,
    signal,
    thread,
    time,
)
from syscalls.abi import AARCH64, ARM, I386, X86_64, LinuxAbi
from syscalls.numbers import aarch64 as aarch64_numbers
from syscalls.numbers import arm as arm_numbers
from syscalls.numbers import i386 as i386_numbers
from syscalls.numbers import x86_64 as x86_64_numbers
from syscalls.spec import Decoder, SyscallSpec, make_decoder

COMMON_FAMILIES = (fs, fsinfo, mm, process, thread, futex, signal, time, poll, net)


@dataclass(frozen=True, slots=True)
class BoundSyscall:
    number: int
    spec: SyscallSpec
    decode: Decoder


@dataclass(frozen=True, slots=True)
class SyscallTable:
    abi: LinuxAbi
    bound: dict[int, BoundSyscall]
    names: dict[int, str]
    """Every number the kernel defines for this architecture, implemented or not."""

    def number(self, name: str) -> int | None:
        for num, known in self.names.items():
            if known == name:
                return num
        return None

    def numbers_where(self, names: Iterable[str]) -> set[int]:
        wanted = set(names)
        return {num for num, name in self.names.items() if name in wanted}


def _specs(families: Iterable[object]) -> dict[str, SyscallSpec]:
    specs: dict[str, SyscallSpec] = {}
    for family in families:
        for s in family.SPECS:  # type: ignore[attr-defined]
            if s.name in specs:
                raise AssertionError(f"syscall {s.name} is declared twice")
            specs[s.name] = s
    return specs


# i386 numbers that keep an old ABI under a shared name: old_mmap (90) and old_select
# take a pointer to their arguments, stat/lstat/fstat (106-108) fill the 32-bit struct
# stat rather than stat64, getrlimit (76) clips to 0x7fffffff, and sigreturn (119)
# expects the non-rt frame. The shared handlers would be wrong for them: they stay
# unimplemented (ENOSYS, reported) until they get handlers of their own.
I386_OLD_ABI = frozenset({76, 82, 90, 106, 107, 108, 119})


def build(abi: LinuxAbi, numbers: dict[int, str], families: Iterable[object],
          unbound: frozenset[int] = frozenset()) -> SyscallTable:
    specs = _specs(families)
    bound: dict[int, BoundSyscall] = {}
    for number, name in numbers.items():
        s = specs.get(name) if number not in unbound else None
        if s is not None and s.handler is not None:
            bound[number] = BoundSyscall(number, s, make_decoder(s, abi.word_size,
                                                                   abi.align_pairs))
    return SyscallTable(abi, bound, dict(numbers))


@cache
def table_for(arch: str) -> SyscallTable:
    if arch == "x86_64":
        return build(X86_64, x86_64_numbers.NUMBERS, (*COMMON_FAMILIES, arch_x86_64))
    if arch == "arm":
        numbers = {**arm_numbers.NUMBERS, **arm_numbers.ARM_PRIVATE}
        return build(ARM, numbers, (*COMMON_FAMILIES, arch_arm))
    if arch == "aarch64":
        return build(AARCH64, aarch64_numbers.NUMBERS, COMMON_FAMILIES)
    if arch == "i386":
        return build(I386, i386_numbers.NUMBERS, (*COMMON_FAMILIES, arch_i386), I386_OLD_ABI)
    raise KeyError(arch)


def all_specs() -> dict[str, SyscallSpec]:
    return _specs((*COMMON_FAMILIES, arch_x86_64, arch_arm, arch_i386))

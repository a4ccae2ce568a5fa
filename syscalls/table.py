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
    arch_x86_64,
    fs,
    futex,
    mm,
    net,
    poll,
    process,
    signal,
    thread,
    time,
)
from syscalls.abi import ARM, X86_64, LinuxAbi
from syscalls.numbers import arm as arm_numbers
from syscalls.numbers import x86_64 as x86_64_numbers
from syscalls.spec import Decoder, SyscallSpec, make_decoder

COMMON_FAMILIES = (fs, mm, process, thread, futex, signal, time, poll, net)


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


def build(abi: LinuxAbi, numbers: dict[int, str], families: Iterable[object]) -> SyscallTable:
    specs = _specs(families)
    bound: dict[int, BoundSyscall] = {}
    for number, name in numbers.items():
        s = specs.get(name)
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
    raise KeyError(arch)


def all_specs() -> dict[str, SyscallSpec]:
    return _specs((*COMMON_FAMILIES, arch_x86_64, arch_arm))

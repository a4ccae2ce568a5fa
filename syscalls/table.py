"""The syscall table of one architecture: its numbers joined with the family specs.

Numbers come from the generated ``syscalls.numbers`` modules (the kernel's own tables);
behaviour from each family module's ``SPECS``. A number whose name has no spec is
known by name but unimplemented: the dispatcher answers ENOSYS and reports it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING

from syscalls import (
    arch_arm,
    arch_i386,
    arch_x86_64,
    fs,
    fsinfo,
    futex,
    mm,
    net,
    pidfd,
    poll,
    process,
    signal,
    socketcall,
    thread,
    time,
    xattr,
)
from syscalls.abi import AARCH64, ARM, I386, X86_64, LinuxAbi
from syscalls.numbers import aarch64 as aarch64_numbers
from syscalls.numbers import arm as arm_numbers
from syscalls.numbers import i386 as i386_numbers
from syscalls.numbers import x86_64 as x86_64_numbers
from syscalls.spec import Decoder, SyscallSpec, make_decoder

if TYPE_CHECKING:
    from syscalls.kernel.memory import GuestMemory

COMMON_FAMILIES = (fs, fsinfo, mm, process, thread, futex, signal, time, poll, net, pidfd,
                   xattr)


@dataclass(frozen=True, slots=True)
class BoundSyscall:
    number: int
    spec: SyscallSpec
    decode: Decoder


@dataclass(frozen=True, slots=True)
class Multiplexer:
    """A syscall that carries another one, whose arguments are an array of words in guest
    memory (i386's socketcall). The dispatcher routes each carried call to its own spec, so
    it behaves, blocks, restarts and is traced as the direct call would be (strace shows
    the carried call too); what cannot be routed goes to the multiplexer's own handler."""

    own: BoundSyscall
    calls: dict[int, tuple[int, int]]
    """Call number (the first argument) -> (trace key of the carried call, word count)."""

    def route(self, mem: GuestMemory, regs: Sequence[int]) -> tuple[int, Sequence[int]]:
        """(trace key, registers as the carried call would have them), or the
        multiplexer's own number and registers for an unknown call or an unreadable array."""
        call = regs[1] & 0xFFFFFFFF
        entry = self.calls.get(call - (1 << 32) if call & 0x80000000 else call)
        if entry is None:
            return self.own.number, regs
        key, count = entry
        data = mem.try_read(regs[2], 4 * count)
        if data is None:
            return self.own.number, regs
        return key, (key, *struct.unpack(f"<{count}I", data))


@dataclass(frozen=True, slots=True)
class SyscallTable:
    abi: LinuxAbi
    bound: dict[int, BoundSyscall]
    names: dict[int, str]
    """Every number the kernel defines for this architecture, implemented or not."""
    multiplexers: dict[int, Multiplexer] = field(default_factory=dict)
    """Numbers that carry other calls (left out of ``bound``: the dispatcher routes them)."""
    carried: dict[int, BoundSyscall] = field(default_factory=dict)
    """Carried calls with handlers, by trace key (never reachable as syscall numbers)."""
    carried_names: dict[int, str] = field(default_factory=dict)
    """Every carried call's name, by trace key."""

    @property
    def traceable(self) -> dict[int, str]:
        """What ``-e trace=`` selects from: the numbers, and the carried calls' keys."""
        return {**self.names, **self.carried_names} if self.carried_names else self.names

    def spec_of(self, key: int) -> SyscallSpec | None:
        bound = self.bound.get(key) or self.carried.get(key)
        if bound is None and key in self.multiplexers:
            bound = self.multiplexers[key].own
        return bound.spec if bound is not None else None

    def number(self, name: str) -> int | None:
        for num, known in self.names.items():
            if known == name:
                return num
        return None

    def numbers_where(self, names: Iterable[str]) -> set[int]:
        wanted = set(names)
        return {num for num, name in self.traceable.items() if name in wanted}


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


def with_socketcall(table: SyscallTable, specs: dict[str, SyscallSpec]) -> SyscallTable:
    """``table`` with socketcall routed as a :class:`Multiplexer` of net.py's calls."""
    abi = table.abi
    own = specs["socketcall"]
    bound = dict(table.bound)
    bound.pop(socketcall.SOCKETCALL, None)
    carried: dict[int, BoundSyscall] = {}
    names: dict[int, str] = {}
    calls: dict[int, tuple[int, int]] = {}
    for call, (name, count) in socketcall.CALLS.items():
        key = socketcall.carried_key(call)
        names[key] = name
        calls[call] = (key, count)
        s = specs.get(name)
        if s is not None and s.handler is not None:
            carried[key] = BoundSyscall(key, s, make_decoder(s, abi.word_size, abi.align_pairs))
    mux = Multiplexer(BoundSyscall(socketcall.SOCKETCALL, own,
                                   make_decoder(own, abi.word_size, abi.align_pairs)), calls)
    return SyscallTable(abi, bound, table.names, {socketcall.SOCKETCALL: mux}, carried, names)


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
        families = (*COMMON_FAMILIES, arch_i386, socketcall)
        table = build(I386, i386_numbers.NUMBERS, families, I386_OLD_ABI)
        return with_socketcall(table, _specs(families))
    raise KeyError(arch)


def all_specs() -> dict[str, SyscallSpec]:
    return _specs((*COMMON_FAMILIES, arch_x86_64, arch_arm, arch_i386, socketcall))

"""Syscall argument decoding: the closure decoders built for every call at start-up, the
compiled decoders and invokers the dispatcher switches to for numbers a program keeps
calling (syscalls/spec.py), and a plain reading of the ABI rules must all agree, for
every implemented call of every architecture, on edge values and on registers whose
upper bits are set."""

from __future__ import annotations

import random

import pytest

from syscalls import spec as S
from syscalls.table import table_for

EDGES = (0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x100000000, 0x7FFFFFFFFFFFFFFF,
         0x8000000000000000, 0xFFFFFFFFFFFFFFFF, 0xFFFFFFFF80000000)


def reference(kinds: tuple[S.Arg, ...], regs: list[int], word: int, align: bool
              ) -> tuple[int, ...]:
    """C int: sign-extend 32 bits; long/off_t: sign-extend the word; loff_t on a 32-bit ABI:
    two registers, low word first, starting at an even register on ARM EABI."""
    out: list[int] = []
    reg = 0
    for kind in kinds:
        if kind.pair and word == 4:
            reg += reg % 2 if align else 0
            value = (regs[reg] & 0xFFFFFFFF) | (regs[reg + 1] & 0xFFFFFFFF) << 32
            out.append(value - (1 << 64) if value >> 63 else value)
            reg += 2
            continue
        raw = regs[reg]
        reg += 1
        if kind.signed and kind.wide:
            bits = 8 * word
            out.append(raw - (1 << bits) if raw & (1 << (bits - 1)) else raw)
        elif kind.signed:
            low = raw & 0xFFFFFFFF
            out.append(low - (1 << 32) if low >> 31 else low)
        else:
            out.append(raw)
    return tuple(out)


@pytest.mark.parametrize("arch", ["x86_64", "arm", "aarch64", "i386"])
def test_decoders_and_invokers_agree(arch: str) -> None:
    table = table_for(arch)
    word, align = table.abi.word_size, table.abi.align_pairs
    rng = random.Random(arch)
    for number, bound in table.bound.items():
        spec = bound.spec
        echo = S.SyscallSpec(spec.name, lambda ctx, *args: args, spec.args)
        compiled = S.compile_decoder(spec, word, align)
        invoke = S.make_invoker(echo, word, align)
        for i in range(40):
            wide = i % 2 == 1  # half the samples keep bits above the word
            regs = [rng.choice(EDGES) if rng.random() < 0.5 else rng.getrandbits(64)
                    for _ in range(6)]
            if not wide:
                regs = [r & ((1 << (8 * word)) - 1) for r in regs]
            want = reference(spec.args, regs, word, align)
            assert bound.decode(regs) == want, (spec.name, regs)
            assert compiled(regs) == want, (spec.name, regs)
            assert invoke(None, [number, *regs]) == want, (spec.name, regs)

"""32-bit ARM dynamic relocations.

Reference: ELF for the Arm Architecture (AAELF32), §5.6 "Relocation", Table 5-6
(dynamic relocations). ARM images use REL tables: the addend A is the word already at
the target, so R_ARM_RELATIVE stores B + *P. T (the Thumb bit of a function symbol) is
already part of S for STT_FUNC symbols in a dynamic symbol table.
"""

from __future__ import annotations

from loader.errors import RelocationError
from loader.relocations import Relocation, RelocContext, RelocType


def relative(ctx: RelocContext, rel: Relocation, rtype: RelocType) -> int:
    """R_ARM_RELATIVE: B(S) + A, with A read in place for REL."""
    return ctx.bias + rtype.addend(ctx, rel)


def absolute(ctx: RelocContext, rel: Relocation, rtype: RelocType) -> int:
    """R_ARM_ABS32: (S + A) | T."""
    return ctx.symbol_value(rel, rtype) + rtype.addend(ctx, rel)


def symbol_only(ctx: RelocContext, rel: Relocation, rtype: RelocType) -> int:
    """R_ARM_GLOB_DAT and R_ARM_JUMP_SLOT: (S + A) | T, with A ignored by glibc's ld.so."""
    return ctx.symbol_value(rel, rtype)


def unsupported(ctx: RelocContext, rel: Relocation, rtype: RelocType) -> int:
    raise RelocationError(
        f"{rtype.name} at {rel.offset - ctx.bias:#x} needs a dynamic loader; "
        "dynamically linked binaries are not supported yet")


TABLE: dict[int, RelocType] = {
    0: RelocType("R_ARM_NONE", 4, None),
    2: RelocType("R_ARM_ABS32", 4, absolute),
    17: RelocType("R_ARM_TLS_DTPMOD32", 4, unsupported),
    18: RelocType("R_ARM_TLS_DTPOFF32", 4, unsupported),
    19: RelocType("R_ARM_TLS_TPOFF32", 4, unsupported),
    20: RelocType("R_ARM_COPY", 4, unsupported),
    21: RelocType("R_ARM_GLOB_DAT", 4, symbol_only),
    22: RelocType("R_ARM_JUMP_SLOT", 4, symbol_only),
    23: RelocType("R_ARM_RELATIVE", 4, relative),
    160: RelocType("R_ARM_IRELATIVE", 4, unsupported),
}

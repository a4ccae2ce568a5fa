"""i386 dynamic relocations.

Reference: System V ABI, Intel386 Architecture Processor Supplement, §4 "Relocation
Types" (REL only: the addend A is the word already at the target). Notation: B = load
bias, S = symbol value.
"""

from __future__ import annotations

from loader.errors import RelocationError
from loader.relocations import Relocation, RelocContext, RelocType


def relative(ctx: RelocContext, rel: Relocation, rtype: RelocType) -> int:
    """R_386_RELATIVE: B + A, with A read in place."""
    return ctx.bias + rtype.addend(ctx, rel)


def absolute(ctx: RelocContext, rel: Relocation, rtype: RelocType) -> int:
    """R_386_32: S + A."""
    return ctx.symbol_value(rel, rtype) + rtype.addend(ctx, rel)


def symbol_only(ctx: RelocContext, rel: Relocation, rtype: RelocType) -> int:
    """R_386_GLOB_DAT and R_386_JMP_SLOT: S."""
    return ctx.symbol_value(rel, rtype)


def unsupported(ctx: RelocContext, rel: Relocation, rtype: RelocType) -> int:
    raise RelocationError(
        f"{rtype.name} at {rel.offset - ctx.bias:#x} needs a dynamic loader; "
        "dynamically linked binaries are not supported yet")


TABLE: dict[int, RelocType] = {
    0: RelocType("R_386_NONE", 4, None),
    1: RelocType("R_386_32", 4, absolute),
    5: RelocType("R_386_COPY", 4, unsupported),
    6: RelocType("R_386_GLOB_DAT", 4, symbol_only),
    7: RelocType("R_386_JMP_SLOT", 4, symbol_only),
    8: RelocType("R_386_RELATIVE", 4, relative),
    14: RelocType("R_386_TLS_TPOFF", 4, unsupported),
    35: RelocType("R_386_TLS_DTPMOD32", 4, unsupported),
    36: RelocType("R_386_TLS_DTPOFF32", 4, unsupported),
    37: RelocType("R_386_TLS_TPOFF32", 4, unsupported),
    42: RelocType("R_386_IRELATIVE", 4, unsupported),
}

"""x86-64 dynamic relocations.

Reference: System V ABI, AMD64 Architecture Processor Supplement (psABI), §4.4
"Relocation", Table 4.9. Notation: A = addend (RELA), B = load bias, S = symbol value.
Only what a self-contained image can need is computed; types that need another object
(COPY, TLS, IRELATIVE's resolver call) are listed so they fail by name.
"""

from __future__ import annotations

from loader.errors import RelocationError
from loader.relocations import Relocation, RelocContext, RelocType


def relative(ctx: RelocContext, rel: Relocation, rtype: RelocType) -> int:
    """R_X86_64_RELATIVE: B + A."""
    return ctx.bias + rtype.addend(ctx, rel)


def absolute(ctx: RelocContext, rel: Relocation, rtype: RelocType) -> int:
    """R_X86_64_64: S + A."""
    return ctx.symbol_value(rel, rtype) + rtype.addend(ctx, rel)


def symbol_only(ctx: RelocContext, rel: Relocation, rtype: RelocType) -> int:
    """R_X86_64_GLOB_DAT and R_X86_64_JUMP_SLOT: S."""
    return ctx.symbol_value(rel, rtype)


def unsupported(ctx: RelocContext, rel: Relocation, rtype: RelocType) -> int:
    raise RelocationError(
        f"{rtype.name} at {rel.offset - ctx.bias:#x} needs a dynamic loader; "
        "dynamically linked binaries are not supported yet")


TABLE: dict[int, RelocType] = {
    0: RelocType("R_X86_64_NONE", 8, None),
    1: RelocType("R_X86_64_64", 8, absolute),
    5: RelocType("R_X86_64_COPY", 8, unsupported),
    6: RelocType("R_X86_64_GLOB_DAT", 8, symbol_only),
    7: RelocType("R_X86_64_JUMP_SLOT", 8, symbol_only),
    8: RelocType("R_X86_64_RELATIVE", 8, relative),
    16: RelocType("R_X86_64_DTPMOD64", 8, unsupported),
    17: RelocType("R_X86_64_DTPOFF64", 8, unsupported),
    18: RelocType("R_X86_64_TPOFF64", 8, unsupported),
    37: RelocType("R_X86_64_IRELATIVE", 8, unsupported),
}

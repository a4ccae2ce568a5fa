"""AArch64 dynamic relocations.

Reference: ELF for the Arm 64-bit Architecture (AAELF64), §5.7.9 "Dynamic relocations",
Table 5-20 (RELA only: A is the entry's addend). Notation: B = load bias, S = symbol value.
"""

from __future__ import annotations

from loader.errors import RelocationError
from loader.relocations import Relocation, RelocContext, RelocType


def relative(ctx: RelocContext, rel: Relocation, rtype: RelocType) -> int:
    """R_AARCH64_RELATIVE: Delta(S) + A, i.e. B + A."""
    return ctx.bias + rtype.addend(ctx, rel)


def absolute(ctx: RelocContext, rel: Relocation, rtype: RelocType) -> int:
    """R_AARCH64_ABS64: S + A."""
    return ctx.symbol_value(rel, rtype) + rtype.addend(ctx, rel)


def symbol_plus_addend(ctx: RelocContext, rel: Relocation, rtype: RelocType) -> int:
    """R_AARCH64_GLOB_DAT and R_AARCH64_JUMP_SLOT: S + A."""
    return ctx.symbol_value(rel, rtype) + rtype.addend(ctx, rel)


def unsupported(ctx: RelocContext, rel: Relocation, rtype: RelocType) -> int:
    raise RelocationError(
        f"{rtype.name} at {rel.offset - ctx.bias:#x} needs a dynamic loader; "
        "dynamically linked binaries are not supported yet")


TABLE: dict[int, RelocType] = {
    0: RelocType("R_AARCH64_NONE", 8, None),
    257: RelocType("R_AARCH64_ABS64", 8, absolute),
    1024: RelocType("R_AARCH64_COPY", 8, unsupported),
    1025: RelocType("R_AARCH64_GLOB_DAT", 8, symbol_plus_addend),
    1026: RelocType("R_AARCH64_JUMP_SLOT", 8, symbol_plus_addend),
    1027: RelocType("R_AARCH64_RELATIVE", 8, relative),
    1028: RelocType("R_AARCH64_TLS_DTPMOD", 8, unsupported),
    1029: RelocType("R_AARCH64_TLS_DTPREL", 8, unsupported),
    1030: RelocType("R_AARCH64_TLS_TPREL", 8, unsupported),
    1031: RelocType("R_AARCH64_TLSDESC", 8, unsupported),
    1032: RelocType("R_AARCH64_IRELATIVE", 8, unsupported),
}

"""The FXSAVE area of x86 signal frames (x87, MXCSR and XMM state), for both x86 Archs."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import TYPE_CHECKING

from unicorn import x86_const as X

if TYPE_CHECKING:
    from emulator.cpu import Cpu

FXSAVE_SIZE = 512
ST_REGS = tuple(getattr(X, f"UC_X86_REG_FP{i}") for i in range(8))


def fxsave(cpu: Cpu, xmm_regs: Sequence[int]) -> bytes:
    area = bytearray(FXSAVE_SIZE)
    struct.pack_into("<HH", area, 0, cpu.reg(X.UC_X86_REG_FPCW) & 0xFFFF,
                     cpu.reg(X.UC_X86_REG_FPSW) & 0xFFFF)
    struct.pack_into("<II", area, 24, cpu.reg(X.UC_X86_REG_MXCSR), 0xFFFF)
    for i, reg in enumerate(ST_REGS):
        mantissa, exponent = cpu.uc.reg_read(reg)
        struct.pack_into("<QH", area, 32 + 16 * i, mantissa, exponent)
    for i, reg in enumerate(xmm_regs):
        area[160 + 16 * i:176 + 16 * i] = int(cpu.uc.reg_read(reg)).to_bytes(16, "little")
    return bytes(area)


def fxrstor(cpu: Cpu, area: bytes, xmm_regs: Sequence[int]) -> None:
    fcw, fsw = struct.unpack_from("<HH", area, 0)
    cpu.set_reg(X.UC_X86_REG_FPCW, fcw)
    cpu.set_reg(X.UC_X86_REG_FPSW, fsw)
    cpu.set_reg(X.UC_X86_REG_MXCSR, struct.unpack_from("<I", area, 24)[0] & 0xFFFF)
    for i, reg in enumerate(ST_REGS):
        mantissa, exponent = struct.unpack_from("<QH", area, 32 + 16 * i)
        cpu.uc.reg_write(reg, (mantissa, exponent))
    for i, reg in enumerate(xmm_regs):
        cpu.uc.reg_write(reg, int.from_bytes(area[160 + 16 * i:176 + 16 * i], "little"))

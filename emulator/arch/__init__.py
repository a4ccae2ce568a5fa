"""The architectures elftrace runs, looked up by ELF machine and class."""

from __future__ import annotations

from emulator.arch.aarch64 import AArch64
from emulator.arch.arm import Arm
from emulator.arch.base import Arch
from emulator.arch.i386 import I386
from emulator.arch.x86_64 import X86_64
from loader.elf import ElfInfo, machine_name
from loader.errors import UnsupportedArch

ARCHES: tuple[type[Arch], ...] = (X86_64, Arm, AArch64, I386)


def arch_for(info: ElfInfo) -> Arch:
    for cls in ARCHES:
        if cls.machine == info.machine and cls.elf_class == info.elf_class:
            return cls()
    bits = 64 if info.word_size == 8 else 32
    supported = ", ".join(c.name for c in ARCHES)
    raise UnsupportedArch(
        f"{info.path}: {bits}-bit {machine_name(info.machine)} binaries are not supported "
        f"(supported: {supported})")


__all__ = ["ARCHES", "Arch", "arch_for"]

"""The architectures elftrace runs, looked up by ELF machine and class.

Each Arch module is imported only when a binary of its architecture is loaded: an
Arch pulls in Unicorn's register constants and its signal-frame code, ~5-15 ms of
start-up each, and one process runs one architecture.
"""

from __future__ import annotations

from importlib import import_module

from emulator.arch.base import Arch
from loader.elf import ElfClass, ElfInfo, Machine, machine_name
from loader.errors import UnsupportedArch

_REGISTRY: tuple[tuple[Machine, ElfClass, str, str], ...] = (
    (Machine.X86_64, ElfClass.ELF64, "emulator.arch.x86_64", "X86_64"),
    (Machine.ARM, ElfClass.ELF32, "emulator.arch.arm", "Arm"),
    (Machine.AARCH64, ElfClass.ELF64, "emulator.arch.aarch64", "AArch64"),
    (Machine.I386, ElfClass.ELF32, "emulator.arch.i386", "I386"),
)
"""(ELF machine, ELF class, module, class name) of every supported architecture."""


def arch_classes() -> tuple[type[Arch], ...]:
    """Every supported Arch class (imports all of them)."""
    return tuple(getattr(import_module(module), name) for _, _, module, name in _REGISTRY)


def arch_for(info: ElfInfo) -> Arch:
    for machine, elf_class, module, name in _REGISTRY:
        if machine == info.machine and elf_class == info.elf_class:
            cls: type[Arch] = getattr(import_module(module), name)
            return cls()
    bits = 64 if info.word_size == 8 else 32
    supported = ", ".join(c.name for c in arch_classes())
    raise UnsupportedArch(
        f"{info.path}: {bits}-bit {machine_name(info.machine)} binaries are not supported "
        f"(supported: {supported})")


__all__ = ["Arch", "arch_classes", "arch_for"]

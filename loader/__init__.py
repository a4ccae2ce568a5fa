"""ELF loading, pure: no Unicorn here.

ELF file -> validated :class:`ElfInfo` -> :class:`LoadedImage` (page mappings with
relocations applied, entry point, auxv facts) plus the initial stack image.
"""

from __future__ import annotations

from loader.elf import ElfInfo, read_elf
from loader.errors import (
    LoaderError,
    MalformedElf,
    NotElf,
    RelocationError,
    UnsupportedArch,
    UnsupportedImage,
)
from loader.image import LoadedImage, Mapping, load_image

__all__ = [
    "ElfInfo",
    "LoadedImage",
    "LoaderError",
    "MalformedElf",
    "Mapping",
    "NotElf",
    "RelocationError",
    "UnsupportedArch",
    "UnsupportedImage",
    "load_image",
    "read_elf",
]

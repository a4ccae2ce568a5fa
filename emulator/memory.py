"""Guest memory in Unicorn: raw access for the kernel model and the page-table mirror.

:class:`UnicornMemory` is both the ``RawMemory`` the handlers read and write through
and the ``MemoryBackend`` an :class:`~syscalls.kernel.vm.AddressSpace` keeps in step
with its VMAs. Linux's PROT_* bits and Unicorn's UC_PROT_* bits have the same values.
"""

from __future__ import annotations

from unicorn import Uc, UcError

from syscalls.kernel.memory import MemoryFault


class UnicornMemory:
    __slots__ = ("uc",)

    def __init__(self, uc: Uc) -> None:
        self.uc = uc

    # RawMemory

    def read(self, addr: int, size: int) -> bytes:
        try:
            return bytes(self.uc.mem_read(addr, size))
        except (UcError, OverflowError):
            raise MemoryFault(addr, size) from None

    def write(self, addr: int, data: bytes) -> None:
        try:
            self.uc.mem_write(addr, bytes(data))
        except (UcError, OverflowError):
            raise MemoryFault(addr, len(data)) from None

    # MemoryBackend

    def map(self, start: int, size: int, prot: int) -> None:
        self.uc.mem_map(start, size, prot & 7)

    def unmap(self, start: int, size: int) -> None:
        self.uc.mem_unmap(start, size)

    def protect(self, start: int, size: int, prot: int) -> None:
        self.uc.mem_protect(start, size, prot & 7)

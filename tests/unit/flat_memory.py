"""A flat stand-in for guest memory in handler unit tests: 64 KiB, anything above faults."""

from __future__ import annotations

from syscalls.kernel.memory import MemoryFault

FLAT_SIZE = 1 << 16


class FlatMemory:
    def __init__(self, size: int = FLAT_SIZE) -> None:
        self.data = bytearray(size)

    def read(self, addr: int, size: int) -> bytes:
        if addr + size > len(self.data):
            raise MemoryFault(addr, size)
        return bytes(self.data[addr:addr + size])

    def write(self, addr: int, data: bytes) -> None:
        if addr + len(data) > len(self.data):
            raise MemoryFault(addr, len(data))
        self.data[addr:addr + len(data)] = data

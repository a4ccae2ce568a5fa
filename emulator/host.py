"""Facts about the host that the emulated kernel reports as its own."""

from __future__ import annotations

import ctypes
import platform

# The kernel's O_LARGEFILE on the host (glibc defines O_LARGEFILE as 0 on 64-bit hosts,
# but F_GETFL reports the kernel's bit).
O_LARGEFILE = {"x86_64": 0o100000, "aarch64": 0o400000, "armv7l": 0o400000}.get(
    platform.machine(), 0o100000)

# sched_getaffinity's number on the hosts elftrace runs on.
_SCHED_GETAFFINITY = {"x86_64": 204, "aarch64": 123, "armv7l": 242, "i686": 242}


def cpumask_bytes() -> int:
    """What the host kernel's sched_getaffinity returns: its cpumask size in bytes."""
    number = _SCHED_GETAFFINITY.get(platform.machine())
    if number is None:
        return 0
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        buf = ctypes.create_string_buffer(8192)
        result = int(libc.syscall(number, 0, 8192, buf))
    except (OSError, AttributeError):
        return 0
    return result if result > 0 else 0


def memory_bytes() -> int | None:
    """RAM plus swap: what Linux's heuristic overcommit lets one allocation reach, and the
    default bound on the guest's accessible memory."""
    total = 0
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                name, _, rest = line.partition(":")
                if name in ("MemTotal", "SwapTotal"):
                    total += int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return total or None

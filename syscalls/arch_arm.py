"""ARM-private syscalls (arch/arm/kernel/traps.c: arm_syscall), numbered from 0xf0000.

Go never calls them; glibc and musl start-up code call set_tls once. cacheflush has
nothing to do: Unicorn retranslates code it sees written (self-modifying code checks).
"""

from __future__ import annotations

from syscalls.context import SyscallContext
from syscalls.errno import Errno, SyscallError
from syscalls.spec import Hex, Ptr, spec


def sys_set_tls(ctx: SyscallContext, value: int) -> int:
    ctx.cpu.set_tls(value)
    return 0


def sys_get_tls(ctx: SyscallContext) -> int:
    return ctx.cpu.get_tls()


def sys_cacheflush(ctx: SyscallContext, start: int, end: int, flags: int) -> int:
    if end < start or flags:
        raise SyscallError(Errno.EINVAL)
    if not ctx.vm.covered(start & ~4095, end):
        raise SyscallError(Errno.EFAULT)
    return 0


SPECS = (
    spec("set_tls", sys_set_tls, Hex()),
    spec("get_tls", sys_get_tls),
    spec("cacheflush", sys_cacheflush, Ptr(), Ptr(), Hex()),
)

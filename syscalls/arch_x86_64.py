"""x86-64-only syscalls: arch_prctl (arch/x86/kernel/process_64.c)."""

from __future__ import annotations

from syscalls.context import SyscallContext
from syscalls.errno import Errno, SyscallError
from syscalls.spec import Enum_, Hex, Support, spec

ARCH_SET_GS = 0x1001
ARCH_SET_FS = 0x1002
ARCH_GET_FS = 0x1003
ARCH_GET_GS = 0x1004
TASK_SIZE = 0x7FFFFFFFF000


def sys_arch_prctl(ctx: SyscallContext, code: int, addr: int) -> int:
    if code == ARCH_SET_FS:
        if addr >= TASK_SIZE:
            raise SyscallError(Errno.EPERM)
        ctx.cpu.set_tls(addr)
        return 0
    if code == ARCH_GET_FS:
        ctx.mem.write_u64(addr, ctx.cpu.get_tls())
        return 0
    if code in (ARCH_SET_GS, ARCH_GET_GS):
        raise SyscallError(Errno.EINVAL, "the GS base is not emulated")
    raise SyscallError(Errno.EINVAL)


SPECS = (
    spec("arch_prctl", sys_arch_prctl, Enum_(table="arch_prctl"), Hex(), printer="arch_prctl",
         support=Support.PARTIAL, note="ARCH_SET_FS/ARCH_GET_FS; the GS base is EINVAL"),
)

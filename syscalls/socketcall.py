"""socketcall(2), i386's multiplexed socket call (net/socket.c, net/compat.c).

``socketcall(call, args)`` carries one socket call: ``call`` says which (SYS_SOCKET = 1 ...
SYS_SENDMMSG = 20) and ``args`` points to its arguments, an array of 32-bit words in
guest memory. Go's 386 port and older C libraries make every socket call this way; the
direct calls (socket = 359 ...) came later. The dispatcher reads the array and runs the
carried call's own handler from syscalls/net.py (see :class:`~syscalls.table.Multiplexer`),
so it behaves, and is traced, filtered and counted, as the direct call would be —
strace shows it the same way. What is left for the handler here is what socketcall
itself refuses: an unknown call (EINVAL) and an unreadable argument array (EFAULT).
"""

from __future__ import annotations

import struct

from syscalls.context import SyscallContext
from syscalls.errno import Errno, SyscallError
from syscalls.kernel.wait import Block
from syscalls.spec import NETWORK, Int, Ptr, Support, spec

SOCKETCALL = 102
"""Its number on i386."""

CALLS: dict[int, tuple[str, int]] = {
    1: ("socket", 3),
    2: ("bind", 3),
    3: ("connect", 3),
    4: ("listen", 2),
    5: ("accept", 3),
    6: ("getsockname", 3),
    7: ("getpeername", 3),
    8: ("socketpair", 4),
    9: ("send", 4),
    10: ("recv", 4),
    11: ("sendto", 6),
    12: ("recvfrom", 6),
    13: ("shutdown", 2),
    14: ("setsockopt", 5),
    15: ("getsockopt", 5),
    16: ("sendmsg", 3),
    17: ("recvmsg", 3),
    18: ("accept4", 4),
    19: ("recvmmsg", 5),
    20: ("sendmmsg", 4),
}
"""Call number -> (the call it carries, how many argument words the kernel copies in)."""

CALL_NAMES = {call: f"SYS_{name.upper()}" for call, (name, _) in CALLS.items()}

CARRIED_KEY_BASE = 0x660000
"""Trace keys of the carried calls: 0x66 (102) followed by the call number, outside every
architecture's syscall numbers. A carried call is published (``--json``'s ``number``)
under its key; its name is the carried call's."""


def carried_key(call: int) -> int:
    return CARRIED_KEY_BASE + call


def sys_socketcall(ctx: SyscallContext, call: int, args: int) -> int | Block:
    """socketcall(2) whole. The dispatcher reaches it only for what it could not route to
    a carried call (an unknown call, an unreadable array): Linux's own refusals."""
    entry = CALLS.get(call)
    if entry is None:
        raise SyscallError(Errno.EINVAL)
    name, count = entry
    words = struct.unpack(f"<{count}I", ctx.mem.read(args, 4 * count))
    from syscalls.table import table_for

    carried = table_for(ctx.abi.name).carried.get(carried_key(call))
    if carried is None:
        raise SyscallError(Errno.ENOSYS, f"{name} is not implemented")
    return carried.spec.handler(ctx, *carried.decode(words))  # type: ignore[misc, return-value]


SPECS = (
    spec("socketcall", sys_socketcall, Int(), Ptr(), printer="socketcall", classes=(NETWORK,),
         support=Support.PARTIAL,
         note="each carried call runs (and is traced) as the direct call; recvmmsg and "
              "sendmmsg are ENOSYS, as their direct calls"),
)

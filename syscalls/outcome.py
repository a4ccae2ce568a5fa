"""Outcomes other than a return value that a handler can produce.

A handler returns an ``int`` (the result, or raises SyscallError), a
:class:`~syscalls.kernel.wait.Block` to park the thread, or :data:`NO_RETURN` when
the call does not write a return value because it replaced the registers
(rt_sigreturn) or ended the thread or process (exit, exit_group). The run loop
interprets these; handlers never touch the program counter themselves.
"""

from __future__ import annotations

from typing import Final

from syscalls.kernel.wait import Block


class NoReturn:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_RETURN"


NO_RETURN: Final = NoReturn()

EXECED: Final = NoReturn()
"""execve succeeded: the thread is gone (its program runs elsewhere) but the call, as
strace shows it, returned 0."""

Outcome = Block | NoReturn

__all__ = ["EXECED", "NO_RETURN", "Block", "NoReturn", "Outcome"]

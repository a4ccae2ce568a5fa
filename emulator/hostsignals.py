"""Host signals sent to elftrace become signals to the guest, as under qemu-user.

Ctrl-C, ``kill -TERM`` and the like reach the elftrace process; the guest gets them as
process-directed signals (SI_USER) and runs its own handlers or default actions. Python
runs signal handlers only between bytecodes of the main thread, which may be inside
``emu_start`` for a long time, so the C-level handler also writes to a wakeup pipe:
the slice thread watches it and ends the slice, and the idle loop's ``select``
watches it too.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator
from types import FrameType

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
             signal.SIGUSR2, signal.SIGWINCH, signal.SIGALRM, signal.SIGCONT, signal.SIGPIPE)


class HostSignals:
    def __init__(self, deliver: Callable[[int], None]) -> None:
        self.deliver = deliver
        self.read_fd, self.write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def _handler(self, signo: int, frame: FrameType | None) -> None:
        self.deliver(signo)

    def drain(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self.read_fd, 512):
                pass

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Forward host signals while the guest runs (main thread only)."""
        previous = {}
        old_fd = None
        try:
            old_fd = signal.set_wakeup_fd(self.write_fd, warn_on_full_buffer=False)
            for signo in FORWARDED:
                previous[signo] = signal.signal(signo, self._handler)
        except ValueError:  # not the main thread: run without forwarding
            pass
        try:
            yield
        finally:
            for signo, handler in previous.items():
                signal.signal(signo, handler)
            if old_fd is not None:
                signal.set_wakeup_fd(old_fd)
            os.close(self.read_fd)
            os.close(self.write_fd)

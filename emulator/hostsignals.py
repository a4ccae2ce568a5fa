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


NOT_INHERITED = frozenset({signal.SIGPIPE, signal.SIGXFSZ, signal.SIGCHLD})
"""Python sets SIGPIPE and SIGXFSZ to SIG_IGN itself at start-up, so what elftrace was
given is unknown; an ignored SIGCHLD means auto-reaped children, which the kernel model
does not do. The guest starts with these at their defaults."""


def inherited_ignored() -> list[int]:
    """Signals elftrace was started with ignored (nohup's SIGHUP, a background job's
    SIGINT and SIGQUIT). execve keeps SIG_IGN dispositions, so the guest starts with them
    ignored too: Go then leaves them alone, as it does natively."""
    ignored = []
    for signo in range(1, signal.NSIG):
        if signo in NOT_INHERITED:
            continue
        try:
            if signal.getsignal(signo) == signal.SIG_IGN:
                ignored.append(signo)
        except (OSError, ValueError):
            continue
    return ignored


def inherited_mask() -> int:
    """The signals elftrace was started with blocked (execve keeps the mask), as the
    guest's bit mask (bit signo - 1)."""
    return sum(1 << (signo - 1) for signo in signal.pthread_sigmask(signal.SIG_BLOCK, ()))


class HostSignals:
    def __init__(self, deliver: Callable[[int], None], child_ended: Callable[[], None]) -> None:
        self.deliver = deliver
        self.child_ended = child_ended
        """SIGCHLD: a host process elftrace started for the guest (an exec) ended."""
        self.read_fd, self.write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def _handler(self, signo: int, frame: FrameType | None) -> None:
        self.deliver(signo)

    def _child_handler(self, signo: int, frame: FrameType | None) -> None:
        self.child_ended()

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
            previous[signal.SIGCHLD] = signal.signal(signal.SIGCHLD, self._child_handler)
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

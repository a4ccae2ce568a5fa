"""Signals as the kernel keeps them: numbers, actions, masks, queued siginfo.

Numbers are the same on x86-64 and ARM (arch/x86/include/uapi/asm/signal.h and
arch/arm/include/uapi/asm/signal.h agree for 1..31; 32..64 are real-time). Default
actions follow signal(7). The frame a handler runs on is the architecture's
business (emulator/arch); this module decides *which* signal is delivered and how.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, IntEnum

NSIG = 64


class Sig(IntEnum):
    SIGHUP = 1
    SIGINT = 2
    SIGQUIT = 3
    SIGILL = 4
    SIGTRAP = 5
    SIGABRT = 6
    SIGBUS = 7
    SIGFPE = 8
    SIGKILL = 9
    SIGUSR1 = 10
    SIGSEGV = 11
    SIGUSR2 = 12
    SIGPIPE = 13
    SIGALRM = 14
    SIGTERM = 15
    SIGSTKFLT = 16
    SIGCHLD = 17
    SIGCONT = 18
    SIGSTOP = 19
    SIGTSTP = 20
    SIGTTIN = 21
    SIGTTOU = 22
    SIGURG = 23
    SIGXCPU = 24
    SIGXFSZ = 25
    SIGVTALRM = 26
    SIGPROF = 27
    SIGWINCH = 28
    SIGIO = 29
    SIGPWR = 30
    SIGSYS = 31


SIGRTMIN = 32


def signal_name(signo: int) -> str:
    """strace's names: SIGURG, SIGRTMIN for 32, SIGRT_1..SIGRT_32 for 33..64."""
    if 1 <= signo <= 31:
        return Sig(signo).name
    if signo == SIGRTMIN:
        return "SIGRTMIN"
    if SIGRTMIN < signo <= NSIG:
        return f"SIGRT_{signo - SIGRTMIN}"
    return str(signo)


def short_name(signo: int) -> str:
    """Names inside a printed sigset: HUP, URG, RTMIN, RT_1."""
    name = signal_name(signo)
    return name[3:] if name.startswith("SIG") else name


class Default(Enum):
    TERM = "term"
    IGNORE = "ignore"
    CORE = "core"
    STOP = "stop"
    CONT = "cont"


_DEFAULTS = {
    Sig.SIGHUP: Default.TERM, Sig.SIGINT: Default.TERM, Sig.SIGQUIT: Default.CORE,
    Sig.SIGILL: Default.CORE, Sig.SIGTRAP: Default.CORE, Sig.SIGABRT: Default.CORE,
    Sig.SIGBUS: Default.CORE, Sig.SIGFPE: Default.CORE, Sig.SIGKILL: Default.TERM,
    Sig.SIGUSR1: Default.TERM, Sig.SIGSEGV: Default.CORE, Sig.SIGUSR2: Default.TERM,
    Sig.SIGPIPE: Default.TERM, Sig.SIGALRM: Default.TERM, Sig.SIGTERM: Default.TERM,
    Sig.SIGSTKFLT: Default.TERM, Sig.SIGCHLD: Default.IGNORE, Sig.SIGCONT: Default.CONT,
    Sig.SIGSTOP: Default.STOP, Sig.SIGTSTP: Default.STOP, Sig.SIGTTIN: Default.STOP,
    Sig.SIGTTOU: Default.STOP, Sig.SIGURG: Default.IGNORE, Sig.SIGXCPU: Default.CORE,
    Sig.SIGXFSZ: Default.CORE, Sig.SIGVTALRM: Default.TERM, Sig.SIGPROF: Default.TERM,
    Sig.SIGWINCH: Default.IGNORE, Sig.SIGIO: Default.TERM, Sig.SIGPWR: Default.TERM,
    Sig.SIGSYS: Default.CORE,
}


def default_action(signo: int) -> Default:
    return _DEFAULTS.get(signo, Default.TERM)  # type: ignore[call-overload]


SIG_DFL = 0
SIG_IGN = 1

# si_code values (include/uapi/asm-generic/siginfo.h).
SI_USER = 0
SI_KERNEL = 0x80
SI_QUEUE = -1
SI_TIMER = -2
SI_TKILL = -6
SEGV_MAPERR = 1
SEGV_ACCERR = 2
BUS_ADRALN = 1
BUS_ADRERR = 2
FPE_INTDIV = 1
ILL_ILLOPC = 1
ILL_ILLOPN = 2
TRAP_BRKPT = 1
CLD_EXITED = 1
CLD_KILLED = 2
CLD_DUMPED = 3

UNBLOCKABLE = (1 << (Sig.SIGKILL - 1)) | (1 << (Sig.SIGSTOP - 1))
SYNCHRONOUS_MASK = sum(1 << (s - 1) for s in (Sig.SIGSEGV, Sig.SIGBUS, Sig.SIGILL, Sig.SIGTRAP,
                                               Sig.SIGFPE, Sig.SIGSYS))
FULL_MASK = (1 << NSIG) - 1


def bit(signo: int) -> int:
    return 1 << (signo - 1)


@dataclass(frozen=True, slots=True)
class SigInfo:
    """The parts of siginfo_t elftrace fills: who sent it, or which address faulted."""

    signo: int
    code: int
    errno: int = 0
    pid: int = 0
    uid: int = 0
    addr: int | None = None
    """For SIGSEGV/SIGBUS/SIGILL/SIGFPE: the faulting address (si_addr)."""
    trapno: int = 0
    """The CPU's trap number (x86 uc_mcontext.trapno; ARM sigcontext.trap_no)."""
    error_code: int = 0
    status: int = 0
    """For SIGCHLD."""
    timerid: int | None = None
    """For SI_TIMER: the POSIX timer that sent it (si_timerid), with ``overrun``."""
    overrun: int = 0
    value: int = 0
    """si_value (sigev_value of a timer, sigqueue's value)."""


@dataclass(slots=True)
class SigAction:
    handler: int = SIG_DFL
    flags: int = 0
    restorer: int = 0
    mask: int = 0

    @property
    def is_default(self) -> bool:
        return self.handler == SIG_DFL

    @property
    def is_ignore(self) -> bool:
        return self.handler == SIG_IGN


@dataclass(slots=True)
class AltStack:
    sp: int = 0
    size: int = 0
    flags: int = 2  # SS_DISABLE

    @property
    def enabled(self) -> bool:
        return not self.flags & 2

    def contains(self, sp: int) -> bool:
        return self.enabled and self.sp < sp <= self.sp + self.size


@dataclass(slots=True)
class PendingSignals:
    """Queued signals: standard ones coalesce, real-time ones queue (signal(7))."""

    queue: list[SigInfo] = field(default_factory=list)
    mask: int = 0

    def add(self, info: SigInfo) -> bool:
        if info.signo < SIGRTMIN and self.mask & bit(info.signo):
            return False
        self.queue.append(info)
        self.mask |= bit(info.signo)
        return True

    def take(self, blocked: int) -> SigInfo | None:
        """The lowest-numbered pending signal not in ``blocked`` (synchronous ones first)."""
        ready = self.mask & ~blocked
        if not ready:
            return None
        # Synchronous signals (faults the CPU raised) go first, lowest-numbered first, as
        # in Linux's next_signal(); then the lowest-numbered of the rest.
        synchronous = ready & SYNCHRONOUS_MASK
        pick = synchronous or ready
        return self._remove((pick & -pick).bit_length())

    def _remove(self, signo: int) -> SigInfo:
        for i, info in enumerate(self.queue):
            if info.signo == signo:
                del self.queue[i]
                break
        else:  # pragma: no cover - mask and queue are kept in step
            raise AssertionError("pending mask out of step with queue")
        if not any(q.signo == signo for q in self.queue):
            self.mask &= ~bit(signo)
        return info

    def discard(self, signo: int) -> None:
        self.queue = [q for q in self.queue if q.signo != signo]
        self.mask &= ~bit(signo)


def format_sigset(mask: int) -> str:
    """strace's sigset notation: ``[HUP INT]``, or ``~[KILL STOP]`` once at least two
    thirds of the signals are set (strace's sprintsigmask_n)."""
    mask &= FULL_MASK
    members = [s for s in range(1, NSIG + 1) if mask & bit(s)]
    if len(members) >= NSIG * 2 // 3:
        missing = [s for s in range(1, NSIG + 1) if not mask & bit(s)]
        return "~[" + " ".join(short_name(s) for s in missing) + "]"
    return "[" + " ".join(short_name(s) for s in members) + "]"

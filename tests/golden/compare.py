"""Parsing traces and the normalisation rules used to compare elftrace with an oracle.

The rules, in full (the README repeats them):

1. stdout is compared byte for byte; the exit status exactly.
2. stderr is compared after replacing hexadecimal numbers by ``0x?`` and goroutine
   numbers by ``N`` (Go's panic output prints addresses and argument words that depend
   on where the heap landed; qemu-user also writes 0 where Linux writes the fault
   address in an ARM sigcontext).
3. Syscalls are compared by name, ignoring the *noise* calls whose count varies from
   run to run even natively (scheduler and timer activity: futex, nanosleep, clock
   reads, sched_yield, the sysmon's getpid+tgkill preemption and rt_sigreturn, madvise,
   munmap, epoll waits, thread exits) and execve (strace prints it, qemu does not):
   a. the main thread's calls before its first clone (Go's single-threaded start-up)
      must be the same sequence, leaving out mmap/mmap2, whose number and position
      follow Go 1.27's randomised heap hints (seeded from AT_RANDOM);
   b. the sets of distinct calls over the whole run must be equal;
   c. the calls on files the program opened by path, and on stdin/stdout/stderr, must
      be the same sequence: for amd64 as full strace lines with addresses, temp-dir
      names and epoll data words normalised; for ARM by name, for path calls and stdio
      only — qemu-user's shared log separates a call from its result when other
      threads or a signal handler log in between, so the descriptor a call returned is
      not always known, and it logs a call a signal restarted twice (runs of the same
      call count as one).
4. For a PIE with PT_INTERP, the real machine first runs glibc's ld.so, which makes
   its own calls (brk, access of /etc/ld.so.preload, arch_prctl, set_tid_address,
   set_robust_list, rseq) and ends by making PT_GNU_RELRO read-only with mprotect.
   elftrace relocates the image itself and starts at the program's entry, so the
   oracle's calls up to and including that mprotect are dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NOISE = frozenset({
    "futex", "futex_time64", "nanosleep", "clock_nanosleep", "clock_nanosleep_time64",
    "clock_gettime", "clock_gettime64", "gettimeofday", "time", "sched_yield", "tgkill",
    "getpid", "rt_sigreturn", "madvise", "munmap", "epoll_pwait", "epoll_wait",
    "epoll_pwait2", "restart_syscall", "exit", "execve",
})

FD_CALLS = frozenset({"read", "write", "close", "pread64", "pwrite64", "fstat", "fstat64",
                      "getdents64", "lseek", "_llseek", "fcntl", "fcntl64", "readv", "writev"})
PATH_CALLS = frozenset({"openat", "open", "newfstatat", "fstatat64", "statx", "mkdirat",
                        "unlinkat", "renameat", "renameat2", "readlinkat", "stat64", "lstat64"})


@dataclass(frozen=True, slots=True)
class Call:
    tid: int | None
    name: str
    line: str
    """The whole line (strace format), or "" for qemu's log."""
    result: str = ""


# strace prefixes lines with "[pid N] " on a terminal and with "N " when writing to -o.
_PID = r"(?:\[pid\s+(\d+)\] |(\d+) +)?"
_STRACE_LINE = re.compile(r"^" + _PID + r"(?:\d\d:\d\d:\d\d\.\d+ )?([a-z_0-9]+)\((.*)$")
_RESUMED = re.compile(r"^" + _PID + r"(?:\d\d:\d\d:\d\d\.\d+ )?<\.\.\. ([a-z_0-9]+) "
                      r"resumed>(.*)$")


def parse_strace(text: str) -> list[Call]:
    """Calls in entry order from strace (or elftrace trace) output, unfinished lines joined."""
    calls: list[Call] = []
    open_calls: dict[int | None, int] = {}
    for raw in text.splitlines():
        m = _RESUMED.match(raw)
        if m:
            tid = _tid(m)
            index = open_calls.pop(tid, None)
            if index is not None:
                c = calls[index]
                line = c.line.replace(" <unfinished ...>", "") + m.group(4)
                calls[index] = Call(c.tid, c.name, line, _result(line))
            continue
        m = _STRACE_LINE.match(raw)
        if not m:
            continue
        tid = _tid(m)
        name = m.group(3)
        body = name + "(" + m.group(4)
        calls.append(Call(tid, name, body, _result(body)))
        if body.endswith("<unfinished ...>"):
            open_calls[tid] = len(calls) - 1
    return calls


def _tid(m: re.Match[str]) -> int | None:
    text = m.group(1) or m.group(2)
    return int(text) if text else None


def _result(line: str) -> str:
    m = re.search(r"\) +=\s+(.*?)(?: <[\d.]+>)?$", line)
    return m.group(1) if m else ""


QEMU_LOG_FDS = 4  # qemu-user's -D log file takes descriptor 3 before the guest starts
_QEMU_CALL = re.compile(r"(\d+) ([a-z_0-9]+)\(")


def parse_qemu(text: str) -> list[Call]:
    """Calls from qemu-user's ``-d strace`` log.

    qemu prints ``TID name(args)`` when a call starts and `` = result`` when it ends; if a
    signal is handled in between, its lines come between the two, and the result ends
    up alone on a later line: it belongs to the latest call still without one. A call a
    signal interrupted and qemu restarted is logged again by the same thread; it is
    kept once.
    """
    calls: list[Call] = []
    last_of: dict[int, int] = {}  # tid -> index of its latest call
    for line in text.splitlines():
        if line.startswith(" = "):
            for k in range(len(calls) - 1, -1, -1):
                if not calls[k].result:
                    c = calls[k]
                    calls[k] = Call(c.tid, c.name, c.line, line[3:].split()[0])
                    break
            continue
        matches = list(_QEMU_CALL.finditer(line))
        for n, m in enumerate(matches):
            end = matches[n + 1].start() if n + 1 < len(matches) else len(line)
            segment = line[m.start(2):end]
            result = re.search(r"\) = (-?\w+)", segment)
            call = Call(int(m.group(1)), m.group(2), segment, result.group(1) if result else "")
            index = last_of.get(call.tid)
            previous = calls[index] if index is not None else None
            if (previous is not None and not previous.result
                    and previous.line.split(")")[0] == call.line.split(")")[0]):
                calls[index] = call  # type: ignore[index]
                continue
            last_of[call.tid] = len(calls)
            calls.append(call)
    return calls


def drop_dynamic_loader(calls: list[Call]) -> list[Call]:
    """Rule 4: everything up to ld.so's RELRO mprotect, the last thing it does."""
    for i, c in enumerate(calls):
        if c.name == "mprotect":
            return calls[i + 1:]
    return calls


def main_tid(calls: list[Call]) -> int | None:
    for c in calls:
        if c.tid is not None:
            return c.tid
    return None


def startup(calls: list[Call]) -> list[str]:
    """Rule 3a: the first thread's non-noise calls before its first clone."""
    first = main_tid(calls)
    out = []
    for c in calls:
        if c.tid not in (None, first):
            continue
        if c.name in ("clone", "clone3"):
            break
        if c.name not in NOISE and c.name not in ("mmap", "mmap2"):
            out.append(c.name)
    return out


def call_set(calls: list[Call]) -> set[str]:
    """Rule 3b."""
    return {c.name for c in calls if c.name not in NOISE}


_HEX = re.compile(r"0x[0-9a-f]+")
_TMPDIR = re.compile(r"(elftrace-fileio-|nettest|conform-)\d+")
_EPOLL_DATA = re.compile(r"data=\{u32=\d+, u64=\d+\}")
_FIRST_ARG_FD = re.compile(r"^[a-z_0-9]+\((-?\d+)")


NEW_FD_CALLS = frozenset({"openat", "open", "eventfd2", "eventfd", "epoll_create1",
                          "epoll_create", "dup", "socket", "accept", "accept4"})


def file_calls(calls: list[Call], *, full_lines: bool, reserved: int = 3) -> list[str]:
    """Rule 3c: calls on path-opened files and stdio, in order.

    Descriptors are followed through the calls that create and close them; when a
    call's result is missing (qemu's log can lose it to an interleaved signal) the
    kernel's lowest-free rule gives it. ``reserved``: descriptors taken before the
    program starts (0-2, plus qemu's own log file under qemu-user).
    """
    files: set[int] = {0, 1, 2}
    used: set[int] = set(range(reserved))
    out: list[str] = []
    for c in calls:
        keep = False
        if c.name in NEW_FD_CALLS:
            m = re.match(r"(-?\d+)", c.result)
            fd = int(m.group(1)) if m else min(set(range(len(used) + 1)) - used)
            if fd >= 0:
                used.add(fd)
                if c.name in ("openat", "open"):
                    files.add(fd)
            keep = c.name in PATH_CALLS
        elif c.name in ("pipe2", "pipe", "socketpair"):
            pair = re.search(r"\[(\d+), (\d+)\]", c.line)
            if pair:
                used.update((int(pair.group(1)), int(pair.group(2))))
            else:
                for _ in range(2):
                    used.add(min(set(range(len(used) + 1)) - used))
        elif c.name in PATH_CALLS:
            keep = True
        elif c.name in FD_CALLS:
            m = _FIRST_ARG_FD.match(c.line)
            fd = int(m.group(1)) if m else -1
            # qemu's log can lose a call's result (its fd) to another thread's lines, so
            # by name only stdio is followed; the programs check their files' contents.
            keep = fd in files if full_lines else 0 <= fd <= 2
            if c.name == "close" and fd > 2:
                files.discard(fd)
                used.discard(fd)
        if keep:
            if full_lines and c.name == "write" and c.line.startswith("write(2,"):
                # What goes to stderr is compared by rule 2 (Go's panic output writes
                # argument words whose lengths vary).
                out.append("write(2, ...)")
            elif full_lines:
                out.append(normalize_line(c.line))
            elif not out or out[-1] != c.name:
                out.append(c.name)
    return out


def normalize_line(line: str) -> str:
    line = _EPOLL_DATA.sub("data={...}", line)
    line = _TMPDIR.sub(r"\1N", line)
    line = re.sub(r"0x[0-9a-f]{5,}", "ADDR", line)
    return re.sub(r"\s+=\s+", " = ", line)


def normalize_stderr(text: str) -> str:
    text = _HEX.sub("0x?", text)
    return re.sub(r"goroutine \d+", "goroutine N", text)

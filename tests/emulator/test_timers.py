"""Timers that send signals (setitimer, alarm, timer_create): tiny x86-64 programs whose
default signal action ends them, run natively (the oracle) and under elftrace; then the
handlers' edge cases against what Linux answers (measured on the host, see each test).

Go's CPU profiler (runtime/pprof) needs these: setitimer(ITIMER_PROF) and a per-thread
CLOCK_THREAD_CPUTIME_ID timer; without them a profile holds no samples.
"""

from __future__ import annotations

import platform
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from emulator.machine import Machine
from syscalls import time as T
from syscalls.errno import Errno, SyscallError
from tests.elfbuild import static_elf, write_exe

ROOT = Path(__file__).resolve().parents[2]
HELLO = ROOT / "bins" / "hello-1.27-amd64-static"

# setitimer(ITIMER_PROF, {10 ms, 10 ms}, NULL); spin.   Linux: killed by SIGPROF (155).
SPIN_PROF = bytes.fromhex("4883ec2048c704240000000048c74424081027000048c744241000000000"
                          "48c744241810270000bf020000004889e631d2b8260000000f05ebfe")
# alarm(1); pause() forever.                               Linux: killed by SIGALRM (142).
ALARM_PAUSE = bytes.fromhex("bf01000000b8250000000f05b8220000000f05ebf7")
# timer_create(CLOCK_THREAD_CPUTIME_ID, {SIGVTALRM, SIGEV_THREAD_ID, gettid()}, &id);
# timer_settime(id, 0, {0, 20 ms}, NULL); spin.           Linux: killed by SIGVTALRM (154).
SPIN_THREAD_TIMER = bytes.fromhex(
    "b8ba0000000f054883ec6048c7042400000000c74424081a000000c744240c0400000089442410bf0300"
    "00004889e6488d542420b8de0000000f0548c74424280000000048c74424300000000048c74424380000"
    "000048c7442440002d31018b7c242031f6488d5424284531d2b8df0000000f05ebfe")

CASES = [
    pytest.param(SPIN_PROF, 155, "SIGPROF", id="itimer-prof"),
    pytest.param(ALARM_PAUSE, 142, "SIGALRM", id="alarm-pause"),
    pytest.param(SPIN_THREAD_TIMER, 154, "SIGVTALRM", id="thread-cputime-timer"),
]


@pytest.mark.parametrize("code,status,name", CASES)
def test_timer_signal_ends_the_program_as_on_linux(tmp_path: Path, code: bytes, status: int,
                                                   name: str) -> None:
    exe = str(write_exe(tmp_path, "prog", static_elf(code)))
    if platform.machine() == "x86_64":
        native = subprocess.run([exe], capture_output=True, timeout=60, check=False)
        assert native.returncode == status - 256 or native.returncode == -(status - 128)
    run = subprocess.run([sys.executable, "-m", "emulator", "run", exe], cwd=ROOT,
                         capture_output=True, text=True, timeout=120, check=False,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert run.returncode == status, run.stderr
    assert f"killed by {name}" in run.stderr


def test_traced_profiling_timer_shows_calls_and_signal(tmp_path: Path) -> None:
    exe = str(write_exe(tmp_path, "prog", static_elf(SPIN_THREAD_TIMER)))
    run = subprocess.run([sys.executable, "-m", "emulator", "trace", exe], cwd=ROOT,
                         capture_output=True, text=True, timeout=120, check=False,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    lines = run.stderr.splitlines()
    assert any(line.startswith("timer_create(CLOCK_THREAD_CPUTIME_ID, {sigev_signo=SIGVTALRM, "
                               "sigev_notify=SIGEV_THREAD_ID, sigev_notify_thread_id=")
               and line.endswith(", [0]) = 0") for line in lines), run.stderr
    assert "timer_settime(0, 0, {it_interval={tv_sec=0, tv_nsec=0}, it_value={tv_sec=0, " \
           "tv_nsec=20000000}}, NULL) = 0" in lines
    assert "--- SIGVTALRM {si_signo=SIGVTALRM, si_code=SI_TIMER, si_timerid=0, " \
           "si_overrun=0, si_int=0, si_ptr=NULL} ---" in lines


# Handlers ----------------------------------------------------------------------------------

class Guest:
    def __init__(self) -> None:
        self.machine = Machine(str(HELLO), [str(HELLO)])
        self.buf = self.machine.initial_stack.sp - 0x20000

    def call(self, handler, *args: int) -> int:  # type: ignore[no-untyped-def]
        try:
            return int(handler(self.machine.ctx, *args))
        except SyscallError as err:
            return -int(err.errno)

    def write(self, fmt: str, *values: int) -> int:
        self.machine.mem.write(self.buf, struct.pack(fmt, *values))
        return self.buf

    def read(self, fmt: str, offset: int = 0x800) -> tuple[int, ...]:
        return struct.unpack(fmt, self.machine.mem.read(self.buf + offset,
                                                        struct.calcsize(fmt)))


@pytest.fixture
def guest() -> Guest:
    g = Guest()
    yield g
    g.machine.process.fds.close_all()


EINVAL, EOPNOTSUPP = -int(Errno.EINVAL), -int(Errno.EOPNOTSUPP)


def test_setitimer_validates_and_reports_the_old_value(guest: Guest) -> None:
    out = guest.buf + 0x800
    assert guest.call(T.sys_setitimer, 5, guest.write("<4q", 0, 0, 1, 0), 0) == EINVAL
    assert guest.call(T.sys_setitimer, 0, guest.write("<4q", 0, 0, 0, 1_000_000), 0) == EINVAL
    assert guest.call(T.sys_setitimer, 0, guest.write("<4q", 0, 0, -1, 0), 0) == EINVAL
    assert guest.call(T.sys_setitimer, 0, guest.write("<4q", 2, 5, 100, 1), 0) == 0
    assert guest.call(T.sys_getitimer, 0, out) == 0
    isec, iusec, sec, usec = guest.read("<4q")
    # Linux: the interval as set; the value counting down (truncated to microseconds).
    assert (isec, iusec) == (2, 5) and 99 <= sec <= 100 and (sec, usec) <= (100, 1)
    # A NULL new value disarms (Linux accepts it); the old value comes back first.
    assert guest.call(T.sys_setitimer, 0, 0, out) == 0
    isec, iusec, sec, _ = guest.read("<4q")
    assert (isec, iusec) == (2, 5) and 99 <= sec <= 100
    assert guest.call(T.sys_getitimer, 0, out) == 0
    assert guest.read("<4q") == (0, 0, 0, 0)


def test_alarm_returns_the_seconds_left_rounded(guest: Guest) -> None:
    assert guest.call(T.sys_alarm, 100) == 0
    assert guest.call(T.sys_alarm, 5) == 100  # 99.99... s left: rounds to 100, as Linux
    assert guest.call(T.sys_alarm, 0) == 5
    assert guest.call(T.sys_alarm, 0) == 0


def test_timer_create_checks_clock_and_sigevent_and_numbers_timers(guest: Guest) -> None:
    idp = guest.buf + 0x800
    assert guest.call(T.sys_timer_create, 1, 0, idp) == 0
    assert guest.read("<i") == (0,)
    assert guest.call(T.sys_timer_create, 99, 0, idp) == EINVAL
    assert guest.call(T.sys_timer_create, 4, 0, idp) == EOPNOTSUPP  # MONOTONIC_RAW
    # Refused sigevents (bad notify, signal 0, a tid outside the process) use up ids, as
    # Linux's allocation comes first: the next timer is 4.
    assert guest.call(T.sys_timer_create, 1, guest.write("<qiii", 0, 10, 99, 0), idp) == EINVAL
    assert guest.call(T.sys_timer_create, 1, guest.write("<qiii", 0, 0, 0, 0), idp) == EINVAL
    assert guest.call(T.sys_timer_create, 1, guest.write("<qiii", 0, 10, 4, 1), idp) == EINVAL
    assert guest.call(T.sys_timer_create, 1, guest.write("<qiii", 7, 10, 0, 0), idp) == 0
    assert guest.read("<i") == (4,)
    assert guest.machine.kernel.timers.get(4).sigval == 7
    assert guest.machine.kernel.timers.get(0).sigval == 0  # no sigevent: value = the id


def test_timer_settime_gettime_delete(guest: Guest) -> None:
    idp, cur = guest.buf + 0x800, guest.buf + 0x900
    assert guest.call(T.sys_timer_create, 1, 0, idp) == 0
    assert guest.call(T.sys_timer_settime, 0, 0, 0, 0) == EINVAL  # NULL new value
    assert guest.call(T.sys_timer_settime, 0, 0, guest.write("<4q", 0, 0, 0, 10**9), 0) == EINVAL
    assert guest.call(T.sys_timer_settime, 9, 0, guest.write("<4q", 0, 0, 1, 0), 0) == EINVAL
    assert guest.call(T.sys_timer_settime, 0, 0, guest.write("<4q", 0, 5, 100, 0), 0) == 0
    assert guest.call(T.sys_timer_gettime, 0, cur) == 0
    isec, insec, sec, nsec = guest.read("<4q", 0x900)
    assert (isec, insec) == (0, 5)
    assert 99 <= sec < 100 or (sec, nsec) == (100, 0)
    assert guest.call(T.sys_timer_getoverrun, 0) == 0
    assert guest.call(T.sys_timer_settime, 0, 0, guest.write("<4q", 0, 0, 0, 0), cur) == 0
    assert guest.read("<4q", 0x900)[2] in (99, 100)  # the old value
    assert guest.call(T.sys_timer_gettime, 0, cur) == 0
    assert guest.read("<4q", 0x900)[2:] == (0, 0)
    assert guest.call(T.sys_timer_delete, 0) == 0
    assert guest.call(T.sys_timer_delete, 0) == EINVAL
    assert guest.call(T.sys_timer_gettime, 0, cur) == EINVAL


def test_cpu_clocks_count_the_threads_own_time(guest: Guest) -> None:
    """CLOCK_THREAD_CPUTIME_ID is the calling thread's time, not elftrace's host thread's."""
    task = guest.machine.current
    cpu = guest.machine.kernel.timers.cpu
    task.cpu_ns = 123_000_000
    cpu.process_ns = 456_000_000
    out = guest.buf + 0x800
    assert guest.call(T.sys_clock_gettime, 3, out) == 0
    assert guest.read("<2q") == (0, 123_000_000)
    assert guest.call(T.sys_clock_gettime, 2, out) == 0
    assert guest.read("<2q") == (0, 456_000_000)

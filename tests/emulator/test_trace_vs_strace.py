"""Lines of the trace compared with what strace prints for the same native run (x86-64
with strace installed; skipped elsewhere): the execve line with its argv cut at -s, and
flag sets printed in strace's order."""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORK = "bins/work-1.27-amd64-static"

pytestmark = pytest.mark.skipif(platform.machine() != "x86_64" or not shutil.which("strace"),
                                reason="needs strace on x86-64")


def _lines(cmd: list[str]) -> list[str]:
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300,
                         check=False)
    return [re.sub(r"^\[pid +\d+\] ", "", line) for line in run.stderr.splitlines()]


def _both(options: list[str], argv: list[str]) -> tuple[list[str], list[str]]:
    native = _lines(["strace", "-f", "-qq", *options, *argv])
    traced = _lines([sys.executable, "-m", "emulator", "trace", "-f", *options, *argv])
    return native, traced


def _normal(line: str) -> str:
    return re.sub(r"0x[0-9a-f]+ /\* \d+ vars \*/", "ENVP", line)


def test_execve_argv_is_cut_like_strace() -> None:
    argv = [WORK, "argsenv", "a" * 40, *[str(i) for i in range(8)]]
    native, traced = _both(["-s", "5", "-e", "trace=execve"], argv)
    assert _normal(native[0]) == _normal(traced[0])
    assert traced[0].startswith('execve("bins/work-1.27-amd64-static", ["bins/"..., "argse"..., ')


def test_eventfd_flags_print_in_strace_order() -> None:
    native, traced = _both(["-e", "trace=eventfd2"], [WORK, "sleep"])
    pick = [line for line in native if line.startswith("eventfd2(")]
    assert pick and pick == [line for line in traced if line.startswith("eventfd2(")]


def test_epoll_ctl_del_prints_the_event_address_like_strace() -> None:
    native, traced = _both(["-e", "trace=epoll_ctl"], ["bins/net-1.27-amd64-static-stripped"])
    shape = re.compile(r"epoll_ctl\(\d+, EPOLL_CTL_DEL, \d+, 0x[0-9a-f]+\) = 0$")
    for lines in (native, traced):
        # A call another thread interrupts prints `<unfinished ...>` (threads interleave).
        dels = [line for line in lines if "EPOLL_CTL_DEL" in line and "unfinished" not in line]
        assert dels and all(shape.match(line) for line in dels), dels


def test_pipe2_and_dup3_flags_have_no_access_mode_like_strace() -> None:
    """pipe2 and dup3 take O_CLOEXEC/O_NONBLOCK alone: strace prints `0` or the flags,
    never an access mode (os/exec's child dup3s with flags 0)."""
    native, traced = _both(["-e", "trace=pipe2,dup3"], ["bins/conform-1.27-amd64-static-stripped",
                                                       "exec"])
    for lines in (native, traced):
        calls = [line for line in lines if line.startswith(("pipe2(", "dup3("))]
        assert calls and not any("O_RDONLY" in line for line in calls), calls
    # Natively the child's calls may print `<unfinished ...>` (threads interleave).
    complete = {x for x in native if x.startswith(("pipe2(", "dup3(")) and "unfinished" not in x}
    assert complete and complete <= set(traced)


C_READINESS = r"""
#define _GNU_SOURCE
#include <poll.h>
#include <signal.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>
int main(void) {
    int p[2];
    if (pipe(p)) return 1;
    struct pollfd f = {p[0], POLLIN, 0};
    poll(&f, 1, 0);
    struct timespec ts = {0, 1000000};
    ppoll(&f, 1, &ts, NULL);
    if (write(p[1], "x", 1) != 1) return 1;
    poll(&f, 1, 0);
    fd_set r, w;
    FD_ZERO(&r); FD_ZERO(&w);
    FD_SET(p[0], &r); FD_SET(p[1], &w);
    struct timeval tv = {5, 0};
    select(p[1] + 1, &r, &w, NULL, &tv);
    FD_ZERO(&r);
    FD_SET(p[0], &r);
    char c;
    if (read(p[0], &c, 1) != 1) return 1;
    struct timespec zero = {0, 0};
    sigset_t none;
    sigemptyset(&none);
    pselect(p[0] + 1, &r, NULL, NULL, &zero, &none);
    return 0;
}
"""


@pytest.mark.skipif(shutil.which("gcc") is None, reason="no host C compiler")
def test_poll_and_select_print_like_strace(tmp_path: Path) -> None:
    """The calls, their sets at entry, and strace's note after the result: `(Timeout)`,
    the ready descriptors, and the time left (ppoll and select store it)."""
    src, exe = tmp_path / "ready.c", tmp_path / "ready"
    src.write_text(C_READINESS)
    subprocess.run(["gcc", "-static", "-O1", "-o", str(exe), str(src)], check=True,
                   capture_output=True, timeout=120)
    native, traced = _both(["-e", "trace=poll,ppoll,pselect6,select"], [str(exe)])
    calls = ("poll(", "ppoll(", "pselect6(", "select(")

    def timeless(line: str) -> str:
        # The time left depends on how long the call took.
        return re.sub(r"left \{tv_sec=\d+, tv_(n|u)sec=\d+\}", "left T", line)

    want = [timeless(x) for x in native if x.startswith(calls)]
    assert len(want) == 5
    assert want == [timeless(x) for x in traced if x.startswith(calls)]


@pytest.mark.parametrize("expr", ["trace=write", "trace=execve,write"])
def test_execve_line_only_when_execve_is_traced(expr: str) -> None:
    native, traced = _both(["-e", expr], [WORK, "argsenv"])
    assert [line.startswith("execve(") for line in traced[:1]] == \
        [line.startswith("execve(") for line in native[:1]]
    assert any(line.startswith("execve(") for line in native) == (expr != "trace=write")

"""Sockets, --no-network and --deterministic on real Go programs.

bins/net-* run a TCP server and client on 127.0.0.1, a UDP echo, a unix stream socket
and a socketpair inside one process. Their output must equal the real machine's
(native for amd64, qemu-arm for ARM), and for amd64 the socket calls elftrace shows must
be the ones ``strace -f`` shows natively (ports and addresses normalised, EAGAIN retries
left out since their number depends on timing).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NET_BINS = [f"bins/net-{go}-{arch}-static-stripped" for go in ("1.19", "1.27")
            for arch in ("amd64", "arm7")]
EXPECTED = """\
tcp listening on 127.0.0.1 port>0: true
tcp client got "HELLO\\n"
tcp client got "SOCKETS\\n"
tcp after half-close: EOF
dial closed port refused: true
udp client got "DATAGRAM"
udp client got "ECHO"
unix listening on sock
unix client got "HELLO\\n"
unix client got "SOCKETS\\n"
unix socket removed on close: true
socketpair got "pair"
socketpair after close: 0 EOF
"""


def elftrace(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "emulator", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, check=False,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT),
                               "TMPDIR": "/tmp"})


def oracle(binary: str, *args: str) -> subprocess.CompletedProcess[str] | None:
    if "-arm" in binary:
        qemu = shutil.which("qemu-arm")
        if qemu is None:
            return None
        argv = [qemu, binary, *args]
    else:
        argv = [binary, *args]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          check=False, env={"PATH": "/usr/bin:/bin", "TMPDIR": "/tmp"})


@pytest.mark.parametrize("binary", NET_BINS)
def test_net_program_matches_the_real_machine(binary: str) -> None:
    result = elftrace("run", binary)
    assert (result.stdout, result.returncode) == (EXPECTED, 0), result.stderr
    real = oracle(binary)
    if real is not None:
        assert (real.stdout, real.returncode) == (result.stdout, result.returncode)


_PORT = re.compile(r"htons\(\d+\)")
_ADDR = re.compile(r"0x[0-9a-f]+")
_TMP = re.compile(r"nettest\d+")
_LINE = re.compile(r"^(?:\[pid\s+\d+\] |\d+ +)?(.*)$")


def _network_calls(trace: str) -> set[str]:
    """Socket calls as complete lines, one set entry per distinct normalised call."""
    from tests.golden.compare import parse_strace

    calls = set()
    for call in parse_strace(trace):
        line = _LINE.match(call.line).group(1)  # type: ignore[union-attr]
        if "EAGAIN" in line or call.name == "execve":  # strace -e shows execve only if asked
            continue
        line = _TMP.sub("nettestN", _ADDR.sub("ADDR", _PORT.sub("htons(P)", line)))
        if "sun_path=" in line:  # the temp dir's random part varies in length
            line = re.sub(r"(\}, |=> )\d+", r"\1LEN", line)
        calls.add(re.sub(r"\s+=\s+", " = ", line))
    return calls


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
@pytest.mark.parametrize("go", ["1.19", "1.27"])
def test_socket_calls_match_strace(go: str, tmp_path: Path) -> None:
    """Every socket call line as strace prints it. Which descriptor a socket gets depends
    on which goroutine runs first (natively too: under load a client's socket can be
    made before the server's accept), so a mismatch is retried once with fresh runs of
    both; a formatting difference fails both times."""
    binary = f"bins/net-{go}-amd64-static-stripped"
    expr = "trace=%network"
    for attempt in range(2):
        native = tmp_path / f"native{attempt}.txt"
        subprocess.run(["strace", "-f", "-qq", "-e", expr, "-o", str(native), binary],
                       cwd=ROOT, capture_output=True, timeout=300, check=True,
                       env={"TMPDIR": "/tmp"})
        ours = tmp_path / f"elftrace{attempt}.txt"
        result = elftrace("trace", "-f", "-e", expr, "-o", str(ours), binary)
        assert result.returncode == 0, result.stderr
        expected = _network_calls(native.read_text())
        got = _network_calls(ours.read_text())
        if got == expected:
            break
    assert got == expected
    # The calls Go's net package makes for TCP, UDP and unix sockets are all there.
    names = {line.split("(")[0] for line in got}
    assert names >= {"socket", "setsockopt", "bind", "listen", "getsockname", "accept4",
                     "connect", "getsockopt", "getpeername", "shutdown", "recvfrom", "sendto",
                     "socketpair"}


@pytest.mark.parametrize("binary", ["bins/net-1.27-amd64-static-stripped",
                                    "bins/net-1.19-arm7-static-stripped"])
def test_no_network_refuses_inet_sockets_but_not_unix(binary: str) -> None:
    result = elftrace("trace", "--no-network", "-e", "trace=socket", binary, "listen", "unix",
                      "socketpair")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "listen: listen tcp 127.0.0.1:0: socket: permission denied"
    assert "unix client got \"SOCKETS\\n\"" in lines
    assert "socketpair got \"pair\"" in lines
    assert ("socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK, IPPROTO_IP) = -1 EACCES "
            "(Permission denied) /* refused by --no-network */") in result.stderr
    assert "socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK, 0) = 3" in result.stderr


def test_without_no_network_inet_is_allowed() -> None:
    result = elftrace("run", "bins/net-1.27-amd64-static-stripped", "listen")
    assert result.stdout == "listen: <nil>\n"


DETERMINISTIC_CASES = [
    ("bins/work-1.27-amd64-static", "goroutines"),
    ("bins/work-1.19-amd64-static", "sleep"),
    ("bins/work-1.27-arm7-static", "sleep"),
    ("bins/work-1.19-arm7-static", "goroutines"),
    ("bins/net-1.27-amd64-static-stripped", "tcp"),
]


@pytest.mark.parametrize("binary,workload", DETERMINISTIC_CASES)
def test_deterministic_runs_are_byte_identical(binary: str, workload: str,
                                               tmp_path: Path) -> None:
    runs = []
    for n in range(2):
        out = tmp_path / f"trace{n}.txt"
        result = elftrace("trace", "-f", "-tt", "--deterministic", "-o", str(out), binary,
                          workload)
        assert result.returncode == 0, result.stderr
        runs.append((result.stdout, out.read_text()))
    assert runs[0] == runs[1]
    _, trace = runs[0]
    assert "clone" in trace and re.search(r"\[pid +1001\]", trace)  # several threads ran
    # The virtual clock starts on 2023-11-14 22:13:20 UTC (shown in local time).
    first = time.strftime("%H:%M:%S", time.localtime(1_700_000_000))
    assert trace.splitlines()[1].startswith(first + ".")


def test_deterministic_seed_changes_random_bytes() -> None:
    # os.MkdirTemp names come from Go's random state, which AT_RANDOM seeds.
    traces = []
    for seed in ("1", "1", "2"):
        result = elftrace("trace", "--deterministic", "--seed", seed, "-e", "trace=mkdirat",
                          "bins/work-1.27-amd64-static", "fileio")
        assert result.returncode == 0, result.stderr
        traces.append(result.stderr)
    assert "elftrace-fileio-" in traces[0]
    assert traces[0] == traces[1] != traces[2]


def test_without_deterministic_time_is_real_time() -> None:
    before = time.time()
    result = elftrace("trace", "-tt", "-e", "trace=write", "bins/hello-1.27-amd64-static")
    line = next(x for x in result.stderr.splitlines() if "write(1" in x)
    stamp = line.split()[0]
    hours, minutes, seconds = stamp.split(":")
    local = time.localtime(before)
    start_of_day = time.mktime((local.tm_year, local.tm_mon, local.tm_mday, 0, 0, 0, 0, 0, -1))
    when = start_of_day + int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    assert abs(when - time.time()) < 600 or abs(when + 86400 - time.time()) < 600

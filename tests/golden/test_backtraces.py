"""-k backtraces against the Go runtime's own view of the stack.

bins/stack-* make getppid calls from known call chains (plain, inlined, a goroutine, a
closure, an interface method, deep recursion, a deferred call, a recovered panic) and
print, just before each, the chain as runtime.CallersFrames reports it. Under
``elftrace trace -k`` each getppid's stack must contain ``main.probe`` followed by
exactly those frames: function, file and line.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.golden.cases import ROOT, manifest

STACK_BINS = [f"bins/{row['path']}" for row in manifest() if row["program"] == "stack"]
FRAME = re.compile(r"^\s*(\d+)  0x([0-9a-f]+) in (\S+)$")
WHERE = re.compile(r"^    at (.*):(\d+)$")


def parse_stacks(trace: str) -> list[list[tuple[str, str, int]]]:
    stacks: list[list[tuple[str, str, int]]] = []
    current: list[tuple[str, str, int]] | None = None
    pending: str | None = None
    for line in trace.splitlines():
        if "getppid(" in line:
            current = []
            stacks.append(current)
            continue
        m = FRAME.match(line)
        if m and current is not None:
            pending = m.group(3)
            continue
        w = WHERE.match(line)
        if w and current is not None and pending is not None:
            current.append((pending, w.group(1), int(w.group(2))))
            pending = None
    return stacks


def parse_probes(stderr: str) -> list[tuple[str, list[tuple[str, str, int]]]]:
    probes = []
    for block in re.findall(r"probe (\w+)\n(.*?)end\n", stderr, re.S):
        tag, body = block
        frames = []
        for line in body.splitlines():
            func, where = line.rsplit(" ", 1)
            file, lineno = where.rsplit(":", 1)
            frames.append((func, file, int(lineno)))
        probes.append((tag, frames))
    return probes


@pytest.mark.parametrize("binary", STACK_BINS)
def test_backtraces_match_the_runtime(binary: str, tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    result = subprocess.run(
        [sys.executable, "-m", "emulator", "trace", "-f", "-k", "-e", "trace=getppid",
         "-o", str(trace), binary], cwd=ROOT, capture_output=True, text=True, timeout=180,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "stack ok\n"
    probes = parse_probes(result.stderr)
    stacks = parse_stacks(trace.read_text())
    assert [tag for tag, _ in probes] == ["plain", "inlined", "plain", "closure", "method",
                                           "deep", "defer", "recover"]
    assert len(stacks) == len(probes)
    for (tag, want), got in zip(probes, stacks, strict=True):
        names = [f for f, _, _ in got]
        assert "main.probe" in names, (tag, got)
        below = names.index("main.probe")
        assert got[0][0].endswith("Syscall6") or "Syscall" in got[0][0], (tag, got[0])
        mine = got[below + 1:]
        first_difference = next((i for i, (a, b) in enumerate(zip(mine, want, strict=False))
                                 if a != b), min(len(mine), len(want)))
        assert mine == want, (f"{tag}: {len(mine)} frames vs the runtime's {len(want)}; first "
                              f"difference at {first_difference}: "
                              f"{mine[first_difference:first_difference + 2]} vs "
                              f"{want[first_difference:first_difference + 2]}")


@pytest.mark.parametrize("binary", ["bins/work-1.27-arm7-static", "bins/work-1.19-amd64-static",
                                    "bins/work-1.27-amd64-pie", "bins/work-1.27-arm64-static",
                                    "bins/work-1.27-arm64-pie-stripped",
                                    "bins/work-1.27-386-static-stripped"])
def test_backtrace_through_systemstack_and_a_signal_frame(binary: str, tmp_path: Path) -> None:
    """The panic message is written from the system stack, below sigpanic's injected
    call: -k must follow systemstack back to the goroutine and sigpanic back to the
    faulting function, at the line Go's own panic traceback names."""
    trace = tmp_path / "trace"
    # -f: the panicking goroutine may be running on any thread by then.
    result = subprocess.run(
        [sys.executable, "-m", "emulator", "trace", "-f", "-k", "-e", "trace=write", "-o",
         str(trace), binary, "nilpanic"], cwd=ROOT, capture_output=True, text=True,
        timeout=180, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}, check=False)
    assert result.returncode == 2
    # Go's traceback: "main.readVal(...)\n\tworkload/main.go:297 +0x4".
    go_line = re.search(r"main\.readVal\(.*\)\n\t(\S+):(\d+)", result.stderr)
    assert go_line is not None, result.stderr
    text = trace.read_text()
    first = text[text.index('write(2, "panic: "'):]
    first = re.split(r"\n(?:\[pid +\d+\] )?(?:write\(|<\.\.\.|\+\+\+)", first, maxsplit=1)[0]
    frames = re.findall(r"in (\S+)\n    at (\S+):(\d+)", first)
    names = [name for name, _, _ in frames]
    assert "runtime.systemstack" in names and "runtime.sigpanic" in names
    after = names.index("runtime.sigpanic") + 1
    assert frames[after] == ("main.readVal", go_line.group(1), go_line.group(2))
    assert "main.main" in names[after:] and names[-1] == "runtime.goexit"


DELVE = ROOT / "tests" / "data" / "delve"


def _delve_frames(text: str) -> list[tuple[int, str, str, int]]:
    frames: list[tuple[int, str, str, int]] = []
    pending: tuple[int, str] | None = None
    for line in text.splitlines():
        m = FRAME.match(line)
        if m:
            pending = (int(m.group(2), 16), m.group(3))
            continue
        w = WHERE.match(line)
        if w and pending is not None:
            frames.append((*pending, w.group(1), int(w.group(2))))
            pending = None
    return frames


@pytest.mark.parametrize("golden", sorted(DELVE.glob("*.write.txt")), ids=lambda p: p.name)
def test_write_backtrace_matches_delve(golden: Path, tmp_path: Path) -> None:
    """At hello world's write, -k shows what delve's ``stack`` shows stopped at the
    SYSCALL instruction (recorded by tests/tools/record_delve.py): the same functions,
    files and lines, and the same PCs up to the PIE's load bias (delve's run was
    randomised)."""
    want = _delve_frames(golden.read_text())
    assert want and want[-1][1] == "runtime.goexit"
    binary = "bins/" + golden.name.removesuffix(".write.txt")
    trace = tmp_path / "trace"
    result = subprocess.run(
        [sys.executable, "-m", "emulator", "trace", "-k", "-e", "trace=write", "-o",
         str(trace), binary], cwd=ROOT, capture_output=True, text=True, timeout=180,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}, check=False)
    assert result.returncode == 0, result.stderr
    text = trace.read_text()
    got = _delve_frames(text[text.index("write(1, \"hello world"):])
    assert [f[1:] for f in got] == [f[1:] for f in want]
    bias = want[0][0] - got[0][0]
    assert bias % 4096 == 0
    assert [pc + bias for pc, *_ in got] == [pc for pc, *_ in want]

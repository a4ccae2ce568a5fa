"""The benchmark runs: a functional check only, never a timing assertion.

One repetition of the amd64 hello and a 200-writes program under elftrace ``run`` and
``trace``, with the JSON report checked for shape. Timings vary with the machine's load
and are not looked at.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_completes_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--reps", "1", "--writes", "200",
         "--cases", "hello,writes", "--runners", "run,trace", "--no-startup",
         "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Targets (issue 6" in proc.stdout
    report = json.loads(out.read_text())
    assert report["writes"] == 200
    runs = {(m["case"], m["runner"]): m for m in report["measurements"]}
    assert set(runs) == {(case, runner) for case in ("hello-amd64", "writes-amd64",
                                                     "writes0-amd64")
                         for runner in ("run", "trace")}
    for m in runs.values():
        assert m["samples"] == 1 and not m["failures"]
        for metric in ("wall", "cpu", "rss_mb"):
            assert m[metric]["median"] > 0 and m[metric]["best"] > 0
    assert report["derived"]["run/amd64"]["per_syscall_us"] is not None
    verdicts = {t["name"]: t for t in report["targets"]}
    assert verdicts["100k writes amd64: run per syscall"]["measured"] is not None
    assert verdicts["cpu-bound amd64: run CPU / bare Unicorn"]["met"] is None


def test_bare_engine_runner_runs_a_program() -> None:
    """The bare-engine runner patches the Machine's time slicer and hooks: it must keep up
    with their signatures (the CPU-bound targets are measured against it)."""
    for extra in ([], ["--fault-hook", "--block-hook"]):
        proc = subprocess.run(
            [sys.executable, "-m", "bench.bare", *extra,
             str(ROOT / "bins" / "hello-1.27-amd64-static")],
            cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == "hello world\n"

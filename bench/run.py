"""elftrace's benchmark: the same binaries from bins/ natively, under qemu-user, on a
bare Unicorn engine, and under elftrace ``run`` / ``trace`` / ``trace -k``, side by side
in one run; then the targets of issue 6, each met or not and by how much.

Every measurement is a child process reaped with ``os.wait4``: wall time (monotonic
clock around fork and wait), CPU time (user + system of the child and everything it
waited for) and peak RSS (``ru_maxrss``). Each is repeated; the runs table shows the
median and the spread ((max - min) / median), the derived numbers and targets use each
measurement's best repetition (least time, most RSS). The machine is shared: CPU time
is the number to trust, wall time is what a user sees.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
BINS = ROOT / "bins"
PYTHON = sys.executable
QEMU = {"amd64": "qemu-x86_64", "arm7": "qemu-arm"}
WRITES = 100_000
RUNNERS = ("native", "qemu", "qiling", "bare", "run", "trace", "trace-k")
ENGINE_SETTINGS = {
    "bare+tlb-cpu": ["--tlb", "cpu"],
    "bare+tlb-virtual": ["--tlb", "virtual"],
    "bare+fault-hook": ["--fault-hook"],
    "bare+block-hook": ["--block-hook"],
    "bare+both-hooks": ["--fault-hook", "--block-hook"],
}
"""Variants of the bare engine, one setting each (--engine): what each costs."""
EMULATED = ("run", "trace", "trace-k")


@dataclass(frozen=True)
class Case:
    name: str
    arch: str
    binary: str
    args: tuple[str, ...]
    runners: tuple[str, ...]
    heavy: bool = False
    """Minutes under Unicorn: repeated --heavy-reps times, not --reps."""
    expect: bytes = b""
    """Stdout must contain this, or the run counts as failed (a wrong run is no result)."""


@dataclass
class Measurement:
    case: str
    runner: str
    command: list[str]
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.cpu) and not self.failures

    def median(self, metric: str) -> float:
        return statistics.median(getattr(self, metric))

    def best(self, metric: str) -> float:
        """The least disturbed repetition: the fastest time (interference from other
        work on a shared machine only ever adds time), the largest RSS."""
        values = getattr(self, metric)
        return max(values) if metric == "rss_mb" else min(values)

    def spread(self, metric: str) -> float:
        values = getattr(self, metric)
        middle = statistics.median(values)
        return (max(values) - min(values)) / middle if middle else 0.0

    def summary(self) -> dict[str, object]:
        out: dict[str, object] = {"case": self.case, "runner": self.runner,
                                  "command": self.command, "samples": len(self.cpu),
                                  "failures": self.failures}
        if self.cpu:
            for metric in ("wall", "cpu", "rss_mb"):
                out[metric] = {"median": self.median(metric), "best": self.best(metric),
                               "spread": self.spread(metric), "values": getattr(self, metric)}
        return out


@dataclass
class Target:
    name: str
    measured: float | None
    limit: float
    unit: str
    why: str = ""
    """Why it could not be measured, when measured is None."""

    @property
    def met(self) -> bool | None:
        return None if self.measured is None else self.measured <= self.limit

    def verdict(self) -> str:
        if self.measured is None:
            return f"not measured ({self.why})"
        if self.met:
            return f"met ({(1 - self.measured / self.limit) * 100:.0f} % under)"
        return f"NOT met: {self.measured / self.limit:.2f}x the limit " \
               f"({_fmt(self.measured - self.limit, self.unit)} over)"


def _fmt(value: float, unit: str) -> str:
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "us":
        return f"{value:.1f} us"
    if unit == "s":
        return f"{value:.3f} s"
    if unit == "MB":
        return f"{value:.0f} MB"
    if unit == "%":
        return f"{value:.1f} %"
    return f"{value:g} {unit}"


# Cases and runners ---------------------------------------------------------------------

def cases(writes: int, quick: bool, engine: bool, qiling: bool = False) -> list[Case]:
    peers = ("qiling",) if qiling else ()
    emulated_all = ("native", "qemu", *peers, "run", "trace", "trace-k")
    out = [
        Case("hello", "amd64", "hello-1.27-amd64-static", (), emulated_all,
             expect=b"hello world\n"),
        Case("hello", "arm7", "hello-1.27-arm7-static", (), emulated_all,
             expect=b"hello world\n"),
    ]
    for arch in ("amd64", "arm7"):
        for name, count in (("writes", writes), ("writes0", 0)):
            out.append(Case(name, arch, f"work-1.27-{arch}-static", ("writes", str(count)),
                            emulated_all, expect=f"writes: {count}\nwrites ok\n".encode()))
    if quick:
        return [c for c in out if c.arch == "amd64"]
    settings = tuple(ENGINE_SETTINGS) if engine else ()
    for arch in ("amd64", "arm7"):
        out.append(Case("cpu", arch, f"work-1.27-{arch}-static", ("cpu", "1"),
                        ("native", "qemu", *peers, "bare", *settings, "run", "trace",
                         "trace-k"),
                        heavy=True, expect=b"cpu ok\n"))
    for arch in ("amd64", "arm7"):
        for goroutines in ("1", "8"):
            out.append(Case(f"busy{goroutines}", arch, f"busy-1.27-{arch}-static",
                            (goroutines, "16"), ("native", "qemu", "run"), heavy=True,
                            expect=b"busy ok\n"))
    return out


def command(case: Case, runner: str, qiling_python: str | None = None) -> list[str] | None:
    """The command line for ``case`` under ``runner``; None if it cannot run here."""
    binary = str(BINS / case.binary)
    guest = [binary, *case.args]
    if runner == "qiling":
        if qiling_python is None:
            return None
        return [qiling_python, str(ROOT / "bench" / "qiling_run.py"), *guest]
    if runner == "native":
        return guest if case.arch == "amd64" and platform.machine() == "x86_64" else None
    if runner == "qemu":
        qemu = shutil.which(QEMU[case.arch])
        return [qemu, *guest] if qemu else None
    if runner == "bare":
        return [PYTHON, "-m", "bench.bare", *guest]
    if runner in ENGINE_SETTINGS:
        return [PYTHON, "-m", "bench.bare", *ENGINE_SETTINGS[runner], *guest]
    if runner == "run":
        return [PYTHON, "-m", "emulator", "run", *guest]
    if runner == "trace":
        return [PYTHON, "-m", "emulator", "trace", "-o", os.devnull, *guest]
    if runner == "trace-k":
        return [PYTHON, "-m", "emulator", "trace", "-k", "-o", os.devnull, *guest]
    raise ValueError(runner)


def child_environment() -> dict[str, str]:
    """The environment of every measured Python child: bytecode cached, as an installed
    package has it (``pip install`` compiles it). A development shell that sets
    ``PYTHONDONTWRITEBYTECODE`` would otherwise make every run recompile elftrace's
    sources (~0.12 s of CPU per start-up on this machine, more than the imports cost).
    The cache lives under the temporary directory (``PYTHONPYCACHEPREFIX``), never in the
    source tree."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = os.path.join(tempfile.gettempdir(), "elftrace-bench-pycache")
    return env


def warm_bytecode(cwd: Path = ROOT) -> None:
    """Compile what the measured children import, once, before anything is timed."""
    subprocess.run([PYTHON, "-c", "import emulator.cli, emulator.machine, "
                    "emulator.trace.strace, emulator.trace.backtrace, loader.gopclntab, "
                    "bench.bare, bench.startup"],
                   cwd=cwd, env=child_environment(), check=False)


def measure_once(argv: list[str], timeout: float, expect: bytes = b"", *,
                 cwd: Path | str = ROOT, env: dict[str, str] | None = None
                 ) -> tuple[float, float, float, str | None]:
    """(wall s, CPU s, peak RSS MB, failure or None) of one run of ``argv``. Output goes
    to files, so that a full pipe never stalls the program being timed."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        wall, cpu, rss, status = _timed(argv, timeout, out, err, cwd,
                                        child_environment() if env is None else env)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read().decode(errors="replace")
    if status is None:
        return 0.0, 0.0, 0.0, f"timed out after {timeout:.0f} s"
    lines = stderr.strip().splitlines()
    last = lines[-1] if lines else ""
    if status != 0:
        return wall, cpu, rss, f"exit {status}: {last}"
    if expect not in stdout:
        return wall, cpu, rss, f"wrong output (no {expect!r} on stdout): {last}"
    return wall, cpu, rss, None


def _timed(argv: list[str], timeout: float, out: IO[bytes], err: IO[bytes],
           cwd: Path | str, env: dict[str, str]) -> tuple[float, float, float, int | None]:
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                            stderr=err)
    deadline = start + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            proc.kill()
            os.wait4(proc.pid, 0)
            proc.returncode = -9
            return 0.0, 0.0, 0.0, None
        time.sleep(0.002)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode


def measure(case: Case, runner: str, reps: int, timeout: float,
            qiling_python: str | None = None) -> Measurement | None:
    argv = command(case, runner, qiling_python)
    if argv is None:
        return None
    m = Measurement(f"{case.name}-{case.arch}", runner, argv)
    for _ in range(reps):
        wall, cpu, rss, failure = measure_once(argv, timeout, case.expect)
        if failure:
            m.failures.append(failure)
            break
        m.wall.append(wall)
        m.cpu.append(cpu)
        m.rss_mb.append(rss)
    return m


def startup_phases(reps: int) -> dict[str, float]:
    """Median seconds per start-up phase (bench.startup), plus the bare interpreter."""
    samples: dict[str, list[float]] = {}
    binary = str(BINS / "hello-1.27-amd64-static")
    for _ in range(reps):
        out = subprocess.run([PYTHON, "-m", "bench.startup", binary], cwd=ROOT, check=True,
                             capture_output=True, text=True, env=child_environment()).stdout
        for key, value in json.loads(out).items():
            samples.setdefault(key, []).append(value)
        wall, _, _, _ = measure_once([PYTHON, "-c", "pass"], 60)
        samples.setdefault("interpreter", []).append(wall)
    return {key: statistics.median(values) for key, values in samples.items()}


# Derived numbers and targets -------------------------------------------------------------

class Results:
    def __init__(self, measurements: list[Measurement]) -> None:
        self.by_key = {(m.case, m.runner): m for m in measurements}

    def get(self, case: str, runner: str, metric: str = "cpu") -> float | None:
        """The best repetition (Measurement.best): on a shared machine the median of a
        few runs moved by up to 50 % between identical runs; the best moved far less."""
        m = self.by_key.get((case, runner))
        return m.best(metric) if m is not None and m.ok else None

    def ratio(self, case: str, runner: str, base: str, metric: str = "cpu") -> float | None:
        a, b = self.get(case, runner, metric), self.get(case, base, metric)
        return a / b if a is not None and b else None

    def per_syscall_us(self, arch: str, runner: str, writes: int) -> float | None:
        full, empty = self.get(f"writes-{arch}", runner), self.get(f"writes0-{arch}", runner)
        return (full - empty) / writes * 1e6 if full is not None and empty is not None else None

    def thread_overhead_pct(self, arch: str, runner: str) -> float | None:
        ratio = None
        one, eight = self.get(f"busy1-{arch}", runner), self.get(f"busy8-{arch}", runner)
        if one and eight is not None:
            ratio = (eight / one - 1) * 100
        return ratio


def derived(results: Results, writes: int) -> dict[str, dict[str, float | None]]:
    out: dict[str, dict[str, float | None]] = {}
    for arch in ("amd64", "arm7"):
        for runner in (*RUNNERS, *ENGINE_SETTINGS):
            row = {
                "per_syscall_us": results.per_syscall_us(arch, runner, writes),
                "cpu_bound_vs_qemu": results.ratio(f"cpu-{arch}", runner, "qemu"),
                "cpu_bound_vs_bare": results.ratio(f"cpu-{arch}", runner, "bare"),
                "thread_overhead_pct": results.thread_overhead_pct(arch, runner),
                "hello_wall_s": results.get(f"hello-{arch}", runner, "wall"),
                "hello_rss_mb": results.get(f"hello-{arch}", runner, "rss_mb"),
            }
            if any(v is not None for v in row.values()):
                out[f"{runner}/{arch}"] = row
    return out


def targets(results: Results, writes: int) -> list[Target]:
    def target(name: str, value: float | None, limit: float, unit: str) -> Target:
        return Target(name, value, limit, unit, "" if value is not None else "its runs were "
                      "not selected or failed")

    out = []
    for arch in ("amd64", "arm7"):
        out.append(target(f"cpu-bound {arch}: run CPU / bare Unicorn",
                          results.ratio(f"cpu-{arch}", "run", "bare"), 1.15, "x"))
        out.append(target(f"cpu-bound {arch}: run CPU / qemu-user",
                          results.ratio(f"cpu-{arch}", "run", "qemu"), 4.0, "x"))
    for arch in ("amd64", "arm7"):
        out.append(target(f"100k writes {arch}: run per syscall",
                          results.per_syscall_us(arch, "run", writes), 5.0, "us"))
        out.append(target(f"100k writes {arch}: run CPU / qemu-user",
                          results.ratio(f"writes-{arch}", "run", "qemu"), 4.0, "x"))
        out.append(target(f"100k writes {arch}: trace -o /dev/null per syscall",
                          results.per_syscall_us(arch, "trace", writes), 12.0, "us"))
    out.append(target("hello amd64: run wall", results.get("hello-amd64", "run", "wall"),
                      0.3, "s"))
    out.append(target("hello amd64: trace -k wall",
                      results.get("hello-amd64", "trace-k", "wall"), 0.5, "s"))
    rss = [results.get("hello-amd64", r, "rss_mb") for r in EMULATED]
    out.append(target("hello amd64: peak RSS (worst of run/trace/trace -k)",
                      max(rss) if all(v is not None for v in rss) else None, 150.0, "MB"))
    for arch in ("amd64", "arm7"):
        out.append(target(f"8 busy goroutines {arch}: run CPU over 1 goroutine",
                          results.thread_overhead_pct(arch, "run"), 5.0, "%"))
    return out


# Output --------------------------------------------------------------------------------

def print_tables(measurements: list[Measurement], results: Results,
                 extra: dict[str, dict[str, float | None]], goals: list[Target],
                 startup: dict[str, float] | None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=160)
    table = Table(title="Runs (median of the repetitions; ± is (max-min)/median)")
    for column in ("case", "runner", "wall s", "CPU s", "peak RSS MB", "CPU / qemu",
                   "wall / qemu", "n"):
        table.add_column(column, justify="left" if column in ("case", "runner") else "right")
    for m in measurements:
        if not m.ok:
            table.add_row(m.case, m.runner, "[red]failed[/red]", m.failures[0][:60] if
                          m.failures else "", "", "", "", "0")
            continue
        cpu_ratio = results.ratio(m.case, m.runner, "qemu")
        wall_ratio = results.ratio(m.case, m.runner, "qemu", "wall")
        table.add_row(
            m.case, m.runner,
            f"{m.median('wall'):.3f} ±{m.spread('wall') * 100:.0f}%",
            f"{m.median('cpu'):.3f} ±{m.spread('cpu') * 100:.0f}%",
            f"{m.median('rss_mb'):.0f}",
            f"{cpu_ratio:.2f}" if cpu_ratio is not None else "",
            f"{wall_ratio:.2f}" if wall_ratio is not None else "",
            str(len(m.cpu)))
    console.print(table)

    names = {"per_syscall_us": "µs / syscall", "cpu_bound_vs_qemu": "cpu-bound / qemu",
             "cpu_bound_vs_bare": "cpu-bound / bare", "thread_overhead_pct": "8 goroutines %",
             "hello_wall_s": "hello wall s", "hello_rss_mb": "hello RSS MB"}
    summary = Table(title="Derived (best repetition; CPU time unless marked wall)")
    summary.add_column("runner/arch")
    for label in names.values():
        summary.add_column(label, justify="right")
    for key, row in extra.items():
        summary.add_row(key, *(f"{row[k]:.2f}" if row[k] is not None else "" for k in names))
    console.print(summary)

    if startup:
        phases = Table(title="Start-up phases (median, s)")
        for key in startup:
            phases.add_column(key, justify="right")
        phases.add_row(*(f"{v:.3f}" for v in startup.values()))
        console.print(phases)

    goal_table = Table(title="Targets (issue 6; best repetition)")
    for column in ("target", "measured", "limit", "verdict"):
        goal_table.add_column(column)
    for goal in goals:
        colour = {True: "green", False: "red", None: "yellow"}[goal.met]
        goal_table.add_row(goal.name,
                           _fmt(goal.measured, goal.unit) if goal.measured is not None else "-",
                           _fmt(goal.limit, goal.unit), f"[{colour}]{goal.verdict()}[/{colour}]")
    console.print(goal_table)


def markdown(document: dict[str, Any]) -> str:
    """The JSON report as Markdown tables (for README.md)."""
    env = document["environment"]
    lines = [f"Measured {env['date']}: Unicorn {env['unicorn']}, {env['qemu']}, Python "
             f"{env['python']}, {env['cpus']} CPUs, load average "
             f"{', '.join(f'{x:.0f}' for x in env['load_average'])} at the end.", "",
             "| case | runner | wall s | CPU s | best CPU s | peak RSS MB | best CPU / qemu |",
             "|---|---|---:|---:|---:|---:|---:|"]
    qemu_cpu = {m["case"]: m["cpu"].get("best", m["cpu"]["median"])
                for m in document["measurements"] if m["runner"] == "qemu" and "cpu" in m}
    for m in document["measurements"]:
        if "cpu" not in m:
            lines.append(f"| {m['case']} | {m['runner']} | failed | "
                         f"{m['failures'][0][:50] if m['failures'] else ''} | | | |")
            continue
        best = m["cpu"].get("best", m["cpu"]["median"])
        base = qemu_cpu.get(m["case"])
        ratio = f"{best / base:.2f}" if base else ""
        lines.append(f"| {m['case']} | {m['runner']} | {m['wall']['median']:.3f} "
                     f"±{m['wall']['spread'] * 100:.0f}% | {m['cpu']['median']:.3f} "
                     f"±{m['cpu']['spread'] * 100:.0f}% | {best:.3f} | "
                     f"{m['rss_mb']['median']:.0f} | {ratio} |")
    lines += ["", "| target | measured | limit | verdict |", "|---|---:|---:|---|"]
    for t in document["targets"]:
        measured = _fmt(t["measured"], t["unit"]) if t["measured"] is not None else "-"
        lines.append(f"| {t['name']} | {measured} | {_fmt(t['limit'], t['unit'])} | "
                     f"{t['verdict']} |")
    if document.get("startup"):
        phases = document["startup"]
        lines += ["", "| start-up phase | " + " | ".join(phases) + " |",
                  "|---|" + "---:|" * len(phases),
                  "| seconds (median) | " + " | ".join(f"{v:.3f}" for v in phases.values())
                  + " |"]
    return "\n".join(lines) + "\n"


def environment() -> dict[str, object]:
    import unicorn

    qemu = shutil.which("qemu-x86_64")
    qemu_version = ""
    if qemu:
        qemu_version = subprocess.run([qemu, "--version"], capture_output=True,
                                      text=True).stdout.splitlines()[0]
    return {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "python": sys.version.split()[0], "unicorn": unicorn.__version__,
            "qemu": qemu_version, "cpus": os.cpu_count(), "machine": platform.machine(),
            "load_average": os.getloadavg()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="repetitions of each light case")
    parser.add_argument("--heavy-reps", type=int, default=3,
                        help="repetitions of the CPU-bound and goroutine cases")
    parser.add_argument("--quick", action="store_true",
                        help="amd64 hello and writes only, no CPU-bound cases")
    parser.add_argument("--writes", type=int, default=WRITES,
                        help=f"writes in the per-syscall case (default {WRITES})")
    parser.add_argument("--cases", help="comma-separated case names to run (e.g. hello,cpu)")
    parser.add_argument("--runners", help=f"comma-separated runners ({','.join(RUNNERS)})")
    parser.add_argument("--engine", action="store_true",
                        help="also run the CPU-bound case on the bare engine with one setting "
                             f"changed at a time ({', '.join(ENGINE_SETTINGS)})")
    parser.add_argument("--qiling", metavar="PYTHON",
                        help="add a qiling column: a Python interpreter with the PyPI package "
                             "qiling installed (in its own venv: it pins its own Unicorn)")
    parser.add_argument("--no-startup", action="store_true", help="skip the start-up phases")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per run")
    parser.add_argument("--json", metavar="FILE", help="also write every number as JSON")
    parser.add_argument("--markdown-from", metavar="FILE",
                        help="print the JSON report FILE as Markdown tables, run nothing")
    args = parser.parse_args(argv)
    if args.markdown_from:
        print(markdown(json.loads(Path(args.markdown_from).read_text())), end="")
        return 0

    wanted_cases = set(args.cases.split(",")) if args.cases else None
    wanted_runners = set(args.runners.split(",")) if args.runners else \
        set(RUNNERS) | set(ENGINE_SETTINGS)
    unknown = wanted_runners - set(RUNNERS) - set(ENGINE_SETTINGS)
    if unknown:
        parser.error(f"unknown runner(s): {', '.join(sorted(unknown))}")
    measurements: list[Measurement] = []
    warm_bytecode()
    for case in cases(args.writes, args.quick, args.engine, args.qiling is not None):
        base_name = case.name.rstrip("0123456789")  # writes0 -> writes, busy8 -> busy
        if wanted_cases is not None and case.name not in wanted_cases \
                and base_name not in wanted_cases:
            continue
        reps = args.heavy_reps if case.heavy else args.reps
        for runner in case.runners:
            if runner not in wanted_runners:
                continue
            print(f"bench: {case.name}-{case.arch} under {runner} x{reps}", file=sys.stderr,
                  flush=True)
            m = measure(case, runner, reps, args.timeout, args.qiling)
            if m is not None:
                measurements.append(m)
    startup = None if args.no_startup else startup_phases(max(1, min(args.reps, 5)))
    results = Results(measurements)
    extra = derived(results, args.writes)
    goals = targets(results, args.writes)
    print_tables(measurements, results, extra, goals, startup)
    if args.json:
        document = {"environment": environment(), "writes": args.writes,
                    "measurements": [m.summary() for m in measurements],
                    "derived": extra, "startup": startup,
                    "targets": [dict(asdict(g), met=g.met, verdict=g.verdict())
                                for g in goals]}
        Path(args.json).write_text(json.dumps(document, indent=1) + "\n")
    failed = [m for m in measurements if not m.ok]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

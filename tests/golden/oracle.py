"""Running a case under its oracle (native + strace for amd64 and 386, qemu-arm for ARM,
qemu-aarch64 for arm64) or
under elftrace, and reducing either run to the data the comparison rules look at."""

from __future__ import annotations

import base64
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from tests.golden import compare
from tests.golden.cases import ROOT, Case

BASE_ENV = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "HOME": "/tmp"}
ORACLE_TOOLS = {"amd64": "strace", "386": "strace", "arm": "qemu-arm", "arm64": "qemu-aarch64"}
# Where qemu-user finds the dynamic loader a PIE names in PT_INTERP (Debian's cross libc).
QEMU_SYSROOTS = {"arm": "/usr/arm-linux-gnueabihf", "arm64": "/usr/aarch64-linux-gnu"}


def default_signals() -> None:
    """Both sides start with the signals a shell may have ignored (nohup's SIGHUP, a
    background job's SIGINT and SIGQUIT) at their defaults, so that the comparison does
    not depend on how the suite was started: Go installs fewer handlers for signals it
    finds ignored, and both elftrace and the oracles pass such dispositions on."""
    for signo in (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT):
        signal.signal(signo, signal.SIG_DFL)


@dataclass
class Outcome:
    """What a run produced, reduced to what the rules compare."""

    exit_code: int
    stdout: str
    stderr: str
    startup: list[str] | None = None
    calls: list[str] | None = None
    file_calls: list[str] | None = None
    full_lines: bool = False

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def _text(data: bytes) -> str:
    try:
        return data.decode()
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(data).decode()


def oracle_tool(case: Case) -> str | None:
    """The oracle's executable, or None if it is not installed here."""
    return shutil.which(ORACLE_TOOLS[case.arch])


def oracle_version(case: Case) -> str:
    tool = oracle_tool(case)
    if tool is None:
        return "missing"
    flag = "-V" if case.native else "--version"
    out = subprocess.run([tool, flag], capture_output=True, text=True, check=False).stdout
    return out.splitlines()[0].strip() if out else tool


def _reduce(case: Case, proc: subprocess.CompletedProcess[bytes], trace_text: str | None,
            qemu_format: bool, dynamic_loader: bool = False) -> Outcome:
    outcome = Outcome(proc.returncode if proc.returncode >= 0 else 128 - proc.returncode,
                      _text(proc.stdout), _text(proc.stderr))
    if trace_text is not None:
        calls = compare.parse_qemu(trace_text) if qemu_format else compare.parse_strace(trace_text)
        if dynamic_loader:
            calls = compare.drop_dynamic_loader(calls)
        # ARM cases are compared at the level qemu-user's log supports (rule 3c).
        full = case.native
        outcome.startup = compare.startup(calls)
        outcome.calls = sorted(compare.call_set(calls))
        outcome.file_calls = compare.file_calls(
            calls, full_lines=full, reserved=compare.QEMU_LOG_FDS if qemu_format else 3)
        outcome.full_lines = full
    return outcome


def run_oracle(case: Case) -> Outcome:
    tool = oracle_tool(case)
    if tool is None:
        raise FileNotFoundError(ORACLE_TOOLS[case.arch])
    env = {**BASE_ENV, **case.env}
    qemu = [tool]
    if case.has_interp and case.arch in QEMU_SYSROOTS:
        qemu += ["-L", QEMU_SYSROOTS[case.arch]]
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "trace"
        if case.native:
            cmd = [tool, "-f", "-qq", "-o", str(log), "--", case.binary, *case.args]
        else:
            cmd = [*qemu, "-d", "strace", "-D", str(log), case.binary, *case.args]
        if not case.trace:
            cmd = [case.binary, *case.args] if case.native else [*qemu, case.binary, *case.args]
        proc = subprocess.run(cmd, input=case.stdin, capture_output=True, cwd=ROOT, env=env,
                              timeout=case.timeout, check=False, preexec_fn=default_signals)
        text = log.read_text(errors="replace") if case.trace and log.exists() else None
        return _reduce(case, proc, text, qemu_format=not case.native,
                       dynamic_loader=case.has_interp)


def run_elftrace(case: Case) -> Outcome:
    env = {**BASE_ENV, **case.env, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "trace"
        if case.trace:
            cmd = [sys.executable, "-m", "emulator", "trace", "-f", "-o", str(log), case.binary,
                   *case.args]
        else:
            cmd = [sys.executable, "-m", "emulator", "run", case.binary, *case.args]
        proc = subprocess.run(cmd, input=case.stdin, capture_output=True, cwd=ROOT, env=env,
                              timeout=case.timeout * 3, check=False,
                              preexec_fn=default_signals)
        text = log.read_text(errors="replace") if case.trace and log.exists() else None
        return _reduce(case, proc, text, qemu_format=False)


def matches(case: Case, got: Outcome, want: Outcome) -> list[str]:
    """Every rule the elftrace run breaks, as readable messages (empty: it matches)."""
    problems = []
    if got.exit_code != want.exit_code:
        problems.append(f"exit status {got.exit_code}, oracle {want.exit_code}")
    if got.stdout != want.stdout:
        problems.append(f"stdout differs:\n  got  {got.stdout[:400]!r}\n"
                        f"  want {want.stdout[:400]!r}")
    if compare.normalize_stderr(got.stderr) != compare.normalize_stderr(want.stderr):
        problems.append(f"stderr differs:\n  got  {got.stderr[:600]!r}\n"
                        f"  want {want.stderr[:600]!r}")
    if case.trace and want.startup is not None:
        if got.startup != want.startup:
            problems.append(f"start-up syscalls differ:\n  got  {got.startup}\n"
                            f"  want {want.startup}")
        if got.calls != want.calls:
            extra = sorted(set(got.calls or []) - set(want.calls))
            missing = sorted(set(want.calls or []) - set(got.calls or []))
            problems.append(f"syscall sets differ: extra {extra}, missing {missing}")
        mine = got.file_calls or []
        if mine != want.file_calls:
            problems.append("file syscalls differ:\n" + _diff(mine, want.file_calls or []))
    return problems


def _diff(got: list[str], want: list[str]) -> str:
    import difflib

    return "\n".join(difflib.unified_diff(want, got, "oracle", "elftrace", lineterm="", n=2))

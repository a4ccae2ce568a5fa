"""Running one conformance case under its oracle (natively for amd64, qemu-arm for ARM)
or under elftrace, and the comparison rules.

Rules (the README's "Conformance suite" section repeats them):

1. the exit status must be equal (a signal death counts as 128 + the signal number,
   as a shell reports it);
2. stdout must be equal byte for byte (every subcommand prints deterministic output);
3. stderr must be equal after replacing hexadecimal numbers and goroutine numbers
   (tests/golden/compare.normalize_stderr): in full when two oracle runs agreed on it,
   otherwise (goroutine traces whose frames or order vary from run to run, even
   natively) up to its first blank line, which holds the panic or fatal error message;
4. the one line elftrace itself prints when a signal kills the guest ("elftrace: ...
   killed by SIG...") is not the guest's output and is left out, as a shell's
   "Terminated" is.
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass

from tests.conformance.cases import BASE_ENV, BINS, ROOT, ConformCase, arch_of
from tests.golden.compare import normalize_stderr

TIMEOUT = 300.0  # generous: the machine may be shared and slow; only guards against hangs


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str
    stderr_mode: str = "full"
    """"full" or "head": how much of stderr rule 3 compares."""

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def _text(data: bytes) -> str:
    try:
        return data.decode()
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(data).decode()


def _status(code: int) -> int:
    return code if code >= 0 else 128 - code


def oracle_tool(binary: str) -> str | None:
    return None if arch_of(binary) == "amd64" else shutil.which("qemu-arm")


def oracle_available(binary: str) -> bool:
    return arch_of(binary) == "amd64" or oracle_tool(binary) is not None


def run_oracle(binary: str, case: ConformCase) -> Result:
    path = str(BINS / binary)
    tool = oracle_tool(binary)
    if arch_of(binary) != "amd64" and tool is None:
        raise FileNotFoundError("qemu-arm")
    cmd = [path, *case.args] if tool is None else [tool, path, *case.args]
    proc = subprocess.run(cmd, input=case.stdin, capture_output=True, cwd=ROOT,
                          env={**BASE_ENV, **case.env}, timeout=TIMEOUT, check=False)
    return Result(_status(proc.returncode), _text(proc.stdout), _text(proc.stderr))


_OWN_KILL_LINE = re.compile(r"^elftrace: .* killed by SIG\w+ .*\n?", re.MULTILINE)


def run_elftrace(binary: str, case: ConformCase) -> Result:
    cmd = [sys.executable, "-m", "emulator", "run", f"bins/{binary}", *case.args]
    proc = subprocess.run(cmd, input=case.stdin, capture_output=True, cwd=ROOT,
                          env={**BASE_ENV, **case.env, "PYTHONPATH": str(ROOT)},
                          timeout=TIMEOUT, check=False)
    stderr = _text(proc.stderr)
    if proc.returncode > 128:
        stderr = _OWN_KILL_LINE.sub("", stderr)
    return Result(proc.returncode, _text(proc.stdout), stderr)


def stderr_key(text: str, mode: str) -> str:
    text = normalize_stderr(text)
    if mode == "head":
        return text.split("\n\n", 1)[0]
    return text


def problems(got: Result, want: Result) -> list[str]:
    """Every rule the run breaks, as readable messages (empty: it conforms)."""
    out = []
    if got.exit_code != want.exit_code:
        out.append(f"exit status {got.exit_code}, expected {want.exit_code}")
    if got.stdout != want.stdout:
        out.append(f"stdout differs:\n  got  {got.stdout[-1500:]!r}\n"
                   f"  want {want.stdout[-1500:]!r}")
    if stderr_key(got.stderr, want.stderr_mode) != stderr_key(want.stderr, want.stderr_mode):
        out.append(f"stderr differs ({want.stderr_mode}):\n  got  {got.stderr[:1500]!r}\n"
                   f"  want {want.stderr[:1500]!r}")
    return out

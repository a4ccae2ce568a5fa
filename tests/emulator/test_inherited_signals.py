"""What execve keeps, elftrace hands on: signals ignored when elftrace was started
(nohup's SIGHUP, a background job's SIGINT) start ignored in the guest, and blocked ones
start blocked. Go reads both at start-up and decides from them which handlers to
install, so the syscalls differ visibly; compared with the same binary run natively
under strace from the same parent. Deterministic runs inherit neither."""

from __future__ import annotations

import platform
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HELLO = str(ROOT / "bins" / "hello-1.27-amd64-static")
CALLS = ["-e", "trace=rt_sigaction,rt_sigprocmask"]

pytestmark = pytest.mark.skipif(platform.machine() != "x86_64" or not shutil.which("strace"),
                                reason="needs strace on x86-64")


def _ignore_hup_block_usr1() -> None:
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})


def _calls(cmd: list[str], tmp_path: Path, name: str) -> list[str]:
    """The traced calls (signal deliveries left out: Go's preemption is timing)."""
    log = tmp_path / name
    subprocess.run([*cmd[:1], "-o", str(log), *cmd[1:]] if cmd[0] == "strace" else
                   [*cmd[:4], "-o", str(log), *cmd[4:]],
                   cwd=ROOT, capture_output=True, timeout=120, check=True,
                   preexec_fn=_ignore_hup_block_usr1)
    return [re.sub(r"sa_restorer=0x[0-9a-f]+", "sa_restorer=R", line)
            for line in log.read_text().splitlines() if not line.startswith(("+++", "---"))]


def _first_mask_and_hup(lines: list[str]) -> list[str]:
    # Later rt_sigprocmask calls surround thread creations, which the main thread makes
    # more or fewer of depending on timing.
    masks = [line for line in lines if line.startswith("rt_sigprocmask")]
    return masks[:1] + [line for line in lines if "SIGHUP" in line]


def test_ignored_and_blocked_signals_are_inherited(tmp_path: Path) -> None:
    native = _calls(["strace", *CALLS, HELLO], tmp_path, "native")
    ours = _calls([sys.executable, "-m", "emulator", "trace", *CALLS, HELLO], tmp_path, "ours")
    assert _first_mask_and_hup(native) == [
        "rt_sigprocmask(SIG_SETMASK, NULL, [USR1], 8) = 0",
        "rt_sigaction(SIGHUP, NULL, {sa_handler=SIG_IGN, sa_mask=[], sa_flags=0}, 8) = 0"]
    assert _first_mask_and_hup(ours) == _first_mask_and_hup(native)
    # Nothing else about start-up changed: the same calls on the same signals.
    assert [line for line in ours if "SIGHUP" not in line and "sigprocmask" not in line] == \
        [line for line in native if "SIGHUP" not in line and "sigprocmask" not in line]


def test_deterministic_runs_inherit_nothing(tmp_path: Path) -> None:
    ours = _calls([sys.executable, "-m", "emulator", "trace", "--deterministic", *CALLS, HELLO],
                  tmp_path, "ours")
    hup = [line for line in ours if line.startswith("rt_sigaction(SIGHUP, NULL")]
    assert hup and "SIG_DFL" in hup[0]
    assert "rt_sigprocmask(SIG_SETMASK, NULL, [], 8) = 0" in ours

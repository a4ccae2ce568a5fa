"""st_mode in stat results, formatted as the real strace prints it (the oracle): the
file type, the set-id and sticky bits by name, then the permissions in octal (found by
the conformance suite: /tmp's sticky bit printed as ``1777``)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from emulator.trace.format import format_file_mode

MODES = {"sticky": (True, 0o1777), "setuid": (False, 0o4755), "setgid_dir": (True, 0o2750),
         "all": (False, 0o7777), "none": (False, 0), "private": (False, 0o600),
         "exec_only": (False, 0o7)}


def test_file_modes_match_strace(tmp_path: Path) -> None:
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed: no oracle for the mode format")
    paths = []
    for name, (is_dir, mode) in MODES.items():
        path = tmp_path / name
        path.mkdir() if is_dir else path.touch()
        os.chmod(path, mode)
        paths.append(str(path))
    paths.append("/dev/null")
    script = "import os, sys\nfor p in sys.argv[1:]:\n    os.lstat(p)\n"
    proc = subprocess.run([strace, "-qq", "-e", "trace=newfstatat,lstat", sys.executable, "-c",
                           script, *paths], capture_output=True, text=True, timeout=120,
                          check=False)
    if proc.returncode != 0:
        pytest.skip(f"strace cannot trace here: {proc.stderr.strip()[:200]}")
    seen = dict(re.findall(r'"([^"]+)", \{st_mode=([^,]+),', proc.stderr))
    for path in paths:
        assert path in seen, proc.stderr
        assert format_file_mode(os.lstat(path).st_mode) == seen[path], path

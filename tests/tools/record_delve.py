#!/usr/bin/env python3
"""Record delve's view of the stack at hello world's write (the oracle for -k).

Runs Debian's ``dlv`` (natively, amd64 only) on each binary: stop at ``syscall.write``
with fd 1, then at the SYSCALL instruction in ``Syscall6``, and print ``stack``. The
output and the exact command go to tests/data/delve/BINARY.write.txt. elftrace is
never run here.

    python3 tests/tools/record_delve.py

Delve 1.20 (Debian 12) reads Go 1.19's DWARF; it misreads newer Go's DWARF 5, so only
Go 1.19 binaries are recorded.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "data" / "delve"
BINARIES = ("hello-1.19-amd64-static", "hello-1.19-amd64-pie")
COMMANDS = """\
break syscall.write
condition 1 fd == 1
continue
break runtime/internal/syscall/asm_linux_amd64.s:35
continue
stack 50
exit
"""


def main() -> int:
    dlv = shutil.which("dlv")
    if dlv is None:
        print("dlv is not installed (Debian package: delve)", file=sys.stderr)
        return 1
    version = subprocess.run([dlv, "version"], capture_output=True, text=True,
                             check=True).stdout.splitlines()[1]
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".dlv") as script:
        script.write(COMMANDS)
        script.flush()
        for name in BINARIES:
            command = [dlv, "exec", f"bins/{name}", "--allow-non-terminal-interactive=true",
                       "--init", script.name]
            result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                                    timeout=300, check=False)
            shown = " ".join(["dlv", *command[1:-1], "SCRIPT"])
            header = [f"# {version}", f"# command: {shown}",
                      *("# SCRIPT: " + line for line in COMMANDS.splitlines())]
            (OUT / f"{name}.write.txt").write_text("\n".join(header) + "\n" + result.stdout)
            print(f"recorded {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

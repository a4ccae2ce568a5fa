#!/usr/bin/env python3
"""Record the conformance suite's expectations from the oracles: each case of
tests/conformance/cases.py run natively (amd64) or under qemu-arm (ARM), twice.
elftrace is never run here.

    python3 tests/tools/record_conformance.py              # every conform binary
    python3 tests/tools/record_conformance.py -b conform-1.27-arm7-static-stripped
    python3 tests/tools/record_conformance.py -k signal    # only matching cases (merged
                                                           # into the existing files)

Both runs must agree on exit status and stdout (the programs are deterministic by
design; a disagreement is an error to fix in the program). stderr is kept in full
when both runs agree on it after normalisation (tests/golden/compare.normalize_stderr),
otherwise only its first paragraph is compared ("head"): goroutine traces of crashes
can list goroutines differently from run to run even natively.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.conformance.cases import EXPECTED, arch_of, cases_for, conform_binaries, expected_path
from tests.conformance.runner import oracle_available, oracle_tool, run_oracle, stderr_key


def oracle_version(binary: str) -> str:
    tool = oracle_tool(binary)
    if tool is None:
        return f"native {platform.system()} {platform.release()} {platform.machine()}"
    out = subprocess.run([tool, "--version"], capture_output=True, text=True,
                         check=False).stdout
    return out.splitlines()[0].strip() if out else tool


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-b", dest="binary", default="", help="only binaries containing this")
    parser.add_argument("-k", dest="match", default="", help="only cases containing this")
    args = parser.parse_args()
    EXPECTED.mkdir(parents=True, exist_ok=True)
    errors = 0
    for binary in conform_binaries():
        if args.binary not in binary:
            continue
        if not oracle_available(binary):
            print(f"skip {binary}: qemu-arm is not installed", file=sys.stderr)
            errors += 1
            continue
        path = expected_path(binary)
        old = json.loads(path.read_text())["cases"] if path.exists() and args.match else {}
        recorded = dict(old)
        for case in cases_for(binary):
            if args.match not in case.name:
                continue
            first, second = run_oracle(binary, case), run_oracle(binary, case)
            if (first.exit_code, first.stdout) != (second.exit_code, second.stdout):
                print(f"ERROR {binary} {case.name}: two oracle runs disagree on exit status "
                      f"or stdout:\n{first}\n{second}", file=sys.stderr)
                errors += 1
                continue
            if stderr_key(first.stderr, "full") != stderr_key(second.stderr, "full"):
                first.stderr_mode = "head"
            recorded[case.name] = {"command": ["conform", *case.args[0:]], "env": case.env,
                                   "stdin_bytes": len(case.stdin), **first.to_json()}
            print(f"recorded {binary} {case.name}: exit {first.exit_code} "
                  f"stderr {first.stderr_mode}")
        record = {
            "binary": binary,
            "arch": arch_of(binary),
            "oracle": oracle_version(binary),
            "host": f"{platform.system()} {platform.release()} {platform.machine()}",
            "recorded": datetime.date.today().isoformat(),
            "recorded_by": "tests/tools/record_conformance.py",
            "cases": dict(sorted(recorded.items())),
        }
        path.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""Record golden files from the oracles: native runs under strace (amd64, 386), qemu-arm
(ARM) and qemu-aarch64 (arm64). elftrace is never run here: golden files describe the real machine.

    python3 tests/tools/record_golden.py            # every case
    python3 tests/tools/record_golden.py -k fileio  # cases whose name contains "fileio"
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.golden.cases import GOLDEN, all_cases
from tests.golden.oracle import oracle_tool, oracle_version, run_oracle


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", dest="match", default="", help="only cases containing this")
    args = parser.parse_args()
    GOLDEN.mkdir(parents=True, exist_ok=True)
    failed = 0
    for case in all_cases():
        if args.match not in case.name:
            continue
        if oracle_tool(case) is None:
            print(f"skip {case.name}: oracle for {case.arch} is not installed", file=sys.stderr)
            failed += 1
            continue
        outcome = run_oracle(case)
        record = {
            "case": case.name,
            "command": [case.binary, *case.args],
            "env": case.env,
            "stdin_bytes": len(case.stdin),
            "oracle": oracle_version(case),
            "host": f"{platform.system()} {platform.release()} {platform.machine()}",
            "recorded": datetime.date.today().isoformat(),
            "recorded_by": "tests/tools/record_golden.py",
            "outcome": outcome.to_json(),
        }
        case.golden_path.write_text(json.dumps(record, indent=1) + "\n")
        print(f"recorded {case.name}: exit {outcome.exit_code}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

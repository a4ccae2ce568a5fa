"""End to end: every binary in bins/ under elftrace behaves as under its oracle.

Each case is compared with its golden file (recorded from the oracle by
tests/tools/record_golden.py) and, when the oracle is installed here, with a live
oracle run too. The comparison rules are in tests/golden/compare.py.
"""

from __future__ import annotations

import json

import pytest

from tests.golden.cases import Case, all_cases
from tests.golden.oracle import (
    ORACLE_TOOLS,
    Outcome,
    matches,
    oracle_tool,
    run_elftrace,
    run_oracle,
)

CASES = all_cases()
PARAMS = [pytest.param(c, id=c.name, marks=[pytest.mark.xfail(reason=c.known_gap, strict=True)]
                       if c.known_gap else []) for c in CASES]
_runs: dict[str, Outcome] = {}


def elftrace_outcome(case: Case) -> Outcome:
    if case.name not in _runs:
        _runs[case.name] = run_elftrace(case)
    return _runs[case.name]


def golden(case: Case) -> Outcome:
    path = case.golden_path
    if not path.exists():
        pytest.fail(f"no golden file {path.name}: run tests/tools/record_golden.py -k {case.name}")
    return Outcome(**json.loads(path.read_text())["outcome"])


@pytest.mark.parametrize("case", PARAMS)
def test_matches_golden(case: Case) -> None:
    problems = matches(case, elftrace_outcome(case), golden(case))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("case", PARAMS)
def test_matches_live_oracle(case: Case) -> None:
    if oracle_tool(case) is None:
        pytest.skip(f"{ORACLE_TOOLS[case.arch]} is not installed: "
                    "live comparison skipped (the golden comparison still ran)")
    ours = elftrace_outcome(case)
    problems = matches(case, ours, run_oracle(case))
    if problems:
        # The real machine is not deterministic either (thread interleaving, a call a
        # thread starts as the process exits): a second oracle run settles whether the
        # difference is elftrace's. elftrace's own run is never repeated.
        problems = matches(case, ours, run_oracle(case))
    assert not problems, "\n".join(problems)

"""The conformance suite: every subcommand of bins/conform-* under elftrace behaves as
on the real machine — compared with expectations recorded from native runs (amd64) and
qemu-arm (ARM) by tests/tools/record_conformance.py, and with a live oracle run when the
oracle is installed. One process per case; the rules are in tests/conformance/runner.py.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conformance.cases import (
    BINS,
    EXPECTED_FAILURES,
    SUBCOMMANDS,
    ConformCase,
    arch_of,
    cases_for,
    conform_binaries,
    expected_path,
)
from tests.conformance.runner import Result, oracle_available, problems, run_elftrace, run_oracle

BINARIES = conform_binaries()
PARAMS = [
    pytest.param(binary, case, id=f"{binary.removesuffix('-static-stripped')}.{case.name}",
                 marks=[pytest.mark.xfail(reason=EXPECTED_FAILURES[case.args[0]], strict=True)]
                 if case.args[0] in EXPECTED_FAILURES else [])
    for binary in BINARIES for case in cases_for(binary)
]
_expected: dict[str, dict[str, dict[str, object]]] = {}


def expected(binary: str, case: ConformCase) -> Result:
    if binary not in _expected:
        path = expected_path(binary)
        if not path.exists():
            pytest.fail(f"no expectations {path.name}: run tests/tools/record_conformance.py")
        _expected[binary] = json.loads(path.read_text())["cases"]
    row = _expected[binary].get(case.name)
    if row is None:
        pytest.fail(f"{case.name} not recorded for {binary}: run "
                    f"tests/tools/record_conformance.py -b {binary} -k {case.name}")
    return Result(int(row["exit_code"]), str(row["stdout"]), str(row["stderr"]),  # type: ignore[call-overload]
                  str(row["stderr_mode"]))


@pytest.mark.parametrize(("binary", "case"), PARAMS)
def test_conforms(binary: str, case: ConformCase) -> None:
    """elftrace's run against the recorded oracle run, and against a live one."""
    want = expected(binary, case)
    got = run_elftrace(binary, case)
    found = problems(got, want)
    assert not found, "\n".join(found)
    if oracle_available(binary):
        live = run_oracle(binary, case)
        live.stderr_mode = want.stderr_mode
        found = [f"(live oracle) {p}" for p in problems(got, live)]
        assert not found, "\n".join(found)


def test_binaries_are_built() -> None:
    assert len(BINARIES) >= 5, BINARIES
    assert {arch_of(b) for b in BINARIES} == {"amd64", "arm"}


def test_case_list_matches_the_program() -> None:
    """The Python list names every subcommand the program has, and nothing else."""
    amd64 = next(b for b in BINARIES if arch_of(b) == "amd64")
    listed = subprocess.run([str(BINS / amd64), "list"], capture_output=True, text=True,
                            timeout=60, check=True).stdout.split()
    assert sorted(set(SUBCOMMANDS) | {"exit", "args", "env", "stdin"}) == listed
    assert len(listed) >= 60

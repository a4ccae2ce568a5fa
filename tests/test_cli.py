"""The command line on bad input: one line on stderr, a distinct exit status, never a
Python traceback."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.elfbuild import static_elf

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "emulator", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})


def one_line_error(result: subprocess.CompletedProcess[str], status: int, *words: str) -> None:
    assert result.returncode == status, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("elftrace: ")
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0]


def test_missing_file() -> None:
    one_line_error(run("run", "/nonexistent/prog"), 127, "No such file")


def test_directory() -> None:
    one_line_error(run("run", "bins"), 126, "directory")


@pytest.mark.parametrize("content,words", [
    (b"", ("empty",)),
    (b"#!/bin/sh\necho hi\n", ("script",)),
    (b"hello world, not an executable", ("not an ELF",)),
    (b"\x7fELF\x02\x01\x01", ("truncated",)),
])
def test_not_runnable(tmp_path: Path, content: bytes, words: tuple[str, ...]) -> None:
    path = tmp_path / "f"
    path.write_bytes(content)
    one_line_error(run("run", str(path)), 126, *words)


@pytest.mark.parametrize("machine,words", [(243, ("RISC-V",)), (8, ("e_machine 8",))])
def test_wrong_architecture(tmp_path: Path, machine: int, words: tuple[str, ...]) -> None:
    path = tmp_path / "f"
    path.write_bytes(static_elf(b"\x90" * 16, machine=machine))
    one_line_error(run("run", str(path)), 126, "not supported", *words)


def test_truncated_real_binary(tmp_path: Path) -> None:
    data = (ROOT / "bins" / "hello-1.27-amd64-static").read_bytes()
    path = tmp_path / "f"
    path.write_bytes(data[:5000])
    one_line_error(run("run", str(path)), 126, "past the end")


def test_bad_trace_filter() -> None:
    result = run("trace", "-e", "trace=nosuchcall", "bins/hello-1.27-amd64-static")
    assert result.returncode == 2
    assert "nosuchcall" in result.stderr and "Traceback" not in result.stderr


def test_trace_output_file_and_filter(tmp_path: Path) -> None:
    out = tmp_path / "trace.txt"
    result = run("trace", "-f", "-e", "trace=write,%memory", "-o", str(out),
                 "bins/hello-1.27-arm7-static")
    assert result.returncode == 0 and result.stdout == "hello world\n"
    text = out.read_text()
    assert 'write(1, "hello world\\n", 12) = 12' in text
    assert "mmap2(" in text and "openat(" not in text
    assert text.rstrip().endswith("+++ exited with 0 +++")


def test_summary_table() -> None:
    result = run("trace", "-c", "bins/hello-1.19-amd64-static")
    assert result.returncode == 0
    assert "syscall" in result.stderr and "total" in result.stderr
    assert "rt_sigaction" in result.stderr


def test_environment_and_arguments() -> None:
    result = run("run", "-E", "ELFTRACE_TEST=x=y", "bins/work-1.27-arm7-static", "argsenv", "one")
    assert result.returncode == 0
    assert "argv[2]=one" in result.stdout and "ELFTRACE_TEST=x=y" in result.stdout


def test_base_moves_a_pie() -> None:
    out = run("trace", "-e", "trace=arch_prctl", "--base", "0x7f0000000000",
              "bins/hello-1.27-amd64-pie")
    assert out.returncode == 0 and out.stdout == "hello world\n"
    assert "arch_prctl(ARCH_SET_FS, 0x7f00" in out.stderr


def test_base_refused_for_static() -> None:
    one_line_error(run("run", "--base", "0x10000000", "bins/hello-1.27-amd64-static"), 126,
                   "ET_DYN")


def test_readme_syscall_table_is_current() -> None:
    result = subprocess.run([sys.executable, "tools/gen_syscall_docs.py", "--check"], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


def test_backtrace_on_a_relocated_pie() -> None:
    result = run("trace", "-k", "-e", "trace=write", "--base", "0x7f0000000000",
                 "bins/hello-1.27-amd64-pie")
    assert result.returncode == 0
    assert "in main.main\n    at hello/main.go:10" in result.stderr
    assert " 0  0x00007f00" in result.stderr


def test_frames_limit() -> None:
    result = run("trace", "-k", "--frames", "2", "-e", "trace=write",
                 "bins/hello-1.19-arm7-static-stripped")
    lines = [ln for ln in result.stderr.splitlines() if " in " in ln and "0x" in ln]
    assert len(lines) == 2 and "more frames" in result.stderr


def test_json_lines(tmp_path: Path) -> None:
    import json

    out = tmp_path / "events.jsonl"
    result = run("trace", "--json", "-k", "-f", "-o", str(out), "bins/hello-1.27-arm5-static")
    assert result.returncode == 0
    events = [json.loads(line) for line in out.read_text().splitlines()]
    writes = [e for e in events if e["event"] == "syscall" and e["name"] == "write"]
    assert writes[0]["args"] == ["1", '"hello world\\n"', "12"] and writes[0]["result"] == 12
    assert any(f["function"] == "main.main" for f in writes[0]["frames"])
    assert events[-1] == {"event": "exit", "code": 0, "time": events[-1]["time"]}


def test_paths_tree_and_folded(tmp_path: Path) -> None:
    folded = tmp_path / "out.folded"
    result = run("paths", "--folded", str(folded), "bins/hello-1.27-amd64-static")
    assert result.returncode == 0 and result.stdout == "hello world\n"
    assert "write" in result.stderr and "main.main" in result.stderr
    lines = folded.read_text().splitlines()
    assert any(line.startswith("runtime.goexit;runtime.main;main.main;fmt.Println")
               and line.endswith(";write 1") for line in lines)


def test_info_go_binary() -> None:
    result = run("info", "bins/hello-1.27-arm5-static-stripped")
    assert result.returncode == 0
    for text in ("ELF32", "GOARM", "go1.27.3", "static", "stripped"):
        assert text in result.stdout


def test_info_refuses_garbage(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"\x7fELF\x02")
    one_line_error(run("info", str(path)), 126)


def test_backtrace_of_a_c_program(tmp_path: Path) -> None:
    import shutil

    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed: no C program to trace")
    src = tmp_path / "c.c"
    src.write_text('#include <unistd.h>\nint main(void){return write(1, "hi\\n", 3) != 3;}\n')
    exe = tmp_path / "c"
    subprocess.run(["gcc", "-static", "-O0", "-g", str(src), "-o", str(exe)], check=True)
    result = run("trace", "-k", "-e", "trace=write", str(exe))
    assert result.returncode == 0 and result.stdout == "hi\n"
    assert re.search(r" 0  0x[0-9a-f]{16} in \w*write\w*\+0x[0-9a-f]+", result.stderr)


def _break_describe(monkeypatch: pytest.MonkeyPatch) -> None:
    import loader.info

    def broken(path: object) -> object:
        raise ZeroDivisionError("a bug in elftrace")

    monkeypatch.setattr(loader.info, "describe", broken)


def test_internal_error_is_one_line_with_status_70(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """A bug is reported as a bug (not as a verdict on the input), without a traceback."""
    from emulator.cli import main

    _break_describe(monkeypatch)
    monkeypatch.delenv("ELFTRACE_DEBUG", raising=False)
    assert main(["info", str(ROOT / "bins/hello-1.27-amd64-static")]) == 70
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("elftrace: internal error: ZeroDivisionError: a bug in elftrace")


def test_internal_error_traceback_with_debug(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from emulator.cli import main

    _break_describe(monkeypatch)
    assert main(["--debug", "info", str(ROOT / "bins/hello-1.27-amd64-static")]) == 70
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.strip().splitlines()[-1].startswith("elftrace: internal error: ZeroDivisionError")


def test_max_slices_bounds_a_run() -> None:
    one_line_error(run("run", "--max-slices", "1", "bins/hello-1.27-amd64-static"), 125,
                   "--max-slices")


def test_rootfs_must_be_a_directory(tmp_path: Path) -> None:
    one_line_error(run("run", "--rootfs", str(tmp_path / "nope"), "/bin/prog"), 2,
                   "not a directory")


def test_rootfs_binary_is_looked_up_inside(tmp_path: Path) -> None:
    one_line_error(run("run", "--rootfs", str(tmp_path), "/bin/prog"), 126, "inside the root")

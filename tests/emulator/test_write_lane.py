"""The syscall gate's write lane (emulator/cpu.py: WriteLane): once the kernel model has
made a write(2) to a plain host file, the gate makes the next ones like it natively.
Whatever the lane answers must be what the model would have answered, and anything that
changes the facts it relies on (close, dup, munmap, mprotect, fcntl's O_APPEND) must
send the next write back to the model. The x86-64 programs (sources in data/) are run
natively and compared byte for byte; Go's writes must take the lane on every
architecture. Traced writes take it only when the tracer may print them in batches
(emulator/events.py: WritesAnswered): not with -T, -tt, -k or --json, nor when the
program writes to the file the trace goes to."""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.elfbuild import static_elf, write_exe
from tests.emulator.test_programs import X86_HANDLER_THEN_WRITES

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
HITS = (
    "import sys\n"
    "import emulator.dispatch as d\n"
    "gates = []\n"
    "init = d.Dispatcher.__init__\n"
    "def counting(self, *a, **k):\n"
    "    init(self, *a, **k)\n"
    "    gates.append(self._gate)\n"
    "d.Dispatcher.__init__ = counting\n"
    "from emulator.cli import main\n"
    "try:\n"
    "    code = main()\n"
    "finally:\n"
    "    sys.stderr.write(f'\\nlane hits: {gates[0].lane.hits if gates[0] else -1}\\n')\n"
    "raise SystemExit(code)\n")
NO_GATE = ("import emulator.cpu as cpu; cpu._GATE_STUBS.clear(); "
           "from emulator.cli import main; raise SystemExit(main())")

# data/write_lane.s: writes from the program's text, a bad address, a fresh page before
# and after munmap, another before and after mprotect(PROT_NONE), to a closed fd and to
# stderr dup'ed onto 1; then every write's result, as 8 bytes each, to stderr.
LANE = bytes.fromhex(
    "4881ec000100004989e74c8d35720200004d31edbf010000004c89f6ba06000000b8010000000f054b89"
    "04ef49ffc5bf010000004c89f6ba06000000b8010000000f054b8904ef49ffc5498d5e02bf0100000048"
    "89deba03000000b8010000000f054b8904ef49ffc548c7c300000010bf010000004889deba04000000b8"
    "010000000f054b8904ef49ffc5bf010000004c89f6ba06000000b8010000000f054b8904ef49ffc5bf01"
    "0000004c89f6ba06000000b8010000000f054b8904ef49ffc5bf010000004c89f6ba00000000b8010000"
    "000f054b8904ef49ffc531ffbe00100000ba0300000041ba2200000049c7c0ffffffff4531c9b8090000"
    "000f054989c441c704246162630abf010000004c89e6ba04000000b8010000000f054b8904ef49ffc5bf"
    "010000004c89e6ba04000000b8010000000f054b8904ef49ffc54c89e7be00100000b80b0000000f05bf"
    "010000004c89e6ba04000000b8010000000f054b8904ef49ffc531ffbe00100000ba0300000041ba2200"
    "000049c7c0ffffffff4531c9b8090000000f054989c441c704246465660abf010000004c89e6ba040000"
    "00b8010000000f054b8904ef49ffc5bf010000004c89e6ba04000000b8010000000f054b8904ef49ffc5"
    "4c89e7be0010000031d2b80a0000000f05bf010000004c89e6ba04000000b8010000000f054b8904ef49"
    "ffc5bf01000000b8030000000f05bf010000004c89f6ba06000000b8010000000f054b8904ef49ffc5bf"
    "02000000b8200000000f05bf010000004c89f6ba06000000b8010000000f054b8904ef49ffc5bf010000"
    "004c89f6ba06000000b8010000000f054b8904ef49ffc54a8d14ed00000000bf020000004c89feb80100"
    "00000f0531ffb8e70000000f0568656c6c6f0a")
# data/write_lane_append.s: two writes to lane.out, lseek to 0, one write, fcntl(F_SETFL,
# O_APPEND), two writes: 24 bytes, the last two appended.
APPEND = bytes.fromhex(
    "4c8d35a6000000bf9cffffff488d35a0000000ba4102000041baa4010000b8010100000f054989c44c89"
    "e74c89f6ba06000000b8010000000f054c89e74c89f6ba06000000b8010000000f054c89e731f631d2b8"
    "080000000f054c89e74c89f6ba06000000b8010000000f054c89e7be04000000ba00040000b848000000"
    "0f054c89e74c89f6ba06000000b8010000000f054c89e74c89f6ba06000000b8010000000f0531ffb8e7"
    "0000000f0568656c6c6f0a6c616e652e6f757400")

x86_64_host = pytest.mark.skipif(
    platform.machine() != "x86_64",
    reason="runs x86-64 programs natively; the gate is x86-64 host code")


def elftrace(*args: str, cwd: Path = ROOT, gate: bool = True) -> subprocess.CompletedProcess[bytes]:
    code = HITS if gate else NO_GATE
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True,
                          timeout=120, check=False, env={"PATH": "/usr/bin:/bin",
                                                         "PYTHONPATH": str(ROOT)})


def split_hits(stderr: bytes) -> tuple[bytes, int]:
    """The guest's own stderr, and the lane's hit count the HITS wrapper appended."""
    body, _, tail = stderr.rpartition(b"\nlane hits: ")
    return body, int(tail)


@pytest.mark.parametrize("name,source", [("lane", "write_lane.s"),
                                         ("append", "write_lane_append.s"),
                                         ("handler", "handler_then_writes.s")])
def test_programs_are_their_sources(tmp_path: Path, name: str, source: str) -> None:
    if shutil.which("as") is None or shutil.which("objcopy") is None:
        pytest.skip("binutils not installed")
    obj, raw = tmp_path / "p.o", tmp_path / "p.bin"
    subprocess.run(["as", "-o", obj, DATA / source], check=True)
    subprocess.run(["objcopy", "-O", "binary", "-j", ".text", obj, raw], check=True)
    assert raw.read_bytes() == {"lane": LANE, "append": APPEND,
                                "handler": X86_HANDLER_THEN_WRITES}[name]


@x86_64_host
def test_lane_answers_as_the_kernel_does(tmp_path: Path) -> None:
    path = write_exe(tmp_path, "lane", static_elf(LANE))
    native = subprocess.run([path], capture_output=True, timeout=30, check=False)
    assert native.returncode == 0
    lane = elftrace("run", str(path))
    guest_stderr, hits = split_hits(lane.stderr)
    assert (lane.returncode, lane.stdout, guest_stderr) == \
        (native.returncode, native.stdout, native.stderr)
    # The second write of each pair went native; the write after each change did not.
    assert hits == 6
    plain = elftrace("run", str(path), gate=False)
    assert (plain.returncode, plain.stdout, plain.stderr) == \
        (native.returncode, native.stdout, native.stderr)


@x86_64_host
def test_fcntl_append_sends_writes_back_to_the_model(tmp_path: Path) -> None:
    native_dir, guest_dir = tmp_path / "native", tmp_path / "guest"
    native_dir.mkdir()
    guest_dir.mkdir()
    path = write_exe(tmp_path, "append", static_elf(APPEND))
    subprocess.run([path], cwd=native_dir, timeout=30, check=True)
    result = elftrace("run", str(path), cwd=guest_dir)
    assert result.returncode == 0, result.stderr
    assert (guest_dir / "lane.out").read_bytes() == (native_dir / "lane.out").read_bytes()
    assert len((native_dir / "lane.out").read_bytes()) == 24
    assert split_hits(result.stderr)[1] == 1


@x86_64_host
@pytest.mark.parametrize("binary", ["work-1.27-amd64-static", "work-1.27-arm7-static",
                                    "work-1.27-386-static-stripped", "work-1.27-arm64-static"])
def test_go_writes_take_the_lane_on_every_architecture(tmp_path: Path, binary: str) -> None:
    # work writes N FILE: N one-byte writes, then it checks the file's size itself.
    out = tmp_path / "out"
    result = elftrace("run", str(ROOT / "bins" / binary), "writes", "300", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"writes: 300\nwrites ok\n"
    assert out.stat().st_size == 300
    assert split_hits(result.stderr)[1] >= 250


def collapse(line: str) -> str:
    """A line without its alignment (strace pads to column 40 counting the pid)."""
    return re.sub(r"\s+= ", " = ", line)


def native_write_lines(binary: Path, *args: str) -> list[str]:
    """The program's write(2) lines as ``strace -f`` prints them, pids cut off."""
    if shutil.which("strace") is None:
        pytest.skip("strace not installed")
    proc = subprocess.run(["strace", "-f", "-e", "trace=write", "-o", "/dev/stderr",
                           str(binary), *args], capture_output=True, timeout=60, check=False)
    lines = proc.stderr.decode().splitlines()
    return [re.sub(r"^(\[pid +\d+\] |\d+ +)", "", line) for line in lines
            if re.search(r"(^|\] |^\d+ +)write\(", line)]


@x86_64_host
@pytest.mark.parametrize("binary", ["work-1.27-amd64-static", "work-1.27-arm7-static"])
def test_traced_writes_take_the_lane_and_every_line_is_printed(tmp_path: Path,
                                                               binary: str) -> None:
    # The trace goes to a file, the writes to another: the gate logs them and the tracer
    # prints them in batches, the same lines strace prints (the same program on amd64).
    native = native_write_lines(ROOT / "bins" / "work-1.27-amd64-static", "writes", "300",
                                str(tmp_path / "native.out"))
    log = tmp_path / "trace"
    result = elftrace("trace", "-f", "-e", "trace=write", "-o", str(log),
                      str(ROOT / "bins" / binary), "writes", "300", str(tmp_path / "guest.out"))
    assert result.returncode == 0, result.stderr
    assert split_hits(result.stderr)[1] >= 250
    traced = [re.sub(r"^\[pid +\d+\] ", "", line) for line in log.read_text().splitlines()
              if "write(" in line]
    assert [collapse(line) for line in traced] == [collapse(line) for line in native]
    assert sum(line.startswith('write(3, "x", 1)') for line in traced) == 300


@x86_64_host
@pytest.mark.parametrize("option", ["-T", "-tt", "-k", "--json"])
def test_writes_traced_with_times_or_stacks_never_take_the_lane(tmp_path: Path,
                                                                option: str) -> None:
    log = tmp_path / "trace"
    result = elftrace("trace", option, "-o", str(log),
                      str(ROOT / "bins" / "work-1.27-amd64-static"), "writes", "100",
                      str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert split_hits(result.stderr)[1] == 0
    assert len(re.findall(r'"x"|\\"x\\"', log.read_text())) >= 100  # strace or JSON lines


@x86_64_host
def test_writes_to_the_trace_s_own_file_keep_their_order(tmp_path: Path) -> None:
    # The program writes to elftrace's stderr, where the trace goes: strace's order of the
    # two (each call's bytes, then its line) must stay, so those writes take no lane.
    result = elftrace("trace", "-e", "trace=write", str(ROOT / "bins" / "work-1.27-amd64-static"),
                      "writes", "50", "/dev/stderr")
    assert result.returncode == 0, result.stderr
    guest_and_trace, _ = split_hits(result.stderr)
    assert len(re.findall(rb'^xwrite\(3, "x", 1\) += 1$', guest_and_trace, re.M)) == 50

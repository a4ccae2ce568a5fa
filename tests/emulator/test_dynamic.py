"""Dynamically linked programs through the real ld.so, the relocation listing and its
proof against the real loader, and --ltrace — all compared with real runs: native (and
strace, ltrace) for x86-64, ``qemu-arm -L /usr/arm-linux-gnueabihf`` for ARM."""

from __future__ import annotations

import json
import platform
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from loader.elf import ElfType, read_elf
from tests.golden.compare import NOISE, parse_qemu, parse_strace

ROOT = Path(__file__).resolve().parents[2]
BINS = ROOT / "bins"
ARM_SYSROOT = "/usr/arm-linux-gnueabihf"
MANIFEST: list[dict[str, object]] = json.loads((BINS / "manifest.json").read_text())

# name -> arch ("amd64" or "arm") for the programs that run to completion here.
C_PROGRAMS = {
    "ptrs-glibc-amd64-dynamic": "amd64",
    "ptrs-glibc-arm-dynamic": "arm",
    "ptrs-glibc-amd64-static": "amd64",
    "ptrs-glibc-amd64-static-pie": "amd64",
    "ptrs-musl-amd64-static": "amd64",
    "ptrs-musl-amd64-static-pie": "amd64",
    "ptrs-musl-arm-static-pie": "arm",
}
GO_DYNAMIC = {"hello-1.27-arm7-pie-stripped": "arm"}
NET = {"cgonet-1.27-amd64-cgo-stripped": "amd64", "cgonet-1.27-arm7-cgo-stripped": "arm"}
PIES = [str(row["path"]) for row in MANIFEST
        if read_elf(BINS / str(row["path"])).type is ElfType.DYN]
TIMEOUT = 600


def elftrace(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "emulator", *args], cwd=ROOT,
                          capture_output=True, timeout=TIMEOUT, check=False,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})


def oracle(arch: str, binary: Path, *, strace: bool = False) -> subprocess.CompletedProcess[bytes]:
    """The real run: native on an x86-64 host, qemu-arm with the armhf sysroot for ARM."""
    env = {"PATH": "/usr/bin:/bin"}
    if arch == "amd64":
        if platform.machine() != "x86_64":
            pytest.skip("x86-64 programs run natively only on an x86-64 host")
        if strace and not shutil.which("strace"):
            pytest.skip("strace is not installed")
        argv = ["strace", "-f", "-qq", str(binary)] if strace else [str(binary)]
    else:
        if not shutil.which("qemu-arm"):
            pytest.skip("qemu-arm (qemu-user) is not installed")
        if not Path(ARM_SYSROOT).is_dir():
            pytest.skip(f"{ARM_SYSROOT} (libc6-armhf-cross) is not installed")
        argv = ["qemu-arm", *(["-strace"] if strace else []), "-L", ARM_SYSROOT, str(binary)]
    return subprocess.run(argv, capture_output=True, timeout=TIMEOUT, check=False, env=env)


def needs_arm_sysroot(arch: str) -> None:
    if arch == "arm" and not Path(ARM_SYSROOT).is_dir():
        pytest.skip(f"{ARM_SYSROOT} (libc6-armhf-cross) is not installed")


# Running -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [*C_PROGRAMS, *GO_DYNAMIC])
def test_runs_like_the_real_thing(name: str) -> None:
    arch = {**C_PROGRAMS, **GO_DYNAMIC}[name]
    needs_arm_sysroot(arch)
    want = oracle(arch, BINS / name)
    got = elftrace("run", f"bins/{name}")
    assert (got.stdout, got.stderr, got.returncode) == (want.stdout, want.stderr,
                                                        want.returncode)
    if name.startswith("ptrs"):
        assert got.stdout == b"ptrs ok 10\n"


def _names(calls: list[str]) -> list[str]:
    # Linux gives x86-64 processes a vDSO, which ld.so registers as an object (with
    # malloc'd bookkeeping): natively its minimal malloc needs one more anonymous mmap,
    # and its TLS block another. elftrace, like qemu-user, maps no vDSO.
    return [c for c in calls if c not in NOISE and c not in ("mmap", "mmap2")]


@pytest.mark.parametrize("name", ["ptrs-glibc-amd64-dynamic", "ptrs-glibc-arm-dynamic"])
def test_dynamic_loader_makes_the_same_syscalls(name: str) -> None:
    arch = C_PROGRAMS[name]
    needs_arm_sysroot(arch)
    want_run = oracle(arch, BINS / name, strace=True)
    want = (parse_strace if arch == "amd64" else parse_qemu)(want_run.stderr.decode())
    got_run = elftrace("trace", f"bins/{name}")
    got = parse_strace(got_run.stderr.decode())
    ours = _names([c.name for c in got])
    if arch == "arm":
        # qemu's -strace log leaves out ARM-private calls (set_tls) and logs rseq, which
        # it does not implement either, as "Unknown syscall 398".
        ours = [c for c in ours if c not in ("set_tls", "rseq")]
    assert ours == _names([c.name for c in want])
    # ld.so found libc through the sysroot (ARM) or the host root (x86-64).
    assert re.search(r'openat\(AT_FDCWD, "[^"]*/libc\.so\.6", O_RDONLY[^)]*\) = 3',
                     got_run.stderr.decode())
    # rseq is honestly unsupported: glibc falls back to running without it.
    assert "rseq(" in got_run.stderr.decode() and "ENOSYS" in got_run.stderr.decode()


@pytest.mark.parametrize("name", list(NET))
def test_cgo_program_loads_through_ld_so_up_to_its_socket(name: str) -> None:
    needs_arm_sysroot(NET[name])
    run = elftrace("trace", "-f", "-e", "trace=openat,socket", f"bins/{name}")
    trace = run.stderr.decode()
    assert re.search(r'openat\(AT_FDCWD, "[^"]*/libc\.so\.6", [^)]*\) = \d', trace)
    # (Decoded as AF_INET, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK once sockets exist.)
    assert re.search(r"socket\((AF_INET|0x2), (SOCK_STREAM\|SOCK_CLOEXEC\|SOCK_NONBLOCK|0x80801)",
                     trace)


@pytest.mark.parametrize("name", list(NET))
def test_cgo_net_listen_runs_like_the_real_thing(name: str) -> None:
    arch = NET[name]
    needs_arm_sysroot(arch)
    want = oracle(arch, BINS / name)
    got = elftrace("run", f"bins/{name}")
    assert want.stdout == b"listening on tcp\n"
    assert (got.stdout, got.stderr, got.returncode) == (want.stdout, want.stderr,
                                                        want.returncode)


def test_missing_sysroot_is_one_line_naming_the_option(tmp_path: Path) -> None:
    run = elftrace("run", "--sysroot", str(tmp_path / "none"), "bins/ptrs-glibc-arm-dynamic")
    lines = run.stderr.decode().splitlines()
    assert run.returncode == 126 and len(lines) == 1
    assert "sysroot" in lines[0] and "does not exist" in lines[0]
    run = elftrace("run", "-L", str(tmp_path), "bins/ptrs-glibc-arm-dynamic")
    assert run.returncode == 126
    assert "interpreter /lib/ld-linux-armhf.so.3 not found" in run.stderr.decode()


# relocs ------------------------------------------------------------------------------------

def _readelf_relocations(path: Path) -> Counter[tuple[int, str]]:
    out = subprocess.run(["readelf", "-rW", str(path)], capture_output=True, text=True,
                         check=True).stdout
    rows: Counter[tuple[int, str]] = Counter()
    for line in out.splitlines():
        m = re.match(r"^([0-9a-f]{8,16})\s+[0-9a-f]+\s+(R_\w+)", line)
        if m:
            rows[(int(m.group(1), 16), m.group(2))] += 1
    return rows


@pytest.mark.parametrize("name", ["ptrs-glibc-amd64-dynamic", "ptrs-glibc-arm-dynamic",
                                  "ptrs-glibc-amd64-static-pie", "ptrs-musl-arm-static-pie",
                                  "hello-1.27-amd64-pie-stripped",
                                  "hello-1.27-arm7-pie-stripped"])
def test_relocs_lists_what_readelf_lists(name: str) -> None:
    if not shutil.which("readelf"):
        pytest.skip("readelf (binutils) is not installed")
    run = elftrace("relocs", "--json", "--base", "0x10000000", f"bins/{name}")
    assert run.returncode == 0, run.stderr
    listing = json.loads(run.stdout)
    ours = Counter((r["offset"], r["type"]) for r in listing["relocations"])
    assert ours == _readelf_relocations(BINS / name)
    bias = listing["bias"]
    for r in listing["relocations"]:
        assert r["address"] == r["offset"] + bias
        if r["type"].endswith("_RELATIVE"):
            assert r["value"] == (r["addend"] + bias) & ((1 << (8 * r["size"])) - 1)


def test_relocs_table() -> None:
    run = elftrace("relocs", "bins/ptrs-glibc-arm-dynamic")
    text = run.stdout.decode()
    assert run.returncode == 0
    assert "R_ARM_JUMP_SLOT" in text and "malloc" in text and "from a shared library" in text
    assert "REL entry: the addend is the word already at the target" in text


@pytest.mark.parametrize("name", PIES)
def test_verify_passes_on_every_pie(name: str) -> None:
    if "-arm" in name:
        needs_arm_sysroot("arm")
    run = elftrace("relocs", "--verify", "--json", f"bins/{name}")
    result = json.loads(run.stdout)
    assert run.returncode == 0, result["mismatches"]
    assert result["ok"] and result["checked"] > 0 and not result["mismatches"]
    # Outside relocation targets, ld.so writes only its own .dynamic bookkeeping (and a
    # static-pie's start-up code its libc globals): nothing may be left unexplained for a
    # program stopped right after ld.so.
    if read_elf(BINS / name).interp:
        dynamic = [(p.vaddr, p.vaddr + p.memsz) for p in read_elf(BINS / name).phdrs
                   if p.type == 2]
        assert dynamic
        lo, hi = dynamic[0]
        bias = result["base"] - min(p.vaddr for p in read_elf(BINS / name).loads) // 4096 * 4096
        for diff in result["other_differences"]:
            assert lo + bias <= diff["address"] < hi + bias


def test_verify_catches_a_wrongly_relocated_word() -> None:
    from emulator.relocs import verify

    path = str(BINS / "hello-1.27-amd64-pie-stripped")
    listing = json.loads(elftrace("relocs", "--json", path).stdout)
    target = listing["relocations"][100]["offset"]
    result = verify(path, perturb=target)
    assert not result.ok
    assert [(m.offset, m.type) for m in result.mismatches] == [(target,
                                                                "R_X86_64_RELATIVE")]
    mismatch = result.mismatches[0]
    assert mismatch.expected == mismatch.actual ^ 1


def test_verify_reports_a_mismatch_with_exit_status_1(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    import emulator.relocs as relocs
    import emulator.relocs_cli as relocs_cli
    from emulator.cli import build_parser

    real = relocs.verify
    path = str(BINS / "ptrs-glibc-amd64-dynamic")
    offset = json.loads(elftrace("relocs", "--json", path).stdout)["relocations"][0]["offset"]
    monkeypatch.setattr(relocs_cli, "verify",
                        lambda *a, **k: real(*a, **k, perturb=offset))
    status = relocs_cli.relocs_command(build_parser().parse_args(["relocs", "--verify", path]))
    out = capsys.readouterr().out
    assert status == 1
    assert "1 mismatches" in out and "FAILED" in out and f"{offset:#x}" in out


# --ltrace ----------------------------------------------------------------------------------

def test_ltrace_of_a_c_program_matches_ltrace() -> None:
    name = "ptrs-glibc-amd64-dynamic"
    got = elftrace("trace", "--ltrace", "-e", "trace=none", f"bins/{name}").stderr.decode()
    ours = re.findall(r"^(\w+)@libc\.so\.6\(", got, re.M)
    assert "printf" in ours
    if not shutil.which("ltrace") or platform.machine() != "x86_64":
        pytest.skip("ltrace is not installed: compared only with the calls the program makes")
    real = subprocess.run(["ltrace", str(BINS / name)], capture_output=True, text=True,
                          timeout=TIMEOUT, check=False).stderr
    theirs = re.findall(r"^(\w+)\(", real, re.M)
    assert ours == theirs  # strcmp is a GNU IFUNC, bound lazily: seen through its resolver


def test_ltrace_counts_a_cgo_programs_library_calls() -> None:
    run = elftrace("trace", "-f", "-c", "--ltrace", "bins/cgonet-1.27-amd64-cgo-stripped")
    text = run.stderr.decode()
    table = text[text.index("library calls"):]
    for function in ("malloc", "pthread_create", "sigaction"):
        assert re.search(rf"\d+ │ {function}\s", table), function

"""Guest faults and elftrace's limits end a run as the real kernel would.

Each fault program runs under elftrace and under the oracle (natively for x86-64,
``qemu-arm`` for ARM when installed): the exit status a shell sees must match the
recorded expectation in both. Limits (``--timeout``, ``--max-memory``,
``--max-threads``) end the run with the status and the one-line report they promise.
The machine code was produced by GNU as / arm-linux-gnueabihf-as from the assembly
written next to each program.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.elfbuild import EM_ARM, EM_X86_64, static_elf, write_exe

ROOT = Path(__file__).resolve().parents[2]
RW, RWX = 6, 7  # PT_GNU_STACK flags

# mov eax, 0x12340000; jmp rax
X86_JUMP_UNMAPPED = "b800003412ffe0"
# ldr r0, =0x12340000; bx r0
ARM_JUMP_UNMAPPED = "00001fe510ff2fe100003412"
# ud2 / udf #0
X86_UNDEFINED = "0f0b"
ARM_UNDEFINED = "f000f0e7"
# 1: push rax; jmp 1b   /   1: push {r0}; b 1b
X86_STACK_OVERFLOW = "50ebfd"
ARM_STACK_OVERFLOW = "04002de5fdffffea"
# Copy "exit(42)" onto the stack and jump there: x86-64: lea rsi, [rip + code]; mov ecx,
# 12; sub rsp, 64; mov rdi, rsp; rep movsb; jmp rsp; code: mov edi, 42; mov eax, 60;
# syscall.  ARM: adr r1, code; sub sp, sp, #64; three ldr/str pairs; bx sp; code: mov r0,
# #42; mov r7, #1; svc 0.
X86_RUN_STACK = "488d3510000000b90c0000004883ec404889e7f3a4ffe4bf2a000000b83c0000000f05"
ARM_RUN_STACK = ("1c108fe240d04de2002091e500208de5042091e504208de5082091e508208de51dff2fe1"
                 "2a00a0e30170a0e3000000ef")

SIGILL, SIGKILL, SIGSEGV = 4, 9, 11

# (name, machine, code, PT_GNU_STACK flags, exit status on the real machine)
FAULTS = [
    ("jump-unmapped", EM_X86_64, X86_JUMP_UNMAPPED, RW, 128 + SIGSEGV),
    ("jump-unmapped", EM_ARM, ARM_JUMP_UNMAPPED, RW, 128 + SIGSEGV),
    ("undefined-insn", EM_X86_64, X86_UNDEFINED, RW, 128 + SIGILL),
    ("undefined-insn", EM_ARM, ARM_UNDEFINED, RW, 128 + SIGILL),
    ("stack-overflow", EM_X86_64, X86_STACK_OVERFLOW, RW, 128 + SIGSEGV),
    ("stack-overflow", EM_ARM, ARM_STACK_OVERFLOW, RW, 128 + SIGSEGV),
    ("exec-nx-stack", EM_X86_64, X86_RUN_STACK, RW, 128 + SIGSEGV),
    ("exec-nx-stack", EM_ARM, ARM_RUN_STACK, RW, 128 + SIGSEGV),
    ("exec-rwx-stack", EM_X86_64, X86_RUN_STACK, RWX, 42),
    ("exec-rwx-stack", EM_ARM, ARM_RUN_STACK, RWX, 42),
    # Without PT_GNU_STACK, x86-64 (Linux >= 5.8) keeps the stack non-executable; ARM
    # makes it executable (arch/arm/kernel/elf.c).
    ("exec-default-stack", EM_X86_64, X86_RUN_STACK, None, 128 + SIGSEGV),
    ("exec-default-stack", EM_ARM, ARM_RUN_STACK, None, 42),
]

# 1: clone(CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM, stack 0); child (0): pause forever;
# parent: again while it succeeds; on failure write "done\n" and exit_group(0).
X86_THREAD_BOMB = ("b838000000bf000f050031f631d24531d24531c00f054885c074237fe3b801000000bf01"
                   "000000488d3519000000ba050000000f05b8e700000031ff0f05b8220000000f05ebf764"
                   "6f6e650a")
# 1: mmap(NULL, 1 GiB, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) until it
# fails; then write "done\n" and exit(0).
X86_MMAP_BOMB = ("4d31e4b80900000031ff48c7c600000040ba0300000041ba2200000049c7c0ffffffff4531"
                 "c90f05483d00f0ffff770549ffc4ebceb801000000bf01000000488d3513000000ba0500"
                 "00000f05b83c000000bf000000000f05646f6e650a")
X86_SPIN = "ebfe"  # jmp .
# push 0; push 1000; mov rdi, rsp; xor esi, esi; mov eax, 35 (nanosleep); syscall; exit(0)
X86_SLEEP = "6a0068e80300004889e731f6b8230000000f05b83c00000031ff0f05"


def elftrace(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "emulator", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, check=False,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})


def oracle(path: Path, machine: int) -> subprocess.CompletedProcess[str] | None:
    """The real machine: the program itself on x86-64, qemu-arm for ARM (None if absent)."""
    if machine == EM_X86_64:
        command = [str(path)]
    elif shutil.which("qemu-arm"):
        command = ["qemu-arm", str(path)]
    else:
        return None
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def build(tmp_path: Path, name: str, code: str, machine: int = EM_X86_64,
          gnu_stack: int | None = RW) -> Path:
    return write_exe(tmp_path, name, static_elf(bytes.fromhex(code), machine=machine,
                                                gnu_stack=gnu_stack))


def shell_status(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


@pytest.mark.parametrize(("name", "machine", "code", "gnu_stack", "status"), FAULTS,
                         ids=[f"{f[0]}-{'arm' if f[1] == EM_ARM else 'x86_64'}"
                              for f in FAULTS])
def test_fault_ends_as_on_the_real_machine(tmp_path: Path, name: str, machine: int,
                                           code: str, gnu_stack: int | None,
                                           status: int) -> None:
    path = build(tmp_path, name, code, machine, gnu_stack)
    real = oracle(path, machine)
    if real is not None:
        assert shell_status(real.returncode) == status, real.stderr
    result = elftrace("run", str(path))
    assert result.returncode == status, result.stderr
    if status > 128:
        first, *rest = result.stderr.splitlines()
        signal_name = {SIGSEGV: "SIGSEGV", SIGILL: "SIGILL"}[status - 128]
        assert first.startswith(f"elftrace: {path}: killed by {signal_name}")
        assert rest and rest[0].lstrip().startswith("0  0x"), result.stderr  # the stack


def test_timeout_kills_a_spinning_guest(tmp_path: Path) -> None:
    path = build(tmp_path, "spin", X86_SPIN)
    trace = tmp_path / "trace.txt"
    result = elftrace("trace", "-o", str(trace), "--timeout", "1", str(path))
    assert result.returncode == 128 + SIGKILL
    assert result.stderr.strip() == f"elftrace: {path}: --timeout 1s reached: killed with SIGKILL"
    # The trace is complete up to the end.
    assert trace.read_text().splitlines()[-1] == "+++ killed by SIGKILL +++"


def test_timeout_kills_a_sleeping_guest(tmp_path: Path) -> None:
    path = build(tmp_path, "sleep", X86_SLEEP)
    result = elftrace("run", "--timeout", "0.5", str(path))
    assert result.returncode == 128 + SIGKILL
    assert "--timeout 0.5s reached" in result.stderr


def test_timeout_leaves_a_quick_guest_alone() -> None:
    result = elftrace("run", "--timeout", "600", str(ROOT / "bins/hello-1.27-amd64-static"))
    assert (result.returncode, result.stdout, result.stderr) == (0, "hello world\n", "")


def test_unbounded_mmap_ends_in_enomem(tmp_path: Path) -> None:
    """The real kernel runs out of address space after 131071 GiB and says ENOMEM; under
    elftrace the memory limit does, and the program carries on as it would."""
    path = build(tmp_path, "mmap-bomb", X86_MMAP_BOMB)
    real = oracle(path, EM_X86_64)
    assert real is not None and (real.returncode, real.stdout) == (0, "done\n")
    result = elftrace("trace", "-e", "trace=mmap", "--max-memory", "4G", str(path))
    assert (result.returncode, result.stdout) == (0, "done\n")
    assert "= -1 ENOMEM (Cannot allocate memory) /* --max-memory 4 GiB reached */" \
        in result.stderr
    # 3 GiB fit with the stack and the image; the fourth GiB does not.
    assert result.stderr.count("= 0x") == 3
    assert result.stderr.strip().endswith(
        "elftrace: the memory limit (4 GiB, --max-memory) refused a mapping with ENOMEM once")


def test_default_memory_limit_bounds_unbounded_mmap(tmp_path: Path) -> None:
    path = build(tmp_path, "mmap-bomb", X86_MMAP_BOMB)
    result = elftrace("run", str(path))
    assert (result.returncode, result.stdout) == (0, "done\n")
    assert "--max-memory" in result.stderr


def test_go_program_under_a_memory_limit_fails_to_allocate() -> None:
    """Go's runtime sees ENOMEM from mmap and reports it; elftrace says which limit."""
    result = elftrace("run", "--max-memory", "24M", str(ROOT / "bins/hello-1.27-amd64-static"))
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("fatal error: out of memory")
    assert "the memory limit (24 MiB, --max-memory) refused" in result.stderr


def test_memory_limit_too_small_to_start_is_a_clean_refusal() -> None:
    hello = str(ROOT / "bins/hello-1.27-amd64-static")
    result = elftrace("run", "--max-memory", "4M", hello)
    assert result.returncode == 126
    assert result.stderr.startswith(f"elftrace: {hello}: cannot map")
    assert "--max-memory 4 MiB reached" in result.stderr


def test_thread_bomb_ends_in_eagain(tmp_path: Path) -> None:
    path = build(tmp_path, "thread-bomb", X86_THREAD_BOMB)
    result = elftrace("trace", "-e", "trace=clone", "--max-threads", "40", str(path))
    assert (result.returncode, result.stdout) == (0, "done\n")
    lines = result.stderr.splitlines()
    assert sum(1 for line in lines if line.startswith("clone(") and "= -1" not in line) == 39
    assert "= -1 EAGAIN (Resource temporarily unavailable) /* thread limit (40) reached */" \
        in result.stderr


# The main thread clones a thread that waits on a futex (no timeout), sleeps 20 ms,
# wakes it and spins; the woken thread writes "ok\n" and exit_group(0). The spinning
# thread's slice began with nothing else runnable: it must still end.
X86_WAKE_THEN_SPIN = ("4883ec1048c70424000000004889e3488db4240000ffffb838000000bf000f050031d2"
                      "4531d24531c00f054885c0742f68002d31016a004889e731f6b8230000000f05c70301"
                      "0000004889dfbe81000000ba01000000b8ca0000000f05ebfe4889dfbe800000003"
                      "1d24531d2b8ca0000000f05b801000000bf01000000488d3510000000ba030000000f"
                      "05b8e700000031ff0f056f6b0a")


def test_a_thread_woken_by_a_spinning_thread_gets_to_run(tmp_path: Path) -> None:
    path = build(tmp_path, "wake-then-spin", X86_WAKE_THEN_SPIN)
    real = oracle(path, EM_X86_64)
    assert real is not None and (real.returncode, real.stdout) == (0, "ok\n")
    result = elftrace("run", "--timeout", "60", str(path))
    assert (result.returncode, result.stdout) == (0, "ok\n"), result.stderr


@pytest.mark.parametrize("value", ["0", "-1", "nan", "soon"])
def test_timeout_must_be_positive(value: str) -> None:
    result = elftrace("run", "--timeout", value, "/bin/true")
    assert result.returncode == 2 and "--timeout" in result.stderr

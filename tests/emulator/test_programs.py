"""The emulator on tiny programs: each architecture's syscall ABI, ENOSYS for unknown
calls, ARM kernel helpers and private syscalls, Thumb entry, CPU faults becoming the
signals Linux sends (with the exit status a shell sees), and deadlock detection."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.elfbuild import EM_386, EM_AARCH64, EM_ARM, arm, static_elf, write_exe

ROOT = Path(__file__).resolve().parents[2]


def elftrace(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "emulator", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, check=False,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})


# mov eax, 1000; syscall; mov edi, eax; mov eax, 60; syscall
X86_UNKNOWN = bytes.fromhex("b8e80300000f0589c7b83c0000000f05")
# mov rax, [0]
X86_SEGV = bytes.fromhex("488b042500000000")
# ud2
X86_ILL = bytes.fromhex("0f0b")
# xor ecx, ecx; mov eax, 1; cdq; div ecx
X86_DIV = bytes.fromhex("31c9b80100000099f7f1")
# push 0; mov rdi, rsp; 1: mov esi, 128; xor edx, edx; xor r10d, r10d; mov eax, 202; syscall;
# jmp 1b   (futex wait on a zero word, forever)
X86_DEADLOCK = bytes.fromhex("6a004889e7be8000000031d24531d2b8ca0000000f05ebed")
# call 1f; .ascii "hello\n"; 1: pop rsi; mov edi, 1; mov edx, 6; mov eax, 1; syscall;
# xor edi, edi; mov eax, 231; syscall
X86_WRITE = bytes.fromhex("e80600000068656c6c6f0a5ebf01000000ba06000000b8010000000f0531ff"
                          "b8e70000000f05")

ARM_UNKNOWN = arm(0xE3A07FFA, 0xEF000000, 0xE3A07001, 0xEF000000)  # r7=1000; svc; exit(r0)
# r0 = 42; set_tls (r7 = 0xf0005); r0 = 0; blx __kuser_get_tls (0xffff0fe0); exit(r0)
ARM_TLS = arm(0xE3A0002A, 0xE3007005, 0xE340700F, 0xEF000000, 0xE3A00000, 0xE3E03A0F,
              0xE243301F, 0xE12FFF33, 0xE3A07001, 0xEF000000)
ARM_YIELD = arm(0xE320F001, 0xE320F001, 0xE3A00003, 0xE3A07001, 0xEF000000)  # exit(3)
ARM_UDF = arm(0xE7F000F0)
ARM_SEGV = arm(0xE3A00000, 0xE5900000)  # mov r0, #0; ldr r0, [r0]
# r0 = this code; r1 = r0 + 64; r2 = 0; cacheflush (r7 = 0xf0002); exit(r0)
ARM_CACHEFLUSH = arm(0xE24F0008, 0xE2801040, 0xE3A02000, 0xE3007002, 0xE340700F, 0xEF000000,
                     0xE3A07001, 0xEF000000)
THUMB_EXIT42 = bytes.fromhex("2a200127" "00df00bf")  # movs r0, #42; movs r7, #1; svc 0


@pytest.fixture
def exe(tmp_path: Path):  # type: ignore[no-untyped-def]
    def make(code: bytes, **kwargs: object) -> str:
        return str(write_exe(tmp_path, "prog", static_elf(code, **kwargs)))  # type: ignore[arg-type]

    return make


def test_x86_64_write_and_exit_group(exe) -> None:  # type: ignore[no-untyped-def]
    result = elftrace("trace", exe(X86_WRITE))
    assert result.returncode == 0
    assert result.stdout == "hello\n"
    assert 'write(1, "hello\\n", 6)' in result.stderr
    assert "exit_group(0)" in result.stderr and "+++ exited with 0 +++" in result.stderr


@pytest.mark.parametrize("code,machine", [(X86_UNKNOWN, 62), (ARM_UNKNOWN, EM_ARM)])
def test_unknown_syscall_is_enosys_and_reported(exe, code: bytes, machine: int) -> None:  # type: ignore[no-untyped-def]
    result = elftrace("trace", exe(code, machine=machine))
    assert result.returncode == (-38) & 0xFF  # the program exits with the result: -ENOSYS
    assert "syscall_0x3e8(" in result.stderr
    assert "= -1 ENOSYS (Function not implemented)" in result.stderr
    assert "not implemented by elftrace" in result.stderr


def test_arm_set_tls_and_kuser_get_tls(exe) -> None:  # type: ignore[no-untyped-def]
    result = elftrace("trace", exe(ARM_TLS, machine=EM_ARM))
    assert "set_tls(0x2a)" in result.stderr
    assert result.returncode == 42


def test_arm_yield_is_a_hint(exe) -> None:  # type: ignore[no-untyped-def]
    assert elftrace("run", exe(ARM_YIELD, machine=EM_ARM)).returncode == 3


def test_arm_cacheflush(exe) -> None:  # type: ignore[no-untyped-def]
    result = elftrace("trace", exe(ARM_CACHEFLUSH, machine=EM_ARM))
    assert result.returncode == 0, result.stderr
    assert "cacheflush(" in result.stderr


def test_thumb_entry_point(exe) -> None:  # type: ignore[no-untyped-def]
    assert elftrace("run", exe(THUMB_EXIT42, machine=EM_ARM, thumb=True)).returncode == 42


@pytest.mark.parametrize("code,machine,signo,name", [
    (X86_SEGV, 62, 11, "SIGSEGV"),
    (X86_ILL, 62, 4, "SIGILL"),
    (X86_DIV, 62, 8, "SIGFPE"),
    (ARM_SEGV, EM_ARM, 11, "SIGSEGV"),
    (ARM_UDF, EM_ARM, 4, "SIGILL"),
])
def test_fault_kills_like_linux(exe, code: bytes, machine: int, signo: int, name: str) -> None:  # type: ignore[no-untyped-def]
    result = elftrace("trace", exe(code, machine=machine))
    assert result.returncode == 128 + signo
    assert f"killed by {name}" in result.stderr
    assert f"+++ killed by {name} (core dumped) +++" in result.stderr
    # One line says what happened; the stack follows (here: no symbols to name it).
    lines = result.stderr.strip().splitlines()
    report = [i for i, line in enumerate(lines) if line.startswith("elftrace: ")]
    assert len(report) == 1 and "core dumped" in lines[report[0]]
    assert lines[report[0] + 1].startswith(" 0  0x")


def test_segv_reports_address_and_code(exe) -> None:  # type: ignore[no-untyped-def]
    result = elftrace("trace", exe(X86_SEGV))
    assert "--- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=NULL} ---" in result.stderr


def test_deadlock_is_a_clear_error(exe) -> None:  # type: ignore[no-untyped-def]
    result = elftrace("run", exe(X86_DEADLOCK), timeout=30)
    assert result.returncode == 125
    assert "deadlock" in result.stderr and "futex" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# 1: mov eax, 34 (pause); syscall; jmp 1b
X86_PAUSE = bytes.fromhex("b8220000000f05ebf7")
X86_SPIN = bytes.fromhex("ebfe")  # jmp .


def _wait_for_handlers(pid: int, timeout: float = 60.0) -> None:
    """Until elftrace forwards host signals (its SIGPIPE handler, installed last, shows in
    SigCgt), so that a slow start on a busy machine is not mistaken for a lost signal."""
    signo = 13
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("SigCgt:") and int(line.split()[1], 16) >> (signo - 1) & 1:
                    return
        time.sleep(0.05)
    raise AssertionError(f"elftrace never installed a handler for signal {signo}")


@pytest.mark.parametrize("code,signo", [(X86_PAUSE, 15), (X86_SPIN, 2)])
def test_host_signal_reaches_the_guest(exe, code: bytes, signo: int) -> None:  # type: ignore[no-untyped-def]
    """A signal sent to elftrace is the guest's: here its default action kills it, even
    while it spins without syscalls, and elftrace exits as the shell would see it."""
    import os
    import signal
    import time

    proc = subprocess.Popen([sys.executable, "-m", "emulator", "run", exe(code)], cwd=ROOT,
                            stderr=subprocess.PIPE, text=True,
                            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    _wait_for_handlers(proc.pid)
    time.sleep(0.2)
    os.kill(proc.pid, signo)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signo, err
    assert signal.Signals(signo).name in err


# data/handler_then_writes.s: a SIGTERM handler that exits 42, "R" on stderr once it is
# installed, then one-byte writes to stdout for ever (the write lane answers them).
X86_HANDLER_THEN_WRITES = bytes.fromhex(
    "4883ec40488d056b0000004889042448c744240800000004488d0563000000488944241048c744241800"
    "000000bf0f0000004889e631d241ba08000000b80d0000000f05bf02000000488d3539000000ba010000"
    "00b8010000000f05bf01000000488d3522000000ba01000000b8010000000f05ebe6bf2a000000b8e700"
    "00000f05b80f0000000f05522e")


def test_signals_keep_reaching_a_guest_after_an_ignored_one(exe) -> None:  # type: ignore[no-untyped-def]
    """A host signal ends the slice whether or not one is armed; that request must not
    outlive the slice, or every later slice stops at its first block and the guest (here:
    one thread, no timers) never runs again, its SIGTERM handler included."""
    import signal
    import time

    proc = subprocess.Popen([sys.executable, "-m", "emulator", "run",
                             exe(X86_HANDLER_THEN_WRITES)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert proc.stderr is not None and proc.stderr.read(1) == b"R"
    _wait_for_handlers(proc.pid)
    proc.send_signal(signal.SIGWINCH)  # default action: ignore
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(timeout=30) == 42
    finally:
        proc.kill()
        proc.stderr.close()


# AArch64: x8 = 1000; svc; x8 = 93 (exit); svc — exits with the result.
A64_UNKNOWN = arm(0xD2807D08, 0xD4000001, 0xD2800BA8, 0xD4000001)
A64_SEGV = arm(0xD2800000, 0xF9400000)  # mov x0, #0; ldr x0, [x0]
# i386: eax = 1000; int 0x80; ebx = eax; eax = 1 (exit); int 0x80.
I386_UNKNOWN = bytes.fromhex("b8e8030000cd8089c3b801000000cd80")
# push 42; set_thread_area({entry -1, base = &42, limit 0xfffff, seg_32bit, limit_in_pages,
# useable}); gs = entry * 8 + 3; exit(gs:[0])
I386_TLS = bytes.fromhex("6a2a89e183ec10c70424ffffffff894c2404c7442408ffff0f00c744240c51000000"
                         "89e3b8f3000000cd808b0424c1e00383c8038ee8658b1d00000000b801000000cd80")
I386_SEGV = bytes.fromhex("a100000000")  # mov eax, [0]


@pytest.mark.parametrize("code,machine", [(A64_UNKNOWN, EM_AARCH64), (I386_UNKNOWN, EM_386)])
def test_unknown_syscall_is_enosys_on_aarch64_and_i386(exe, code: bytes, machine: int) -> None:  # type: ignore[no-untyped-def]
    result = elftrace("trace", exe(code, machine=machine))
    assert result.returncode == (-38) & 0xFF
    assert "= -1 ENOSYS (Function not implemented)" in result.stderr
    assert "not implemented by elftrace" in result.stderr


def test_i386_set_thread_area_and_gs(exe) -> None:  # type: ignore[no-untyped-def]
    path = exe(I386_TLS, machine=EM_386)
    result = elftrace("trace", path)
    assert result.returncode == 42, result.stderr
    assert "set_thread_area(" in result.stderr
    # The real kernel (an x86-64 one runs i386 code) agrees: slot 12, then exit 42.
    native = subprocess.run([path], capture_output=True, timeout=60, check=False)
    assert native.returncode == 42


@pytest.mark.parametrize("code,machine", [(A64_SEGV, EM_AARCH64), (I386_SEGV, EM_386)])
def test_fault_kills_with_sigsegv_on_aarch64_and_i386(exe, code: bytes, machine: int) -> None:  # type: ignore[no-untyped-def]
    result = elftrace("run", exe(code, machine=machine))
    assert result.returncode == 128 + 11
    assert "killed by SIGSEGV" in result.stderr


# uname(buf); write(1, buf.machine, 6); exit(0)
I386_UNAME = bytes.fromhex("81ec9001000089e3b87a000000cd808d8c2404010000bb01000000ba06000000"
                           "b804000000cd8031dbb801000000cd80")


def test_i386_uname_machine_is_what_the_x86_64_kernel_says(exe) -> None:  # type: ignore[no-untyped-def]
    path = exe(I386_UNAME, machine=EM_386)
    native = subprocess.run([path], capture_output=True, timeout=60, check=False)
    result = elftrace("run", path)
    assert result.returncode == 0
    assert result.stdout.encode() == native.stdout == b"x86_64"

"""Page permissions come from elftrace's TLB hook (emulator/cpu.py:
Cpu.use_page_permissions), not from Unicorn's own checks: every refused access must
still be the SIGSEGV Linux delivers, with the exact faulting address (the hook only
sees the page), the right si_code, and permissions that follow mprotect and munmap.
Code written into a writable and executable page must run as written.

The x86-64 programs are compared with the same file run natively under strace; the ARM
ones with what the architecture defines (their faulting addresses are constants). Both
with the host-code fill hook (x86-64 hosts) and with every fill made in Python.
"""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.elfbuild import EM_ARM, static_elf, write_exe

ROOT = Path(__file__).resolve().parents[2]

_MMAP = "b80900000031ffbe00100000ba{prot:02x}00000041ba2200000049c7c0ffffffff4531c90f054889c3"
"""mmap(NULL, 4096, prot, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0); rbx = the page."""

X86_64 = {
    # mov rax, [0x10000123]
    "read-unmapped": "488b042523010010",
    # mov [0x400f21], eax: the program's own R+X page
    "write-readonly": "890425210f4000",
    # jmp to page + 0x10 of a fresh RW page
    "fetch-nx": _MMAP.format(prot=3) + "488d4310ffe0",
    # read the PROT_READ page, mprotect(PROT_NONE), read page + 0x38
    "read-after-prot-none": _MMAP.format(prot=1)
    + "488b4b30b80a0000004889dfbe0010000031d20f05488b4b38",
    # store to the RW page, mprotect(PROT_READ), store to page + 0x48
    "write-after-prot-read": _MMAP.format(prot=3)
    + "48c7434001000000b80a0000004889dfbe00100000ba010000000f0548c7434802000000",
    # store to the RW page, munmap it, read page + 0x58
    "read-after-munmap": _MMAP.format(prot=3)
    + "48c7435001000000b80b0000004889dfbe001000000f05488b4b58",
    # RWX page: write "mov eax, 7; ret", call it, patch the 7 to 9, call it again,
    # exit(first * 8 + second) = 65 only if the patched code ran
    "self-modifying": _MMAP.format(prot=7)
    + "c703b807000066c7430400c3ffd34989c4c6430109ffd34a8d3ce0b83c0000000f05",
    # A JIT's W^X dance on a RW page: write "mov eax, 7; ret", mprotect(R+X), call it;
    # mprotect(RW), patch the 7 to 9, mprotect(R+X), call again: exit(7 * 8 + 9)
    "patched-between-mprotects": _MMAP.format(prot=3)
    + "c703b807000066c7430400c3b80a0000004889dfbe00100000ba050000000f05ffd34989c4"
    + "b80a0000004889dfbe00100000ba030000000f05c6430109b80a0000004889dfbe00100000"
    + "ba050000000f05ffd34a8d3ce0b83c0000000f05",
}

ARM = {
    # movw/movt r0, 0x10000123; ldrb r1, [r0]
    "read-unmapped": ("230100e3000041e30010d0e5", "SEGV_MAPERR", 0x10000123),
    # r0 = 0x10f21 (the program's own R+X page); strb r1, [r0]
    "write-readonly": ("210f00e3010040e30010c0e5", "SEGV_ACCERR", 0x10f21),
    # r0 = 0x10000100; ldr r1, [r0, #0x24]
    "read-offset": ("000100e3000041e3241090e5", "SEGV_MAPERR", 0x10000124),
}

SIGSEGV_LINE = re.compile(r"--- SIGSEGV \{si_signo=SIGSEGV, si_code=(\w+), si_addr=(0x[0-9a-f]+)\}")
MMAP_RESULT = re.compile(r"^mmap\(.*\) = (0x[0-9a-f]+)$", re.M)


PYTHON_FILLS = ("import emulator.cpu as c; c._FILL_STUBS.clear(); "
                "from emulator.cli import main; raise SystemExit(main())")
"""elftrace with every TLB fill made by the Python hook (no host-code hook)."""


def elftrace_trace(path: Path, fills: str = "native") -> subprocess.CompletedProcess[str]:
    start = ["-m", "emulator"] if fills == "native" else ["-c", PYTHON_FILLS]
    return subprocess.run([sys.executable, *start, "trace", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)


def fault_of(trace: str) -> tuple[str, int] | None:
    """(si_code, si_addr relative to the program's mmap result if it made one)."""
    match = SIGSEGV_LINE.search(trace)
    if match is None:
        return None
    address = int(match.group(2), 16)
    mapped = MMAP_RESULT.search(trace)
    if mapped is not None:
        address -= int(mapped.group(1), 16)
    return match.group(1), address


@pytest.mark.skipif(platform.machine() != "x86_64" or not shutil.which("strace"),
                    reason="needs an x86-64 host with strace")
@pytest.mark.parametrize("fills", ["native", "python"])
@pytest.mark.parametrize("name", sorted(X86_64))
def test_x86_64_faults_match_linux(tmp_path: Path, name: str, fills: str) -> None:
    path = write_exe(tmp_path, name, static_elf(bytes.fromhex(X86_64[name])))
    native = subprocess.run(["strace", str(path)], capture_output=True, text=True,
                            timeout=60, check=False)
    ours = elftrace_trace(path, fills)
    assert ours.returncode == (native.returncode if native.returncode >= 0
                               else 128 - native.returncode), ours.stderr
    assert fault_of(ours.stderr) == fault_of(native.stderr), ours.stderr + native.stderr


@pytest.mark.parametrize("fills", ["native", "python"])
@pytest.mark.parametrize("name", sorted(ARM))
def test_arm_faults_report_the_exact_address(tmp_path: Path, name: str, fills: str) -> None:
    code, si_code, address = ARM[name]
    path = write_exe(tmp_path, name, static_elf(bytes.fromhex(code), machine=EM_ARM))
    ours = elftrace_trace(path, fills)
    assert ours.returncode == 128 + 11, ours.stderr
    assert fault_of(ours.stderr) == (si_code, address), ours.stderr


def test_pinpointing_leaves_the_registers_as_they_were(tmp_path: Path) -> None:
    """The faulting instruction is run a second time to find the exact address: a Go
    handler must then see the registers of the first attempt (the nil-pointer panic
    golden tests check the whole runtime report; this checks the raw state)."""
    from unicorn.x86_const import UC_X86_REG_RAX, UC_X86_REG_RBX, UC_X86_REG_RIP

    from emulator.machine import Machine

    # mov ebx, 5; mov rax, [0x10000123]: rbx must stay 5, rax 0, rip on the load
    code = bytes.fromhex("bb05000000" + "488b042523010010")
    image = static_elf(code)
    entry = int.from_bytes(image[24:32], "little")
    path = str(write_exe(tmp_path, "regs", image))
    machine = Machine(path, [path])
    seen: list[tuple[int, int, int]] = []
    original = machine._fault

    def record(task: object, error: object) -> None:
        original(task, error)  # type: ignore[arg-type]  (pinpoints the fault)
        cpu = machine.cpu
        seen.append((cpu.reg(UC_X86_REG_RAX), cpu.reg(UC_X86_REG_RBX),
                     cpu.reg(UC_X86_REG_RIP)))
        assert cpu.fault is not None and cpu.fault.address == 0x10000123

    machine._fault = record  # type: ignore[method-assign]
    machine.run()
    assert seen == [(0, 5, entry + 5)]


@pytest.mark.parametrize("machine", [62, EM_ARM, 183, 3], ids=["x86_64", "arm", "aarch64", "i386"])
def test_engine_pages_are_linux_pages(tmp_path: Path, machine: int) -> None:
    """Unicorn's ARM targets default to 1 KiB pages: four times the TLB fills and a
    quarter of the TLB's reach. Every guest runs with Linux's 4 KiB."""
    from emulator.machine import Machine

    code = bytes(16)
    path = str(write_exe(tmp_path, "p", static_elf(code, machine=machine)))
    assert Machine(path, [path]).cpu.uc.ctl_get_page_size() == 4096

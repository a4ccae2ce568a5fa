"""emulator.trace.format against the real strace (/usr/bin/strace) as the oracle.

A small Python program issues chosen system calls directly (ctypes ``syscall()``, so
the exact bytes, flags and masks reach the kernel unchanged) while strace traces it;
the text strace prints for each call is compared with what our formatter prints for
the same argument values. Where strace is not installed or cannot trace here, the
tests skip with that reason rather than fall back to hard-coded expectations.
"""

from __future__ import annotations

import errno as errno_mod
import functools
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from emulator.trace.format import (
    FormatContext,
    compile_head,
    format_args,
    format_buffer,
    format_flags,
    format_open_flags,
    format_result,
    quote,
    split_args,
)
from syscalls.abi import X86_64
from syscalls.kernel.memory import GuestMemory, MemoryFault
from syscalls.kernel.signals import format_sigset
from syscalls.spec import SyscallSpec
from syscalls.table import all_specs

STRACE = shutil.which("strace") or ("/usr/bin/strace" if Path("/usr/bin/strace").exists()
                                    else None)
HOST_IS_X86_64 = sys.platform == "linux" and __import__("platform").machine() == "x86_64"
# Markers around the calls under test; short enough to survive -s 8 unabridged.
BEGIN = b"<<B>>"
END = b"<<E>>"

# x86-64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl).
NR_WRITE, NR_MMAP, NR_RT_SIGPROCMASK, NR_OPENAT = 1, 9, 14, 257

# open(2) flags, x86-64 values (asm-generic/fcntl.h; O_DIRECTORY etc. from x86's).
O_RDONLY, O_WRONLY, O_RDWR, O_ACCMODE = 0, 1, 2, 3
O_CREAT, O_EXCL, O_NOCTTY, O_TRUNC = 0o100, 0o200, 0o400, 0o1000
O_APPEND, O_NONBLOCK, O_DSYNC, O_ASYNC = 0o2000, 0o4000, 0o10000, 0o20000
O_DIRECT, O_LARGEFILE, O_DIRECTORY, O_NOFOLLOW = 0o40000, 0o100000, 0o200000, 0o400000
O_NOATIME, O_CLOEXEC, O_SYNC, O_PATH = 0o1000000, 0o2000000, 0o4010000, 0o10000000
O_TMPFILE = 0o20000000 | O_DIRECTORY

PROT_NONE, PROT_READ, PROT_WRITE, PROT_EXEC = 0, 1, 2, 4
PROT_GROWSDOWN = 0x01000000
MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE = 1, 2, 3
MAP_FIXED_NOREPLACE, MAP_ANONYMOUS, MAP_32BIT = 0x100000, 0x20, 0x40
MAP_NORESERVE, MAP_POPULATE, MAP_GROWSDOWN, MAP_STACK = 0x4000, 0x8000, 0x100, 0x20000


def sig(*signos: int) -> int:
    return sum(1 << (s - 1) for s in set(signos))


FULL = (1 << 64) - 1

# Byte strings for write(2); strace's string_quote decides their escapes.
QUOTE_CASES: list[bytes] = [
    b"", b"hello, world", b"a\0b", b"\n\t\r\v\f", b"\x7f", b"\xff", b"\x01" + b"1",
    b"\x01" + b"8", b"\x00" + b"7", b"\x00" + b"9", b"\x0012", b"\x08", b"\x08a", b"\x7f0",
    b"\xff7", b"\x80" + b"0", b"\x1b[0m", b'"quoted" and \\back\\slash', b"\xc3\xa9t\xc3\xa9",
    b"\x00\x00\x00", b"end\x01", b"??=", b"'single'", b"100%", bytes(range(256)),
]
# For -s 8: exact length, one more, much more, and an escape at the cut.
TRUNC_CASES: list[bytes] = [
    b"01234567", b"012345678", b"0123456789" * 10, b"abcdefg\x01" + b"1", b"\x00" * 20,
    b"abc\n" * 5, b"",
]
TRUNC_STRSIZE = 8

# (path kind, flags, mode); kinds are made by the traced program in a scratch directory.
OPEN_CASES: list[tuple[str, int, int]] = [
    ("file", O_RDONLY | O_CLOEXEC, 0),
    ("new1", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644),
    ("dir", O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_DIRECTORY, 0),
    ("missing", O_RDONLY | O_CLOEXEC, 0),
    ("file", O_WRONLY | O_CREAT | O_EXCL, 0o600),
    ("dir", O_WRONLY, 0),
    ("notdir", O_RDONLY, 0),
    ("link", O_RDONLY | O_NOFOLLOW, 0),
    ("file", O_RDWR | O_APPEND | O_NOATIME | O_CLOEXEC, 0),
    ("file", O_PATH | O_CLOEXEC, 0),
    ("file", O_RDONLY | O_LARGEFILE, 0),
    ("dir", O_RDWR | O_TMPFILE, 0o600),
    ("new2", O_WRONLY | O_CREAT | O_CLOEXEC, 0),
    ("new3", O_RDWR | O_CREAT | O_DSYNC, 0o4755),
    ("file", O_RDWR | O_SYNC, 0),
    ("file", O_RDONLY | O_NOCTTY | O_ASYNC, 0),
    ("file", O_ACCMODE, 0),
    ("file", O_RDONLY | O_DIRECT, 0),
    ("file", O_RDONLY | 0x40000000, 0),
]

# (addr, length, prot, flags)
MMAP_CASES: list[tuple[int, int, int, int]] = [
    (0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS),
    (0, 8192, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE),
    (0, 4096, PROT_READ | PROT_EXEC, MAP_SHARED | MAP_ANONYMOUS),
    (0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_GROWSDOWN),
    (0x7E0000000000, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE),
    (0x7D0000000000, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS),
    (0, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT),
    (0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE),
    (0, 4096, PROT_READ, MAP_SHARED_VALIDATE | MAP_ANONYMOUS),
    (0, 4096, PROT_READ | PROT_GROWSDOWN, MAP_PRIVATE | MAP_ANONYMOUS),
    (0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | 0x200000),
]

SIGSET_CASES: list[int] = [
    0, FULL, sig(1, 2), FULL & ~sig(9, 19), sig(*range(1, 33)), sig(*range(1, 34)),
    sig(32, 33, 34, 64), sig(10, 11, 17), FULL & ~sig(1), sig(64), sig(*range(32, 65)),
    sig(*range(1, 42)), sig(*range(1, 43)), sig(*range(23, 65)), sig(*range(24, 65)),
]


def sigset_param(index: int) -> object:
    """strace (src/print_sigset... sprintsigmask_n) inverts a 64-bit mask when at least
    2/3 of its 32-bit words' bits are set: popcount >= 2 * 21 = 42."""
    return index

CHILD = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
L = ctypes.c_long
cases = {cases}
scratch = {scratch!r}
os.makedirs(scratch + "/dir", exist_ok=True)
with open(scratch + "/file", "wb") as f:
    f.write(b"x")
if not os.path.lexists(scratch + "/link"):
    os.symlink(scratch + "/file", scratch + "/link")
paths = {{"file": "/file", "dir": "/dir", "missing": "/missing", "link": "/link",
          "notdir": "/file/x", "new1": "/new1", "new2": "/new2", "new3": "/new3"}}
bufs = [ctypes.create_string_buffer(b, len(b)) for b in cases["write"]]
opens = [(ctypes.c_char_p((scratch + paths[k]).encode()), fl, m)
         for k, fl, m in cases["open"]]
masks = [ctypes.c_uint64(m) for m in cases["sigset"]]
zero = ctypes.c_uint64(0)
os.write(1, {begin!r})
for b in bufs:
    libc.syscall(L({nr_write}), L(1), b, L(len(b.raw)))
for path, fl, m in opens:
    fd = libc.syscall(L({nr_openat}), L(-100), path, L(fl), L(m))
    if fd >= 0:
        os.close(fd)
for addr, length, prot, fl in cases["mmap"]:
    libc.syscall(L({nr_mmap}), L(addr), L(length), L(prot), L(fl), L(-1), L(0))
for m in masks:
    libc.syscall(L({nr_sigprocmask}), L(0), ctypes.byref(m), None, L(8))
    libc.syscall(L({nr_sigprocmask}), L(2), ctypes.byref(zero), None, L(8))
os.write(1, {end!r})
"""

LINE = re.compile(r"^(?P<name>\w+)\((?P<args>.*)\) += (?P<result>.*)$")


@dataclass(frozen=True)
class TracedCall:
    name: str
    args: str
    result: str


@functools.cache
def strace_usable() -> str | None:
    """None if strace can trace a child here, else why not."""
    if not HOST_IS_X86_64:
        return "the strace oracle runs natively, which needs an x86-64 Linux host"
    if STRACE is None:
        return "strace is not installed (it is the oracle for these tests)"
    proc = subprocess.run([STRACE, "-qq", "-o", "/dev/null", "-e", "trace=none", "true"],
                          capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 0:
        return f"strace cannot trace here: {proc.stderr.strip()[:200]}"
    return None


def require_strace() -> None:
    reason = strace_usable()
    if reason is not None:
        pytest.skip(reason)


@functools.cache
def traced(strsize: int, write_cases: tuple[bytes, ...], scratch: str) -> list[TracedCall]:
    """Run the child under strace; return the calls between the begin and end markers."""
    assert STRACE is not None
    cases = {"write": list(write_cases),
             "open": OPEN_CASES if strsize != TRUNC_STRSIZE else [],
             "mmap": MMAP_CASES if strsize != TRUNC_STRSIZE else [],
             "sigset": SIGSET_CASES if strsize != TRUNC_STRSIZE else []}
    program = CHILD.format(cases=repr(cases), scratch=scratch, begin=BEGIN, end=END,
                           nr_write=NR_WRITE, nr_openat=NR_OPENAT, nr_mmap=NR_MMAP,
                           nr_sigprocmask=NR_RT_SIGPROCMASK)
    out = Path(scratch) / f"trace-{strsize}.txt"
    subprocess.run([STRACE, "-qq", "-o", str(out), "-s", str(strsize), "-e", "signal=none",
                    "-e", "trace=write,openat,mmap,rt_sigprocmask",
                    sys.executable, "-S", "-c", program],
                   stdout=subprocess.DEVNULL, check=True, timeout=120)
    lines = out.read_text(encoding="latin-1").splitlines()
    begin = next(i for i, s in enumerate(lines) if s.startswith(f'write(1, "{BEGIN.decode()}"'))
    end = next(i for i, s in enumerate(lines) if s.startswith(f'write(1, "{END.decode()}"'))
    calls = []
    for text in lines[begin + 1:end]:
        m = LINE.match(text)
        assert m is not None, f"unparsed strace line: {text!r}"
        calls.append(TracedCall(m["name"], m["args"], m["result"]))
    return calls


@pytest.fixture(scope="module")
def scratch() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="elftrace-fmt-") as d:
        yield d


@pytest.fixture(scope="module")
def main_trace(scratch: str) -> list[TracedCall]:
    require_strace()
    return traced(4096, tuple(QUOTE_CASES), scratch)


@pytest.fixture(scope="module")
def trunc_trace(scratch: str) -> list[TracedCall]:
    require_strace()
    return traced(TRUNC_STRSIZE, tuple(TRUNC_CASES), scratch)


def calls_named(trace: list[TracedCall], name: str) -> list[TracedCall]:
    return [c for c in trace if c.name == name]


# Guest memory for the formatter -----------------------------------------------------------

class FakeRaw:
    """Readable pages at fixed addresses, each holding some data then zeros; else a fault."""

    def __init__(self) -> None:
        self.regions: dict[int, bytes] = {}

    def add(self, addr: int, data: bytes) -> None:
        assert addr % 4096 == 0
        size = max(4096, -(-len(data) // 4096) * 4096)
        self.regions[addr] = data + bytes(size - len(data))

    def read(self, addr: int, size: int) -> bytes:
        for start, data in self.regions.items():
            if start <= addr and addr + size <= start + len(data):
                return data[addr - start:addr - start + size]
        raise MemoryFault(addr, size)

    def write(self, addr: int, data: bytes) -> None:
        raise MemoryFault(addr, len(data))


def context(args: tuple[int, ...], *, strsize: int = 4096, result: int | None = None,
            regions: dict[int, bytes] | None = None) -> FormatContext:
    raw = FakeRaw()
    for addr, data in (regions or {}).items():
        raw.add(addr, data)
    return FormatContext(GuestMemory(raw, 8), X86_64, strsize, args, result)


def spec(name: str) -> SyscallSpec:
    return all_specs()[name]


def parse_result(text: str) -> int:
    """strace's result column back to the raw return value (errno names via Python)."""
    m = re.fullmatch(r"-1 (E[A-Z0-9]+) \(.*\)", text)
    if m:
        return -getattr(errno_mod, m[1])
    return int(text, 0)


BUF = 0x10000


# quote() and -s ---------------------------------------------------------------------------

@pytest.mark.parametrize("index", range(len(QUOTE_CASES)))
def test_quote_matches_strace(main_trace: list[TracedCall], index: int) -> None:
    writes = calls_named(main_trace, "write")
    assert len(writes) == len(QUOTE_CASES)
    data = QUOTE_CASES[index]
    theirs = writes[index].args
    assert theirs == f"1, {quote(data)}, {len(data)}", data


@pytest.mark.parametrize("index", range(len(TRUNC_CASES)))
def test_write_line_with_strsize_matches_strace(trunc_trace: list[TracedCall],
                                                index: int) -> None:
    writes = calls_named(trunc_trace, "write")
    assert len(writes) == len(TRUNC_CASES)
    data = TRUNC_CASES[index]
    fc = context((1, BUF, len(data)), strsize=TRUNC_STRSIZE, result=len(data),
                 regions={BUF: data})
    ours = ", ".join(format_args(spec("write"), fc))
    assert ours == writes[index].args
    assert format_result(spec("write"), fc, len(data)) == writes[index].result


def test_format_buffer_truncation_marker() -> None:
    """The shape, independently of strace: the first -s bytes, then ``...`` outside quotes."""
    data = b"0123456789"
    fc = context((1, BUF, len(data)), strsize=4, regions={BUF: data})
    assert format_buffer(fc, BUF, len(data)) == '"0123"...'
    assert format_buffer(fc, BUF, 4) == '"0123"'


# open flags, modes and error results -------------------------------------------------------

PATH_ADDR = 0x20000


@pytest.mark.parametrize("index", range(len(OPEN_CASES)))
def test_openat_matches_strace(main_trace: list[TracedCall], scratch: str, index: int) -> None:
    opens = calls_named(main_trace, "openat")
    assert len(opens) == len(OPEN_CASES)
    kind, flags, mode = OPEN_CASES[index]
    paths = {"file": "/file", "dir": "/dir", "missing": "/missing", "link": "/link",
             "notdir": "/file/x", "new1": "/new1", "new2": "/new2", "new3": "/new3"}
    path = (scratch + paths[kind]).encode()
    theirs = opens[index]
    result = parse_result(theirs.result)
    fc = context((-100, PATH_ADDR, flags, mode), result=result,
                 regions={PATH_ADDR: path + b"\0"})
    assert ", ".join(format_args(spec("openat"), fc)) == theirs.args
    assert format_result(spec("openat"), fc, result) == theirs.result


def test_open_flag_orders_from_the_brief(main_trace: list[TracedCall]) -> None:
    """The three combinations named in the brief, each checked against strace's text."""
    opens = calls_named(main_trace, "openat")
    wanted = {O_RDONLY | O_CLOEXEC, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
              O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_DIRECTORY}
    seen = 0
    for (_, flags, _), call in zip(OPEN_CASES, opens, strict=True):
        if flags in wanted:
            assert format_open_flags(flags, X86_64) in call.args.split(", ")
            seen += 1
    assert seen >= 3


# mmap prot and flags -------------------------------------------------------------------

@pytest.mark.parametrize("index", range(len(MMAP_CASES)))
def test_mmap_matches_strace(main_trace: list[TracedCall], index: int) -> None:
    mmaps = calls_named(main_trace, "mmap")
    assert len(mmaps) == len(MMAP_CASES)
    addr, length, prot, flags = MMAP_CASES[index]
    theirs = mmaps[index]
    result = parse_result(theirs.result)
    fc = context((addr, length, prot, flags, -1, 0), result=result)
    assert ", ".join(format_args(spec("mmap"), fc)) == theirs.args
    assert format_result(spec("mmap"), fc, result) == theirs.result


def test_prot_flags_table_directly(main_trace: list[TracedCall]) -> None:
    mmaps = calls_named(main_trace, "mmap")
    for (_, _, prot, _), call in zip(MMAP_CASES, mmaps, strict=True):
        their_prot = call.args.split(", ")[2]
        assert format_flags(prot, X86_64.table("prot"), zero="PROT_NONE") == their_prot


# sigsets -------------------------------------------------------------------------------

SET_ADDR = 0x30000


@pytest.mark.parametrize("index", [sigset_param(i) for i in range(len(SIGSET_CASES))])
def test_sigset_matches_strace(main_trace: list[TracedCall], index: int) -> None:
    calls = calls_named(main_trace, "rt_sigprocmask")
    assert len(calls) == 2 * len(SIGSET_CASES)
    block, restore = calls[2 * index], calls[2 * index + 1]
    mask = SIGSET_CASES[index]
    theirs = block.args.split(", ")
    assert theirs[0] == "SIG_BLOCK" and theirs[2:] == ["NULL", "8"]
    assert format_sigset(mask) == theirs[1]
    fc = context((0, SET_ADDR, 0, 8), result=0, regions={SET_ADDR: mask.to_bytes(8, "little")})
    assert ", ".join(format_args(spec("rt_sigprocmask"), fc)) == block.args
    assert format_result(spec("rt_sigprocmask"), fc, 0) == block.result == "0"
    assert restore.args == "SIG_SETMASK, [], NULL, 8"


def test_sigset_cases_cover_the_brief(main_trace: list[TracedCall]) -> None:
    calls = calls_named(main_trace, "rt_sigprocmask")
    printed = {calls[2 * i].args.split(", ")[1] for i in range(len(SIGSET_CASES))}
    assert {"[]", "~[]", "[HUP INT]", "~[KILL STOP]"} <= printed


# results -------------------------------------------------------------------------------

def test_enoent_result_text() -> None:
    fc = context((-100, PATH_ADDR, 0, 0), result=-2)
    assert format_result(spec("openat"), fc, -2) == "-1 ENOENT (No such file or directory)"


def test_error_results_seen_in_strace(main_trace: list[TracedCall]) -> None:
    """The error cases above really produced errors, so the comparison covered them."""
    results = {c.result.split(" ")[1] for c in calls_named(main_trace, "openat")
               if c.result.startswith("-1 ")}
    assert {"ENOENT", "EEXIST", "EISDIR", "ENOTDIR", "ELOOP"} <= results


# The traced path's compiled entry formatter ------------------------------------------------

HEAD_VALUES = (
    (1, BUF, 5, 0, 0, 0),  # a readable buffer, shorter than -s
    (7, BUF, 64, 1, 2, 3),  # longer than -s: truncated
    (0, 0, 5, -1, -2, -3),  # NULL, negative numbers
    (3, BUF, 0, 4, 5, 6),  # a zero-length buffer
    (3, 0x999000, 4, 7, 8, 9),  # an unreadable buffer
    (-100, BUF + 4090, 6, 1 << 40, 0, 0),  # reaching past the readable page
    (2, BUF, 1 << 16, 0, 0, 0),  # lengths are words, not shorts
    (2, BUF, -1, -1, -1, -1),  # and unsigned
)


@pytest.mark.parametrize("strsize", [0, 4, 32])
def test_compiled_heads_format_as_format_args(strsize: int) -> None:
    """compile_head (what strace prints at entry, from the values alone) must equal
    format_args for every spec it accepts: the golden tests only cover the calls their
    programs make."""
    raw = FakeRaw()
    raw.add(BUF, b'hello "world"\n\x00\x01' + bytes(range(32, 127)))
    mem = GuestMemory(raw, 8)
    compiled = 0
    for name, call in sorted(all_specs().items()):
        stop = split_args(call)
        head = compile_head(call, stop, 8, mem, strsize)
        if head is None:
            continue
        compiled += 1
        for values in HEAD_VALUES:
            args = values[:len(call.args)]
            fc = FormatContext(mem, X86_64, strsize, args)
            assert head(args) == ", ".join(format_args(call, fc, 0, stop)), (name, args)
    assert compiled > 50

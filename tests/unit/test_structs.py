"""syscalls.structs packers against the C compilers' layouts of the same structs.

The oracle is tests/unit/data/struct_layouts.json, written by
tests/unit/data/gen_struct_layouts.py from sizeof/offsetof printed by programs built
with gcc (x86-64) and arm-linux-gnueabihf-gcc (ARM EABI, run under qemu-arm). Each
test packs distinct values and reads them back at the C offsets, so a field that is
misplaced, too narrow or too wide shows up as a wrong value, not just a wrong size.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from syscalls import structs
from syscalls.abi import AARCH64, ARM, I386, X86_64, LinuxAbi
from syscalls.kernel.files import StatResult

LAYOUTS_PATH = Path(__file__).resolve().parent / "data" / "struct_layouts.json"
LAYOUTS: dict[str, Any] = json.loads(LAYOUTS_PATH.read_text())
NS = 1_000_000_000

ABIS = {"x86_64": X86_64, "arm": ARM, "aarch64": AARCH64, "i386": I386}
ARCH_PARAMS = pytest.mark.parametrize("arch", list(ABIS))


def layout(arch: str, name: str) -> dict[str, Any]:
    entry: dict[str, Any] = LAYOUTS[arch][name]
    return entry


def field_at(data: bytes, arch: str, struct_name: str, field: str, *,
             signed: bool = False) -> int:
    """The little-endian integer stored where C puts ``struct_name.field``."""
    offset, size = layout(arch, struct_name)["fields"][field]
    assert offset + size <= len(data), f"{struct_name}.{field} lies past the packed bytes"
    return int.from_bytes(data[offset:offset + size], "little", signed=signed)


def test_layouts_file_has_provenance() -> None:
    prov = LAYOUTS["_provenance"]
    assert prov["generator"].endswith("gen_struct_layouts.py")
    assert "gcc" in prov["targets"]["x86_64"]["compiler"]
    assert "arm-linux-gnueabihf-gcc" in prov["targets"]["arm"]["compiler"]


# stat / stat64 --------------------------------------------------------------------------

STAT = StatResult(dev=0x0000_0000_0000_FD01, ino=0x1_2345_6789, mode=0o100644, nlink=0x11,
                  uid=0x2222, gid=0x3333, rdev=0x0000_0001_0000_0405, size=0x7_0000_0001,
                  blksize=0x1234, blocks=0x1_0000_0002,
                  atime_ns=1_700_000_001 * NS + 111, mtime_ns=1_700_000_002 * NS + 222,
                  ctime_ns=1_700_000_003 * NS + 333)


def expected_stat_fields(arch: str) -> tuple[str, dict[str, int]]:
    common = {
        "st_dev": STAT.dev, "st_mode": STAT.mode, "st_nlink": STAT.nlink, "st_uid": STAT.uid,
        "st_gid": STAT.gid, "st_rdev": STAT.rdev, "st_size": STAT.size,
        "st_blksize": STAT.blksize, "st_blocks": STAT.blocks, "st_ino": STAT.ino,
        "st_atime": 1_700_000_001, "st_atime_nsec": 111,
        "st_mtime": 1_700_000_002, "st_mtime_nsec": 222,
        "st_ctime": 1_700_000_003, "st_ctime_nsec": 333,
    }
    if arch in ("x86_64", "aarch64"):
        return "stat", common
    # struct stat64 (ARM, i386) keeps a truncated copy of the inode number in __st_ino.
    return "stat64", {**common, "__st_ino": STAT.ino & 0xFFFF_FFFF}


@ARCH_PARAMS
def test_stat_size_matches_c(arch: str) -> None:
    abi = ABIS[arch]
    name, _ = expected_stat_fields(arch)
    assert structs.stat_size(abi) == layout(arch, name)["size"]
    assert len(structs.pack_stat(abi, STAT)) == layout(arch, name)["size"]


@ARCH_PARAMS
def test_stat_fields_land_at_c_offsets(arch: str) -> None:
    abi = ABIS[arch]
    name, expected = expected_stat_fields(arch)
    data = structs.pack_stat(abi, STAT)
    assert set(expected) == set(layout(arch, name)["fields"])
    got = {f: field_at(data, arch, name, f) for f in expected}
    assert got == expected


@ARCH_PARAMS
def test_unpack_stat_fields_reads_c_offsets(arch: str) -> None:
    """Build the struct from the C layout alone and check the tracer's reader."""
    abi = ABIS[arch]
    name, expected = expected_stat_fields(arch)
    buf = bytearray(layout(arch, name)["size"])
    for f, value in expected.items():
        offset, size = layout(arch, name)["fields"][f]
        buf[offset:offset + size] = value.to_bytes(size, "little")
    got = structs.unpack_stat_fields(abi, bytes(buf))
    assert got == {
        "dev": STAT.dev, "ino": STAT.ino, "nlink": STAT.nlink, "mode": STAT.mode,
        "uid": STAT.uid, "gid": STAT.gid, "rdev": STAT.rdev, "size": STAT.size,
        "blksize": STAT.blksize, "blocks": STAT.blocks, "atime": 1_700_000_001,
        "mtime": 1_700_000_002, "ctime": 1_700_000_003,
    }


# statx ----------------------------------------------------------------------------------

@ARCH_PARAMS
def test_statx_layout(arch: str) -> None:
    dev = os.makedev(0x123, 0x45678)
    rdev = os.makedev(0x9AB, 0xCD)
    st = StatResult(dev=dev, ino=0x1_0000_0007, mode=0o040755, nlink=3, uid=1001, gid=1002,
                    rdev=rdev, size=0x2_0000_0000, blksize=4096, blocks=77,
                    atime_ns=1_600_000_001 * NS + 5, mtime_ns=1_600_000_002 * NS + 6,
                    ctime_ns=1_600_000_003 * NS + 7)
    data = structs.pack_statx(st, 0x7FF)
    assert len(data) == structs.STATX_SIZE == layout(arch, "statx")["size"] == 256

    def get(f: str) -> int:
        return field_at(data, arch, "statx", f)

    assert get("stx_mask") == 0x7FF
    assert get("stx_blksize") == 4096
    assert get("stx_nlink") == 3
    assert get("stx_uid") == 1001
    assert get("stx_gid") == 1002
    assert get("stx_mode") == 0o040755
    assert get("stx_ino") == 0x1_0000_0007
    assert get("stx_size") == 0x2_0000_0000
    assert get("stx_blocks") == 77
    # glibc's major()/minor() (os.major/os.minor) are the independent decoder of dev_t.
    assert (get("stx_dev_major"), get("stx_dev_minor")) == (os.major(dev), os.minor(dev))
    assert (get("stx_rdev_major"), get("stx_rdev_minor")) == (os.major(rdev), os.minor(rdev))
    ts_sec, _ = layout(arch, "statx_timestamp")["fields"]["tv_sec"]
    ts_nsec, _ = layout(arch, "statx_timestamp")["fields"]["tv_nsec"]
    for f, sec, nsec in (("stx_atime", 1_600_000_001, 5), ("stx_mtime", 1_600_000_002, 6),
                         ("stx_ctime", 1_600_000_003, 7)):
        base = layout(arch, "statx")["fields"][f][0]
        assert int.from_bytes(data[base + ts_sec:base + ts_sec + 8], "little") == sec, f
        assert int.from_bytes(data[base + ts_nsec:base + ts_nsec + 4], "little") == nsec, f


# timespec / timeval ---------------------------------------------------------------------

@ARCH_PARAMS
def test_timespec_classic_and_64(arch: str) -> None:
    abi = ABIS[arch]
    ns = 1_234_567_890 * NS + 987_654_321
    for bits, name in ((abi.time_bits, "old_timespec"), (64, "kernel_timespec")):
        data = structs.pack_timespec(ns, bits)
        assert structs.timespec_size(bits) == len(data) == layout(arch, name)["size"], name
        assert field_at(data, arch, name, "tv_sec") == 1_234_567_890
        assert field_at(data, arch, name, "tv_nsec") == 987_654_321
        assert structs.unpack_timespec(data, bits) == (1_234_567_890, 987_654_321)


@ARCH_PARAMS
def test_timeval(arch: str) -> None:
    abi = ABIS[arch]
    data = structs.pack_timeval(42 * NS + 123_456_789, abi.time_bits)
    assert len(data) == layout(arch, "old_timeval")["size"]
    assert field_at(data, arch, "old_timeval", "tv_sec") == 42
    assert field_at(data, arch, "old_timeval", "tv_usec") == 123_456


# rlimit ---------------------------------------------------------------------------------

@ARCH_PARAMS
def test_rlimit(arch: str) -> None:
    abi = ABIS[arch]
    if "rlimit" not in LAYOUTS[arch]:
        pytest.skip(f"no C layout of the kernel's struct rlimit recorded for {arch}")
    data = structs.pack_rlimit(8 * 1024 * 1024, structs.RLIM_INFINITY, abi.word_size)
    assert len(data) == layout(arch, "rlimit")["size"]
    width = layout(arch, "rlimit")["fields"]["rlim_max"][1]
    assert field_at(data, arch, "rlimit", "rlim_cur") == 8 * 1024 * 1024
    # RLIM_INFINITY is ~0UL in the field's own width.
    assert field_at(data, arch, "rlimit", "rlim_max") == (1 << (8 * width)) - 1


@ARCH_PARAMS
def test_rlimit64(arch: str) -> None:
    data = structs.pack_rlimit64(0x1_0000_0000, structs.RLIM_INFINITY)
    assert len(data) == layout(arch, "rlimit64")["size"]
    assert field_at(data, arch, "rlimit64", "rlim_cur") == 0x1_0000_0000
    assert field_at(data, arch, "rlimit64", "rlim_max") == (1 << 64) - 1
    assert structs.unpack_rlimit64(data) == (0x1_0000_0000, (1 << 64) - 1)


# sigaction / stack_t --------------------------------------------------------------------

@ARCH_PARAMS
def test_kernel_sigaction(arch: str) -> None:
    word = ABIS[arch].word_size
    act = structs.KernelSigaction(handler=0x1111_1110, flags=0x0400_0004,
                                  restorer=0x3333_3330, mask=0x8000_0001_0000_4002)
    data = structs.pack_sigaction(act, word)
    assert structs.sigaction_size(word) == len(data) == layout(arch, "kernel_sigaction")["size"]
    assert field_at(data, arch, "kernel_sigaction", "handler") == act.handler
    assert field_at(data, arch, "kernel_sigaction", "flags") == act.flags
    assert field_at(data, arch, "kernel_sigaction", "restorer") == act.restorer
    assert field_at(data, arch, "kernel_sigaction", "mask") == act.mask
    assert structs.unpack_sigaction(data, word) == act


@ARCH_PARAMS
def test_stack_t(arch: str) -> None:
    word = ABIS[arch].word_size
    data = structs.pack_stack_t(0xC000_1000, 2, 0x8000, word)
    assert structs.stack_t_size(word) == len(data) == layout(arch, "stack_t")["size"]
    assert field_at(data, arch, "stack_t", "ss_sp") == 0xC000_1000
    assert field_at(data, arch, "stack_t", "ss_flags") == 2
    assert field_at(data, arch, "stack_t", "ss_size") == 0x8000
    assert structs.unpack_stack_t(data, word) == (0xC000_1000, 2, 0x8000)


# epoll_event ----------------------------------------------------------------------------

@ARCH_PARAMS
def test_epoll_event(arch: str) -> None:
    abi: LinuxAbi = ABIS[arch]
    data = structs.pack_epoll_event(abi, 0x8000_0005, 0x1122_3344_5566_7788)
    assert abi.epoll_event_size == len(data) == layout(arch, "epoll_event")["size"]
    assert field_at(data, arch, "epoll_event", "events") == 0x8000_0005
    assert field_at(data, arch, "epoll_event", "data") == 0x1122_3344_5566_7788
    assert structs.unpack_epoll_event(abi, data) == (0x8000_0005, 0x1122_3344_5566_7788)


def test_epoll_event_sizes_are_the_documented_ones() -> None:
    assert layout("x86_64", "epoll_event")["size"] == 12  # __EPOLL_PACKED on x86-64
    assert layout("arm", "epoll_event")["size"] == 16  # EABI aligns the u64


# linux_dirent64 -------------------------------------------------------------------------

@pytest.mark.parametrize("name", [b"", b"a", b"abcd", b"abcde", b"go.mod", b"x" * 12,
                                  b"y" * 13, b"z" * 255])
def test_dirent64(name: bytes) -> None:
    arch = "x86_64"  # linux_dirent64 is the same on both (checked below)
    data = structs.pack_dirent64(0x1_0000_0009, 0x7FFF_FFFF_0000_0001, 8, name)
    name_off = layout(arch, "dirent64")["fields"]["d_name"][0]
    # fs/readdir.c filldir64: reclen = ALIGN(offsetof(linux_dirent64, d_name) + namlen + 1, 8)
    reclen = (name_off + len(name) + 1 + 7) // 8 * 8
    assert len(data) == reclen
    assert reclen % 8 == 0
    assert field_at(data, arch, "dirent64", "d_ino") == 0x1_0000_0009
    assert field_at(data, arch, "dirent64", "d_off") == 0x7FFF_FFFF_0000_0001
    assert field_at(data, arch, "dirent64", "d_reclen") == reclen
    assert field_at(data, arch, "dirent64", "d_type") == 8
    assert data[name_off:name_off + len(name) + 1] == name + b"\0"


def test_dirent64_same_on_both_arches() -> None:
    x86 = layout("x86_64", "dirent64")["fields"]
    arm = layout("arm", "dirent64")["fields"]
    assert x86 == arm


# siginfo --------------------------------------------------------------------------------

@ARCH_PARAMS
def test_siginfo_sigchld(arch: str) -> None:
    word = ABIS[arch].word_size
    data = structs.pack_siginfo(word, 17, 1, 0, pid=4321, uid=1000, status=7)
    assert len(data) == structs.SIGINFO_SIZE == layout(arch, "siginfo")["size"] == 128
    assert field_at(data, arch, "siginfo", "si_signo") == 17
    assert field_at(data, arch, "siginfo", "si_errno") == 0
    assert field_at(data, arch, "siginfo", "si_code") == 1
    assert field_at(data, arch, "siginfo", "si_pid") == 4321
    assert field_at(data, arch, "siginfo", "si_uid") == 1000
    assert field_at(data, arch, "siginfo", "si_status") == 7


@ARCH_PARAMS
def test_siginfo_fault_address(arch: str) -> None:
    word = ABIS[arch].word_size
    data = structs.pack_siginfo(word, 11, 2, 0, addr=0xDEAD_B000)
    assert len(data) == layout(arch, "siginfo")["size"]
    assert field_at(data, arch, "siginfo", "si_signo") == 11
    assert field_at(data, arch, "siginfo", "si_code") == 2
    assert field_at(data, arch, "siginfo", "si_addr") == 0xDEAD_B000
    # The union starts at 16 on 64-bit and 12 on 32-bit (the brief's numbers, via C).
    assert layout(arch, "siginfo")["fields"]["si_addr"][0] == (16 if word == 8 else 12)


# utsname --------------------------------------------------------------------------------

def test_utsname() -> None:
    values = ["Linux", "node", "6.1.0", "#1 SMP", "x86_64", "(none)"]
    data = structs.pack_utsname(*values)
    for arch in ("x86_64", "arm"):
        lay = layout(arch, "utsname")
        assert len(data) == lay["size"] == 6 * 65
        for f, value in zip(("sysname", "nodename", "release", "version", "machine",
                             "domainname"), values, strict=True):
            offset, size = lay["fields"][f]
            assert size == 65
            chunk = data[offset:offset + size]
            assert chunk == value.encode() + bytes(size - len(value)), f


def test_utsname_field_is_cut_to_64_bytes_plus_nul() -> None:
    data = structs.pack_utsname("L" * 100, "n", "r", "v", "m")
    offset, size = layout("x86_64", "utsname")["fields"]["sysname"]
    assert data[offset:offset + size] == b"L" * 64 + b"\0"
    assert data[65:67] == b"n\0"


# iovec ----------------------------------------------------------------------------------

@ARCH_PARAMS
def test_iovec(arch: str) -> None:
    word = ABIS[arch].word_size
    lay = layout(arch, "iovec")
    assert structs.iovec_size(word) == lay["size"]
    buf = bytearray(2 * lay["size"])
    for i, (base, length) in enumerate(((0x1000, 5), (0x2000, 7))):
        for f, value in (("iov_base", base), ("iov_len", length)):
            offset, size = lay["fields"][f]
            start = i * lay["size"] + offset
            buf[start:start + size] = value.to_bytes(size, "little")
    assert structs.unpack_iovecs(bytes(buf), word) == [(0x1000, 5), (0x2000, 7)]

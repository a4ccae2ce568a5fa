"""Kernel structures as the guest sees them, packed per ABI (little-endian).

Layouts are the kernel's uapi definitions for each architecture:
x86-64 ``struct stat`` (arch/x86/include/uapi/asm/stat.h), ARM ``struct stat64``
(arch/arm/include/uapi/asm/stat.h, with EABI 8-byte alignment of 64-bit members),
``struct statx`` (include/uapi/linux/stat.h), ``struct new_utsname``, and the
timespec/timeval/rlimit/sigaction/stack_t/epoll_event shapes whose word size differs.
The unit tests check sizes and offsets against a C compiler for each target.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from syscalls.abi import LinuxAbi
from syscalls.kernel.files import StatResult

NS = 1_000_000_000


# timespec / timeval ------------------------------------------------------------------------

def timespec_size(bits: int) -> int:
    return 16 if bits == 64 else 8


def pack_timespec(ns: int, bits: int) -> bytes:
    sec, nsec = divmod(ns, NS)
    return struct.pack("<qq" if bits == 64 else "<ii", sec, nsec)


def unpack_timespec(data: bytes, bits: int) -> tuple[int, int]:
    """(tv_sec, tv_nsec) as signed values."""
    return struct.unpack("<qq" if bits == 64 else "<ii", data)  # type: ignore[return-value]


def pack_timeval(ns: int, bits: int) -> bytes:
    sec, nsec = divmod(ns, NS)
    return struct.pack("<qq" if bits == 64 else "<ii", sec, nsec // 1000)


# stat --------------------------------------------------------------------------------------

# asm-generic/stat.h struct stat (64-bit): 128 bytes.
GENERIC64_STAT = "<QQIIIIQQqi4xqqQqQqQII"
# i386 struct stat64 (arch/x86/include/uapi/asm/stat.h): 64-bit members 4-byte aligned, 96 bytes.
I386_STAT64 = "<Q4sIIIIIQ4sqIQIIIIIIQ"

def encode_dev(dev: int) -> int:
    """Host st_dev to the guest's (already the kernel's new_encode_dev form on Linux)."""
    return dev


def pack_stat(abi: LinuxAbi, st: StatResult) -> bytes:
    a_s, a_n = divmod(st.atime_ns, NS)
    m_s, m_n = divmod(st.mtime_ns, NS)
    c_s, c_n = divmod(st.ctime_ns, NS)
    if abi.stat_layout == "stat-x86_64":
        return struct.pack("<QQQIIIIQqqqQQQQQQqqq", st.dev, st.ino, st.nlink, st.mode, st.uid,
                           st.gid, 0, st.rdev, st.size, st.blksize, st.blocks, a_s, a_n, m_s,
                           m_n, c_s, c_n, 0, 0, 0)
    if abi.stat_layout == "stat-generic64":
        return struct.pack(GENERIC64_STAT, st.dev, st.ino, st.mode, st.nlink, st.uid, st.gid,
                           st.rdev, 0, st.size, st.blksize, st.blocks, a_s, a_n, m_s, m_n, c_s,
                           c_n, 0, 0)
    if abi.stat_layout == "stat64-i386":
        return struct.pack(I386_STAT64, st.dev, b"", st.ino & 0xFFFFFFFF, st.mode, st.nlink,
                           st.uid, st.gid, st.rdev, b"", st.size, st.blksize, st.blocks,
                           a_s & 0xFFFFFFFF, a_n, m_s & 0xFFFFFFFF, m_n, c_s & 0xFFFFFFFF, c_n,
                           st.ino)
    # ARM struct stat64: 104 bytes.
    return struct.pack("<Q4sIIIIIQ4s4xqI4xQIIIIIIQ", st.dev, b"", st.ino & 0xFFFFFFFF,
                       st.mode, st.nlink, st.uid, st.gid, st.rdev, b"", st.size, st.blksize,
                       st.blocks, a_s & 0xFFFFFFFF, a_n, m_s & 0xFFFFFFFF, m_n,
                       c_s & 0xFFFFFFFF, c_n, st.ino)


def stat_size(abi: LinuxAbi) -> int:
    return {"stat-x86_64": 144, "stat-generic64": 128, "stat64-i386": 96}.get(abi.stat_layout,
                                                                              104)


def unpack_stat_fields(abi: LinuxAbi, data: bytes) -> dict[str, int]:
    """The fields the tracer prints, read back from a packed struct."""
    if abi.stat_layout == "stat-x86_64":
        (dev, ino, nlink, mode, uid, gid, _, rdev, size, blksize, blocks, a_s, _a_n, m_s, _m_n,
         c_s, _c_n, *_rest) = struct.unpack("<QQQIIIIQqqqQQQQQQqqq", data)
    elif abi.stat_layout == "stat-generic64":
        (dev, ino, mode, nlink, uid, gid, rdev, _, size, blksize, blocks, a_s, _a_n, m_s, _m_n,
         c_s, _c_n, _, _) = struct.unpack(GENERIC64_STAT, data)
    else:
        fmt = I386_STAT64 if abi.stat_layout == "stat64-i386" else "<Q4sIIIIIQ4s4xqI4xQIIIIIIQ"
        (dev, _, _, mode, nlink, uid, gid, rdev, _, size, blksize, blocks, a_s, _a_n, m_s, _m_n,
         c_s, _c_n, ino) = struct.unpack(fmt, data)
    return {"dev": dev, "ino": ino, "nlink": nlink, "mode": mode, "uid": uid, "gid": gid,
            "rdev": rdev, "size": size, "blksize": blksize, "blocks": blocks, "atime": a_s,
            "mtime": m_s, "ctime": c_s}


STATX_SIZE = 256


def pack_statx(st: StatResult, mask: int) -> bytes:
    def ts(ns: int) -> bytes:
        sec, nsec = divmod(ns, NS)
        return struct.pack("<qIi", sec, nsec, 0)

    dev_major, dev_minor = (st.dev >> 8) & 0xFFF | ((st.dev >> 32) & ~0xFFF), \
        (st.dev & 0xFF) | ((st.dev >> 12) & ~0xFF)
    rdev_major, rdev_minor = (st.rdev >> 8) & 0xFFF | ((st.rdev >> 32) & ~0xFFF), \
        (st.rdev & 0xFF) | ((st.rdev >> 12) & ~0xFF)
    head = struct.pack("<IIQIIIHHQQQQ", mask, st.blksize, 0, st.nlink, st.uid, st.gid,
                       st.mode & 0xFFFF, 0, st.ino, st.size, st.blocks, 0)
    times = ts(st.atime_ns) + ts(0) + ts(st.ctime_ns) + ts(st.mtime_ns)
    devs = struct.pack("<IIII", rdev_major & 0xFFFFFFFF, rdev_minor & 0xFFFFFFFF,
                       dev_major & 0xFFFFFFFF, dev_minor & 0xFFFFFFFF)
    body = head + times + devs
    return body + bytes(STATX_SIZE - len(body))


# utsname -----------------------------------------------------------------------------------

def pack_utsname(sysname: str, nodename: str, release: str, version: str, machine: str,
                 domainname: str = "(none)") -> bytes:
    out = b""
    for field in (sysname, nodename, release, version, machine, domainname):
        raw = field.encode()[:64]
        out += raw + bytes(65 - len(raw))
    return out


# rlimit ------------------------------------------------------------------------------------

RLIM_INFINITY = (1 << 64) - 1


def pack_rlimit(cur: int, maximum: int, word_size: int) -> bytes:
    if word_size == 8:
        return struct.pack("<QQ", cur & RLIM_INFINITY, maximum & RLIM_INFINITY)
    inf32 = 0xFFFFFFFF

    def clip(v: int) -> int:
        return inf32 if v >= inf32 else v

    return struct.pack("<II", clip(cur), clip(maximum))


def pack_rlimit64(cur: int, maximum: int) -> bytes:
    return struct.pack("<QQ", cur & RLIM_INFINITY, maximum & RLIM_INFINITY)


def unpack_rlimit64(data: bytes) -> tuple[int, int]:
    return struct.unpack("<QQ", data)  # type: ignore[return-value]


# sigaction / stack_t -----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class KernelSigaction:
    handler: int
    flags: int
    restorer: int
    mask: int


def sigaction_size(word_size: int) -> int:
    """struct sigaction as the kernel reads it for rt_sigaction: handler, flags, restorer,
    then the 8-byte mask (x86-64 and ARM both use this order)."""
    return 3 * word_size + 8


def unpack_sigaction(data: bytes, word_size: int) -> KernelSigaction:
    fmt = "<QQQQ" if word_size == 8 else "<IIIQ"
    handler, flags, restorer, mask = struct.unpack(fmt, data)
    return KernelSigaction(handler, flags & 0xFFFFFFFF, restorer, mask)


def pack_sigaction(act: KernelSigaction, word_size: int) -> bytes:
    fmt = "<QQQQ" if word_size == 8 else "<IIIQ"
    return struct.pack(fmt, act.handler, act.flags, act.restorer, act.mask)


def stack_t_size(word_size: int) -> int:
    return 24 if word_size == 8 else 12


def unpack_stack_t(data: bytes, word_size: int) -> tuple[int, int, int]:
    """(ss_sp, ss_flags, ss_size)."""
    if word_size == 8:
        sp, flags, size = struct.unpack("<Qi4xQ", data)
    else:
        sp, flags, size = struct.unpack("<IiI", data)
    return sp, flags, size


def pack_stack_t(sp: int, flags: int, size: int, word_size: int) -> bytes:
    if word_size == 8:
        return struct.pack("<Qi4xQ", sp, flags, size)
    return struct.pack("<IiI", sp, flags, size)


# epoll_event, iovec, dirent ----------------------------------------------------------------

def pack_epoll_event(abi: LinuxAbi, events: int, data: int) -> bytes:
    if abi.epoll_event_size == 12:
        return struct.pack("<IQ", events & 0xFFFFFFFF, data & 0xFFFFFFFFFFFFFFFF)
    return struct.pack("<I4xQ", events & 0xFFFFFFFF, data & 0xFFFFFFFFFFFFFFFF)


def unpack_epoll_event(abi: LinuxAbi, data: bytes) -> tuple[int, int]:
    if abi.epoll_event_size == 12:
        return struct.unpack("<IQ", data)  # type: ignore[return-value]
    return struct.unpack("<I4xQ", data)  # type: ignore[return-value]


def iovec_size(word_size: int) -> int:
    return 2 * word_size


def unpack_iovecs(data: bytes, word_size: int) -> list[tuple[int, int]]:
    fmt = "<QQ" if word_size == 8 else "<II"
    return [tuple(v) for v in struct.iter_unpack(fmt, data)]  # type: ignore[misc]


def pack_dirent64(ino: int, offset: int, dtype: int, name: bytes) -> bytes:
    """struct linux_dirent64, padded to 8 bytes."""
    reclen = (19 + len(name) + 1 + 7) & ~7
    head = struct.pack("<QqHB", ino, offset, reclen, dtype)
    body = head + name + b"\0"
    return body + bytes(reclen - len(body))


# siginfo -----------------------------------------------------------------------------------

SIGINFO_SIZE = 128


def pack_siginfo(word_size: int, signo: int, code: int, errno: int = 0, *, pid: int = 0,
                 uid: int = 0, addr: int | None = None, status: int = 0,
                 timerid: int | None = None, overrun: int = 0, value: int = 0) -> bytes:
    """siginfo_t: signo, errno, code, then the union at the word-aligned offset: the
    faulting address, or two ints (pid and uid; a POSIX timer's id and overrun count)
    followed by the exit status (SIGCHLD) or the sigval word (timers, sigqueue)."""
    head = struct.pack("<iii", signo, errno, code)
    union_off = 16 if word_size == 8 else 12
    body = head + bytes(union_off - len(head))
    if addr is not None:
        body += addr.to_bytes(word_size, "little")
    elif timerid is not None:
        body += struct.pack("<iI", timerid, overrun) + (
            value & ((1 << (8 * word_size)) - 1)).to_bytes(word_size, "little")
    else:
        body += struct.pack("<II", pid, uid)
        if status:
            body += struct.pack("<i", status)
        elif value:
            body += (value & ((1 << (8 * word_size)) - 1)).to_bytes(word_size, "little")
    return body + bytes(SIGINFO_SIZE - len(body))


def unpack_siginfo(data: bytes, word_size: int) -> tuple[int, int, int, int, int, int]:
    """(signo, errno, code, pid, uid, value) of a siginfo_t read as the _rt member
    (what a sender fills for pidfd_send_signal and rt_sigqueueinfo)."""
    signo, errno, code = struct.unpack_from("<iii", data, 0)
    union_off = 16 if word_size == 8 else 12
    pid, uid = struct.unpack_from("<iI", data, union_off)
    value = int.from_bytes(data[union_off + 8:union_off + 8 + word_size], "little")
    return signo, errno, code, pid, uid, value

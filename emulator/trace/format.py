"""strace's notation for arguments, structures, flags and results, from the syscall specs.

Pure functions over guest memory (read with ``try_read``: an unreadable pointer prints
as its address, as strace does). Argument kinds come from :mod:`syscalls.spec`; calls
whose arguments depend on each other (futex's op, fcntl's cmd, clone's flags) have a
custom printer named by the spec. Formats follow strace 6.x's default (non-verbose)
output; the flag orders are strace's (its src/xlat tables).
"""

from __future__ import annotations

import stat as stat_mod
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from syscalls import spec as S
from syscalls.abi import (
    ACCESS_MODE_NAMES,
    AT_FDCWD,
    CLONE,
    CSIGNAL,
    FUTEX_CLOCK_REALTIME,
    FUTEX_CMDS,
    FUTEX_PRIVATE_FLAG,
    MAP_TYPES,
    FlagTable,
    LinuxAbi,
)
from syscalls.errno import Errno
from syscalls.kernel.memory import GuestMemory, MemoryFault
from syscalls.kernel.signals import SigInfo, format_sigset, signal_name

PATH_MAX = 4096


@dataclass(slots=True)
class FormatContext:
    mem: GuestMemory
    abi: LinuxAbi
    strsize: int
    args: tuple[int, ...]
    result: int | None = None
    """The call's result, when formatting at exit."""
    entry: dict[int, bytes] | None = None
    """Memory captured when the call was entered (value-result arguments such as a
    socklen_t, printed ``[112 => 16]``), by address; see ENTRY_CAPTURE."""
    spec_name: str = ""
    """The call's name (select and pselect6 share a printer, time64 variants differ)."""

    @property
    def word(self) -> int:
        return self.abi.word_size

    @property
    def failed(self) -> bool:
        return self.result is not None and self.result < 0


# Scalars -------------------------------------------------------------------------------

def hex_addr(value: int) -> str:
    return "NULL" if value == 0 else f"{value:#x}"


def unsigned(value: int, word: int) -> int:
    return value & ((1 << (8 * word)) - 1)


def format_flags(value: int, table: FlagTable, *, zero: str = "0") -> str:
    if value == 0:
        for v, name in table:
            if v == 0:
                return name
        return zero
    names = []
    rest = value
    for v, name in table:
        if v and value & v == v and rest & v:
            names.append(name)
            rest &= ~v
    if rest:
        names.append(f"{rest:#x}")
    return "|".join(names)


def format_enum(value: int, table: FlagTable) -> str:
    for v, name in table:
        if v == value:
            return name
    return f"{value:#x}" if value > 9 or value < 0 else str(value)


def format_open_flags(value: int, abi: LinuxAbi) -> str:
    value &= 0xFFFFFFFF
    access = format_enum(value & 3, ACCESS_MODE_NAMES)
    rest = value & ~3
    if not rest:
        return access
    return access + "|" + format_flags(rest, abi.table("open"))


def format_mode(value: int) -> str:
    return f"0{value & 0o7777:o}" if value & 0o7777 else "000"


def format_dirfd(value: int) -> str:
    return "AT_FDCWD" if value == AT_FDCWD else str(value)


def format_file_mode(mode: int) -> str:
    kinds = ((stat_mod.S_IFREG, "S_IFREG"), (stat_mod.S_IFDIR, "S_IFDIR"),
             (stat_mod.S_IFCHR, "S_IFCHR"), (stat_mod.S_IFBLK, "S_IFBLK"),
             (stat_mod.S_IFIFO, "S_IFIFO"), (stat_mod.S_IFLNK, "S_IFLNK"),
             (stat_mod.S_IFSOCK, "S_IFSOCK"))
    kind = next((name for bits, name in kinds if stat_mod.S_IFMT(mode) == bits), None)
    if kind is None:
        return f"0{mode:o}" if mode else "0"
    # strace's print_symbolic_mode_t: the type, the special bits by name, then the
    # permissions as C's "%#03o".
    special = "".join(f"{name}|" for bit, name in ((stat_mod.S_ISUID, "S_ISUID"),
                                                   (stat_mod.S_ISGID, "S_ISGID"),
                                                   (stat_mod.S_ISVTX, "S_ISVTX"))
                      if mode & bit)
    perm = mode & 0o777
    perm_text = f"0{perm:o}".rjust(3, "0") if perm else "000"
    return f"{kind}|{special}{perm_text}"


# Strings -------------------------------------------------------------------------------

_ESCAPES = {ord('"'): '\\"', ord("\\"): "\\\\", ord("\f"): "\\f", ord("\n"): "\\n",
            ord("\r"): "\\r", ord("\t"): "\\t", ord("\v"): "\\v"}


_NEEDS_ESCAPE = bytes(c for c in range(256) if not 0x20 <= c < 0x7F or c in b'"\\')
"""Bytes :func:`quote` does not copy as they are."""


def quote(data: bytes, *, truncated: bool = False) -> str:
    """strace's string_quote: C escapes, minimal octal for other bytes, ``...`` if cut."""
    if len(data.translate(None, _NEEDS_ESCAPE)) == len(data):
        # Printable ASCII only, no quote or backslash: the common case, in one step.
        return '"' + data.decode("ascii") + ('"...' if truncated else '"')
    out = ['"']
    n = len(data)
    for i, c in enumerate(data):
        esc = _ESCAPES.get(c)
        if esc is not None:
            out.append(esc)
        elif 0x20 <= c < 0x7F:
            out.append(chr(c))
        else:
            nxt = data[i + 1] if i + 1 < n else None
            if nxt is not None and 0x30 <= nxt <= 0x37:
                out.append(f"\\{c:03o}")
            else:
                out.append(f"\\{c:o}")
    out.append('"')
    if truncated:
        out.append("...")
    return "".join(out)


def format_buffer(fc: FormatContext, addr: int, length: int) -> str:
    return buffer_text(fc.mem.raw.read, fc.strsize, addr, length)


def buffer_text(read: Callable[[int, int], bytes], strsize: int, addr: int,
                length: int) -> str:
    """A ``length``-byte buffer as strace shows it: its first ``strsize`` bytes quoted.
    ``read`` is the raw memory reader (RawMemory.read)."""
    if length < 0 or addr == 0:
        return hex_addr(addr)
    size = length if length < strsize else strsize
    try:
        data = read(addr, size) if size > 0 else b""
    except MemoryFault:
        return hex_addr(addr)
    if len(data.translate(None, _NEEDS_ESCAPE)) == len(data):
        return '"' + data.decode("ascii") + ('"...' if length > strsize else '"')
    return quote(data, truncated=length > strsize)


def format_path(fc: FormatContext, addr: int) -> str:
    got = fc.mem.try_cstring(addr, PATH_MAX)
    if got is None:
        return hex_addr(addr)
    data, complete = got
    return quote(data, truncated=not complete)


def format_cstring(fc: FormatContext, addr: int) -> str:
    got = fc.mem.try_cstring(addr, fc.strsize)
    if got is None:
        return hex_addr(addr)
    data, complete = got
    return quote(data, truncated=not complete)


# Structures ----------------------------------------------------------------------------

StructPrinter = Callable[[FormatContext, int], str]


def _read(fc: FormatContext, addr: int, size: int) -> bytes | None:
    if addr == 0:
        return None
    return fc.mem.try_read(addr, size)


def _timespec(fc: FormatContext, addr: int, bits: int) -> str:
    data = _read(fc, addr, 16 if bits == 64 else 8)
    if data is None:
        return hex_addr(addr)
    sec, nsec = struct.unpack("<qq" if bits == 64 else "<ii", data)
    return f"{{tv_sec={sec}, tv_nsec={nsec}}}"


def p_timespec(fc: FormatContext, addr: int) -> str:
    return _timespec(fc, addr, fc.abi.time_bits)


def p_timespec64(fc: FormatContext, addr: int) -> str:
    return _timespec(fc, addr, 64)


def p_timeval(fc: FormatContext, addr: int) -> str:
    bits = fc.abi.time_bits
    data = _read(fc, addr, 16 if bits == 64 else 8)
    if data is None:
        return hex_addr(addr)
    sec, usec = struct.unpack("<qq" if bits == 64 else "<ii", data)
    return f"{{tv_sec={sec}, tv_usec={usec}}}"


UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2


def p_timespec_pair(fc: FormatContext, addr: int) -> str:
    return _timespec_pair(fc, addr, fc.abi.time_bits)


def p_timespec64_pair(fc: FormatContext, addr: int) -> str:
    return _timespec_pair(fc, addr, 64)


def _timespec_pair(fc: FormatContext, addr: int, bits: int) -> str:
    size = 16 if bits == 64 else 8
    data = _read(fc, addr, 2 * size)
    if data is None:
        return hex_addr(addr)
    parts = []
    for i in range(2):
        sec, nsec = struct.unpack_from("<qq" if bits == 64 else "<ii", data, size * i)
        if nsec in (UTIME_NOW, UTIME_OMIT):
            parts.append("UTIME_NOW" if nsec == UTIME_NOW else "UTIME_OMIT")
        else:
            parts.append(f"{{tv_sec={sec}, tv_nsec={nsec}}}")
    return "[" + ", ".join(parts) + "]"


def _makedev(rdev: int) -> str:
    major = ((rdev >> 8) & 0xFFF) | ((rdev >> 32) & ~0xFFF)
    minor = (rdev & 0xFF) | ((rdev >> 12) & ~0xFF)
    return f"makedev({major:#x}, {minor:#x})"


def p_stat(fc: FormatContext, addr: int) -> str:
    from syscalls.structs import stat_size, unpack_stat_fields

    data = _read(fc, addr, stat_size(fc.abi))
    if data is None:
        return hex_addr(addr)
    st = unpack_stat_fields(fc.abi, data)
    mode = st["mode"]
    if stat_mod.S_ISCHR(mode) or stat_mod.S_ISBLK(mode):
        return f"{{st_mode={format_file_mode(mode)}, st_rdev={_makedev(st['rdev'])}, ...}}"
    return f"{{st_mode={format_file_mode(mode)}, st_size={st['size']}, ...}}"


def p_statx(fc: FormatContext, addr: int) -> str:
    data = _read(fc, addr, 0x90)
    if data is None:
        return hex_addr(addr)
    mask, _blksize, attributes = struct.unpack_from("<IIQ", data, 0)
    mode = struct.unpack_from("<H", data, 0x1C)[0]
    size = struct.unpack_from("<Q", data, 0x28)[0]
    mask_text = format_flags(mask, fc.abi.table("statx_mask"))
    if mask & 0x7FF == 0x7FF:
        mask_text = format_flags(mask & ~0x7FF, fc.abi.table("statx_mask"))
        mask_text = "STATX_BASIC_STATS" + ("|" + mask_text if mask & ~0x7FF else "")
    return (f"{{stx_mask={mask_text}, stx_attributes={attributes:#x}, "
            f"stx_mode={format_file_mode(mode)}, stx_size={size}, ...}}")


def p_sigaction(fc: FormatContext, addr: int) -> str:
    from syscalls.structs import sigaction_size, unpack_sigaction

    data = _read(fc, addr, sigaction_size(fc.word))
    if data is None:
        return hex_addr(addr)
    act = unpack_sigaction(data, fc.word)
    handler = {0: "SIG_DFL", 1: "SIG_IGN"}.get(act.handler, f"{act.handler:#x}")
    flags = format_flags(act.flags, fc.abi.table("sa_flags"))
    text = f"{{sa_handler={handler}, sa_mask={format_sigset(act.mask)}, sa_flags={flags}"
    if act.flags & 0x04000000:
        text += f", sa_restorer={act.restorer:#x}"
    return text + "}"


def p_stack_t(fc: FormatContext, addr: int) -> str:
    from syscalls.structs import stack_t_size, unpack_stack_t

    data = _read(fc, addr, stack_t_size(fc.word))
    if data is None:
        return hex_addr(addr)
    sp, flags, size = unpack_stack_t(data, fc.word)
    return (f"{{ss_sp={hex_addr(sp)}, ss_flags={format_flags(flags, fc.abi.table('ss_flags'))}, "
            f"ss_size={size}}}")


def _rlim(value: int, infinity: str) -> str:
    if value in ((1 << 64) - 1, (1 << 32) - 1):
        return infinity
    if value > 1024 and value % 1024 == 0:
        return f"{value // 1024}*1024"
    return str(value)


def p_rlimit64(fc: FormatContext, addr: int) -> str:
    data = _read(fc, addr, 16)
    if data is None:
        return hex_addr(addr)
    cur, maximum = struct.unpack("<QQ", data)
    return (f"{{rlim_cur={_rlim(cur, 'RLIM64_INFINITY')}, "
            f"rlim_max={_rlim(maximum, 'RLIM64_INFINITY')}}}")


def p_rlimit(fc: FormatContext, addr: int) -> str:
    data = _read(fc, addr, 2 * fc.word)
    if data is None:
        return hex_addr(addr)
    cur, maximum = struct.unpack("<QQ" if fc.word == 8 else "<II", data)
    return f"{{rlim_cur={_rlim(cur, 'RLIM_INFINITY')}, rlim_max={_rlim(maximum, 'RLIM_INFINITY')}}}"


def p_utsname(fc: FormatContext, addr: int) -> str:
    data = _read(fc, addr, 65 * 2)
    if data is None:
        return hex_addr(addr)
    sysname = data[:65].split(b"\0", 1)[0]
    nodename = data[65:130].split(b"\0", 1)[0]
    return f"{{sysname={quote(sysname)}, nodename={quote(nodename)}, ...}}"


def _epoll_event(fc: FormatContext, data: bytes) -> str:
    from syscalls.structs import unpack_epoll_event

    events, value = unpack_epoll_event(fc.abi, data)
    return (f"{{events={format_flags(events, fc.abi.table('epoll_events'))}, "
            f"data={{u32={value & 0xFFFFFFFF}, u64={value}}}}}")


def p_epoll_event(fc: FormatContext, addr: int) -> str:
    if len(fc.args) > 1 and fc.args[1] == 2:  # EPOLL_CTL_DEL ignores it: strace shows the address
        return hex_addr(addr)
    data = _read(fc, addr, fc.abi.epoll_event_size)
    return hex_addr(addr) if data is None else _epoll_event(fc, data)


def p_epoll_events(fc: FormatContext, addr: int) -> str:
    count = fc.result if fc.result is not None and fc.result > 0 else 0
    size = fc.abi.epoll_event_size
    data = fc.mem.try_read(addr, count * size) if count else b""
    if data is None:
        return hex_addr(addr)
    return "[" + ", ".join(_epoll_event(fc, data[i * size:(i + 1) * size])
                           for i in range(count)) + "]"


def p_cpuset(fc: FormatContext, addr: int) -> str:
    size = fc.result if fc.result is not None and fc.result > 0 else fc.args[1]
    data = _read(fc, addr, min(size, 128))
    if data is None:
        return hex_addr(addr)
    bits = int.from_bytes(data, "little")
    return "[" + " ".join(str(i) for i in range(len(data) * 8) if bits >> i & 1) + "]"


def p_fdpair(fc: FormatContext, addr: int) -> str:
    data = _read(fc, addr, 8)
    if data is None:
        return hex_addr(addr)
    a, b = struct.unpack("<ii", data)
    return f"[{a}, {b}]"


def p_loff(fc: FormatContext, addr: int) -> str:
    data = _read(fc, addr, 8)
    return hex_addr(addr) if data is None else f"[{struct.unpack('<q', data)[0]}]"


def p_iovec(fc: FormatContext, addr: int) -> str:
    from syscalls.structs import unpack_iovecs

    count = fc.args[2]
    if not 0 <= count <= 1024:
        return hex_addr(addr)
    data = _read(fc, addr, count * 2 * fc.word)
    if data is None:
        return hex_addr(addr)
    parts = []
    reading = fc.result is not None
    left = fc.result if reading and fc.result is not None and fc.result >= 0 else None
    for base, length in unpack_iovecs(data, fc.word):
        shown = length if left is None else min(length, left)
        if left is not None:
            left -= shown
        parts.append(f"{{iov_base={format_buffer(fc, base, shown)}, iov_len={length}}}")
    return "[" + ", ".join(parts) + "]"


def p_dirents(fc: FormatContext, addr: int) -> str:
    size = fc.result if fc.result is not None and fc.result > 0 else 0
    data = fc.mem.try_read(addr, size) if size else b""
    count = 0
    pos = 0
    while data is not None and pos + 19 <= len(data):
        reclen = struct.unpack_from("<H", data, pos + 16)[0]
        if reclen == 0:
            break
        count += 1
        pos += reclen
    return f"{addr:#x} /* {count} entries */"


def p_pollfds(fc: FormatContext, addr: int) -> str:
    nfds = fc.args[1]
    data = _read(fc, addr, min(nfds, 1024) * 8)
    if data is None:
        return hex_addr(addr)
    parts = []
    for fd, events, _ in struct.iter_unpack("<ihh", data):
        wanted = format_flags(events & 0xFFFF, fc.abi.table("poll_events"))
        parts.append(f"{{fd={fd}, events={wanted}}}")
    return "[" + ", ".join(parts) + "]"


def p_rusage(fc: FormatContext, addr: int) -> str:
    bits = fc.abi.time_bits
    data = _read(fc, addr, 32 if bits == 64 else 16)
    if data is None:
        return hex_addr(addr)
    fmt = "<qqqq" if bits == 64 else "<iiii"
    us, uu, ss, su = struct.unpack(fmt, data)
    return (f"{{ru_utime={{tv_sec={us}, tv_usec={uu}}}, "
            f"ru_stime={{tv_sec={ss}, tv_usec={su}}}, ...}}")


def p_siginfo(fc: FormatContext, addr: int) -> str:
    from syscalls.structs import SIGINFO_SIZE, unpack_siginfo

    data = _read(fc, addr, SIGINFO_SIZE)
    if data is None:
        return hex_addr(addr)
    signo, errno, code, pid, uid, value = unpack_siginfo(data, fc.word)
    # _sigchld's si_status sits where _rt's sigval starts.
    return format_siginfo(SigInfo(signo, code, errno, pid=pid, uid=uid, value=value,
                                  status=value & 0xFFFFFFFF))


def p_sysinfo(fc: FormatContext, addr: int) -> str:
    data = _read(fc, addr, fc.word)
    if data is None:
        return hex_addr(addr)
    uptime = int.from_bytes(data, "little", signed=True)
    return f"{{uptime={uptime}, ...}}"


def _interval_pair(fc: FormatContext, addr: int, bits: int, unit: str) -> str:
    """struct itimerval / itimerspec: {it_interval, it_value}."""
    size = 16 if bits == 64 else 8
    data = _read(fc, addr, 2 * size)
    if data is None:
        return hex_addr(addr)
    parts = []
    for name, offset in (("it_interval", 0), ("it_value", size)):
        sec, frac = struct.unpack_from("<qq" if bits == 64 else "<ii", data, offset)
        parts.append(f"{name}={{tv_sec={sec}, {unit}={frac}}}")
    return "{" + ", ".join(parts) + "}"


def p_itimerval(fc: FormatContext, addr: int) -> str:
    return _interval_pair(fc, addr, fc.abi.time_bits, "tv_usec")


def p_itimerspec(fc: FormatContext, addr: int) -> str:
    return _interval_pair(fc, addr, fc.abi.time_bits, "tv_nsec")


def p_itimerspec64(fc: FormatContext, addr: int) -> str:
    return _interval_pair(fc, addr, 64, "tv_nsec")


def p_sigevent(fc: FormatContext, addr: int) -> str:
    """struct sigevent as strace prints it (sigev_value only when it is not zero)."""
    data = _read(fc, addr, fc.word + 12)
    if data is None:
        return hex_addr(addr)
    value = int.from_bytes(data[:fc.word], "little")
    signo, notify, tid = struct.unpack_from("<iii", data, fc.word)
    fields = []
    if value:
        fields.append(f"sigev_value={{sival_int={struct.unpack_from('<i', data)[0]}, "
                      f"sival_ptr={hex_addr(value)}}}")
    if notify != 1:  # SIGEV_NONE sends nothing
        fields.append("sigev_signo=" + (signal_name(signo) if 0 < signo <= 64 else str(signo)))
    fields.append("sigev_notify=" + format_enum(notify, fc.abi.table("sigev_notify")))
    if notify == 4:
        fields.append(f"sigev_notify_thread_id={tid}")
    return "{" + ", ".join(fields) + "}"


def p_timerid(fc: FormatContext, addr: int) -> str:
    data = _read(fc, addr, 4)
    return hex_addr(addr) if data is None else f"[{struct.unpack('<i', data)[0]}]"


FS_MAGICS = {0x01021994: "TMPFS_MAGIC", 0xEF53: "EXT2_SUPER_MAGIC", 0x9FA0: "PROC_SUPER_MAGIC",
             0x794C7630: "OVERLAYFS_SUPER_MAGIC", 0x9123683E: "BTRFS_SUPER_MAGIC",
             0x58465342: "XFS_SUPER_MAGIC", 0x62656572: "SYSFS_MAGIC",
             0x63677270: "CGROUP2_SUPER_MAGIC", 0x50495045: "PIPEFS_MAGIC",
             0x09041934: "ANON_INODE_FS_MAGIC"}
ST_FLAGS = ((1, "ST_RDONLY"), (2, "ST_NOSUID"), (4, "ST_NODEV"), (8, "ST_NOEXEC"),
            (16, "ST_SYNCHRONOUS"), (32, "ST_VALID"), (64, "ST_MANDLOCK"),
            (1024, "ST_NOATIME"), (2048, "ST_NODIRATIME"), (4096, "ST_RELATIME"),
            (8192, "ST_NOSYMFOLLOW"))


def _statfs(fc: FormatContext, addr: int, wide: bool) -> str:
    word = fc.word
    layout = "<7q2i7q" if word == 8 else ("<II5Q2i7I" if wide else "<7I2i7I")
    data = _read(fc, addr, struct.calcsize(layout))
    if data is None:
        return hex_addr(addr)
    v = struct.unpack(layout, data)
    ftype = v[0] & 0xFFFFFFFF
    return (f"{{f_type={FS_MAGICS.get(ftype, f'{ftype:#x}')}, f_bsize={v[1]}, f_blocks={v[2]}, "
            f"f_bfree={v[3]}, f_bavail={v[4]}, f_files={v[5]}, f_ffree={v[6]}, "
            f"f_fsid={{val=[{v[7] & 0xFFFFFFFF:#x}, {v[8] & 0xFFFFFFFF:#x}]}}, "
            f"f_namelen={v[9]}, f_frsize={v[10]}, f_flags={format_flags(v[11], ST_FLAGS)}}}")


def p_statfs(fc: FormatContext, addr: int) -> str:
    return _statfs(fc, addr, False)


def p_statfs64(fc: FormatContext, addr: int) -> str:
    return _statfs(fc, addr, True)


STRUCTS: dict[str, StructPrinter] = {
    "statfs": p_statfs,
    "statfs64": p_statfs64,
    "itimerval": p_itimerval,
    "itimerspec": p_itimerspec,
    "itimerspec64": p_itimerspec64,
    "sigevent": p_sigevent,
    "timerid": p_timerid,
    "timespec": p_timespec,
    "timespec64": p_timespec64,
    "timeval": p_timeval,
    "timespec_pair": p_timespec_pair,
    "timespec64_pair": p_timespec64_pair,
    "stat": p_stat,
    "statx": p_statx,
    "sigaction": p_sigaction,
    "stack_t": p_stack_t,
    "rlimit": p_rlimit,
    "rlimit64": p_rlimit64,
    "utsname": p_utsname,
    "epoll_event": p_epoll_event,
    "epoll_events": p_epoll_events,
    "cpuset": p_cpuset,
    "fdpair": p_fdpair,
    "loff": p_loff,
    "iovec": p_iovec,
    "dirents": p_dirents,
    "pollfds": p_pollfds,
    "rusage": p_rusage,
    "sysinfo": p_sysinfo,
    "siginfo": p_siginfo,
}


ENTRY_CAPTURE: dict[str, int] = {}
"""Struct names whose pointed-to bytes (this many) are captured when the call is entered."""


def _select_inputs(fc: FormatContext) -> dict[int, int]:
    """select's value-result arguments (the three fd sets, the timeout): address → size."""
    from syscalls.poll import fdset_size

    nfds = _signed32(fc.args[0])
    size = fdset_size(max(0, min(nfds, 1024)), fc.word)
    out = {addr: size for addr in fc.args[1:4] if addr and size}
    if fc.args[4]:
        out[fc.args[4]] = timespec_size_of(fc, "select")
    return out


def _signed32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def timespec_size_of(fc: FormatContext, name: str) -> int:
    return 16 if fc.abi.time_bits == 64 or name.endswith("time64") else 8


ENTRY_PRINTERS = frozenset({"poll", "select"})
"""Printers that capture value-result arguments at entry (ppoll's and select's timeouts,
select's fd sets), which the call overwrites."""


def capture_entry(spec: S.SyscallSpec, fc: FormatContext) -> dict[int, bytes] | None:
    if not spec_plan(spec).structs:
        return None
    captured: dict[int, bytes] | None = None
    if spec.printer == "poll" and len(fc.args) > 3 and fc.args[2]:
        data = fc.mem.try_read(fc.args[2], timespec_size_of(fc, spec.name))
        return {fc.args[2]: data} if data is not None else None
    if spec.printer == "select":
        for addr, size in _select_inputs(fc).items():
            data = fc.mem.try_read(addr, size)
            if data is not None:
                captured = captured or {}
                captured[addr] = data
        return captured
    for kind, value in zip(spec.args, fc.args, strict=False):
        size = ENTRY_CAPTURE.get(kind.name) if isinstance(kind, S.Struct) else None
        if size and value:
            data = fc.mem.try_read(value, size)
            if data is not None:
                captured = captured or {}
                captured[value] = data
    return captured


# Arguments by kind ---------------------------------------------------------------------

UNKNOWN_NAMES: dict[str, str] = {"idtype": "P_???", "pidfd_open": "PIDFD_???",
                                 "wait_options": "W???"}
"""Tables whose values strace prints with a comment when it knows none of their bits
(``0x1 /* PIDFD_??? */``): its xlat default string."""
ZERO_NAMES: dict[str, str] = {"prot": "PROT_NONE"}
"""Flag tables whose zero strace prints by name (``mprotect(..., PROT_NONE)``)."""

def _plain(kind: S.Arg, value: int, fc: FormatContext) -> str:
    return str(value)


def _size(kind: S.Arg, value: int, fc: FormatContext) -> str:
    return str(unsigned(value, fc.word))


def _uint(kind: S.Arg, value: int, fc: FormatContext) -> str:
    return str(value & 0xFFFFFFFF)


def _ptr(kind: S.Arg, value: int, fc: FormatContext) -> str:
    return hex_addr(unsigned(value, fc.word))


def _inbuf(kind: S.Arg, value: int, fc: FormatContext) -> str:
    return format_buffer(fc, value, unsigned(fc.args[kind.length], fc.word))  # type: ignore[attr-defined]


# The commonest kinds by exact type: one dict lookup instead of the isinstance chain
# below, which costs microseconds per argument on the trace's hot path.
_BY_TYPE: dict[type, Callable[[S.Arg, int, FormatContext], str]] = {
    S.Fd: _plain, S.Int: _plain, S.Long: _plain, S.Off: _plain, S.Off64: _plain,
    S.Size: _size, S.UInt: _uint, S.Ptr: _ptr, S.InBuf: _inbuf,
}


def format_arg(kind: S.Arg, value: int, fc: FormatContext) -> str:
    fast = _BY_TYPE.get(type(kind))
    if fast is not None:
        return fast(kind, value, fc)
    if isinstance(kind, S.Fd | S.Int | S.Long | S.Off | S.Off64):
        return str(value)
    if isinstance(kind, S.DirFd):
        return format_dirfd(value)
    if isinstance(kind, S.UInt | S.Size):
        return str(unsigned(value, fc.word) if isinstance(kind, S.Size) else value & 0xFFFFFFFF)
    if isinstance(kind, S.Hex):
        return f"{unsigned(value, fc.word):#x}"
    if isinstance(kind, S.Ptr):
        return hex_addr(unsigned(value, fc.word))
    if isinstance(kind, S.Mode):
        return format_mode(value)
    if isinstance(kind, S.Signal):
        return signal_name(value) if 0 < value <= 64 else str(value)
    if isinstance(kind, S.Path):
        return format_path(fc, value)
    if isinstance(kind, S.InBuf):
        return format_buffer(fc, value, unsigned(fc.args[kind.length], fc.word))
    if isinstance(kind, S.OutBuf):
        if fc.failed or fc.result is None:
            return hex_addr(value)
        length = fc.result if kind.use_ret else fc.args[kind.length]
        return format_buffer(fc, value, length)
    if isinstance(kind, S.OutStr):
        if fc.failed or fc.result is None:
            return hex_addr(value)
        return format_buffer_exact(fc, value, fc.result)
    if isinstance(kind, S.Flags):
        if kind.table == "open":
            return format_open_flags(value, fc.abi)
        flags = unsigned(value, fc.word) & 0xFFFFFFFF if value >= 0 else value
        text = format_flags(flags, fc.abi.table(kind.table),
                            zero=ZERO_NAMES.get(kind.table, "0"))
        unknown = UNKNOWN_NAMES.get(kind.table)
        if unknown and flags and text == f"{flags:#x}":
            text += f" /* {unknown} */"
        return text
    if isinstance(kind, S.Enum_):
        table = fc.abi.table(kind.table)
        unknown = UNKNOWN_NAMES.get(kind.table)
        if unknown and all(v != value for v, _ in table):
            return f"{value & 0xFFFFFFFF:#x} /* {unknown} */"
        return format_enum(value, table)
    if isinstance(kind, S.SigSet):
        if value == 0:
            return "NULL"
        if kind.out and fc.failed:
            return hex_addr(value)
        data = fc.mem.try_read(value, 8)
        return hex_addr(value) if data is None else format_sigset(int.from_bytes(data, "little"))
    if isinstance(kind, S.Struct):
        if value == 0:
            return "NULL"
        if kind.out and fc.failed:
            return hex_addr(value)
        printer = STRUCTS.get(kind.name)
        return printer(fc, value) if printer else hex_addr(value)
    return f"{value:#x}"


def format_buffer_exact(fc: FormatContext, addr: int, length: int) -> str:
    """A string the call wrote, not NUL-terminated (readlink), cut at -s."""
    return format_buffer(fc, addr, length)


# Custom printers -----------------------------------------------------------------------

def _futex_args(fc: FormatContext, bits: int) -> list[str]:
    uaddr, op, val, timeout, uaddr2, val3 = fc.args
    cmd = op & 0x7F & ~FUTEX_PRIVATE_FLAG
    name = format_enum(cmd, FUTEX_CMDS)
    if op & FUTEX_PRIVATE_FLAG:
        name += "_PRIVATE"
    if op & FUTEX_CLOCK_REALTIME:
        name += "|FUTEX_CLOCK_REALTIME"
    if op & ~(0x7F | FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME):
        name = f"{op:#x}"
    parts = [hex_addr(uaddr), name]
    ts = _timespec(fc, timeout, bits) if timeout else "NULL"
    val32 = val & 0xFFFFFFFF
    if cmd == 0:  # WAIT
        parts += [str(val32), ts]
    elif cmd == 9:  # WAIT_BITSET
        parts += [str(val32), ts, "FUTEX_BITSET_MATCH_ANY" if val3 & 0xFFFFFFFF == 0xFFFFFFFF
                  else f"{val3 & 0xFFFFFFFF:#x}"]
    elif cmd == 10:  # WAKE_BITSET
        parts += [str(val32), "FUTEX_BITSET_MATCH_ANY" if val3 & 0xFFFFFFFF == 0xFFFFFFFF
                  else f"{val3 & 0xFFFFFFFF:#x}"]
    elif cmd in (3, 4):  # REQUEUE, CMP_REQUEUE
        parts += [str(val32), str(timeout & 0xFFFFFFFF), hex_addr(uaddr2)]
        if cmd == 4:
            parts.append(str(val3 & 0xFFFFFFFF))
    elif cmd == 5:  # WAKE_OP
        parts += [str(val32), str(timeout & 0xFFFFFFFF), hex_addr(uaddr2), f"{val3:#x}"]
    else:
        parts.append(str(val32))
    return parts


def pr_futex(fc: FormatContext) -> list[str]:
    return _futex_args(fc, fc.abi.time_bits)


def pr_futex64(fc: FormatContext) -> list[str]:
    return _futex_args(fc, 64)


def pr_open(fc: FormatContext) -> list[str]:
    dirfd_first = len(fc.args) == 4
    args = list(fc.args)
    head = [format_dirfd(args.pop(0))] if dirfd_first else []
    path, flags, mode = args[0], args[1], args[2]
    parts = [*head, format_path(fc, path), format_open_flags(flags, fc.abi)]
    of = fc.abi.open_flags
    if flags & 0o100 or flags & of.tmpfile == of.tmpfile:
        parts.append(format_mode(mode))
    return parts


def pr_access(fc: FormatContext) -> list[str]:
    args = list(fc.args)
    parts = []
    if len(args) >= 3:
        parts.append(format_dirfd(args.pop(0)))
    parts.append(format_path(fc, args[0]))
    mode = args[1]
    parts.append("F_OK" if mode == 0 else format_flags(mode, fc.abi.table("access")))
    if len(args) > 2:
        parts.append(format_flags(args[2], fc.abi.table("at_flags")))
    return parts


def pr_mmap(fc: FormatContext) -> list[str]:
    addr, length, prot, flags, fd, offset = fc.args
    map_type = format_enum(flags & 0xF, MAP_TYPES)
    rest = flags & ~0xF & 0xFFFFFFFF
    flags_text = map_type + ("|" + format_flags(rest, fc.abi.table("map")) if rest else "")
    return [hex_addr(addr), str(unsigned(length, fc.word)),
            format_flags(prot, fc.abi.table("prot"), zero="PROT_NONE"), flags_text,
            str(fd), f"{offset:#x}" if offset else "0"]


F_CMDS_NO_ARG = {1, 3, 9, 11, 1025, 1032, 1034}


def pr_fcntl(fc: FormatContext) -> list[str]:
    fd, cmd, arg = fc.args
    parts = [str(fd), format_enum(cmd, fc.abi.table("fcntl_cmd"))]
    if cmd in F_CMDS_NO_ARG:
        return parts
    if cmd == 2:  # F_SETFD
        parts.append(format_flags(arg, fc.abi.table("fd_flags")))
    elif cmd == 4:  # F_SETFL
        parts.append(format_open_flags(arg, fc.abi))
    elif cmd in (0, 1030, 8, 1031):
        parts.append(str(arg if arg < 1 << 31 else arg - (1 << fc.word * 8)))
    else:
        parts.append(hex_addr(arg))
    return parts


IOCTL_NAMES = {0x5401: "TCGETS", 0x5402: "TCSETS", 0x5403: "TCSETSW", 0x5404: "TCSETSF",
               0x540F: "TIOCGPGRP", 0x5410: "TIOCSPGRP", 0x5413: "TIOCGWINSZ",
               0x5414: "TIOCSWINSZ", 0x541B: "FIONREAD", 0x5421: "FIONBIO",
               0x5450: "FIONCLEX", 0x5451: "FIOCLEX"}


def pr_ioctl(fc: FormatContext) -> list[str]:
    fd, request, arg = fc.args
    request &= 0xFFFFFFFF
    return [str(fd), IOCTL_NAMES.get(request, f"{request:#x}"), hex_addr(arg)]


def pr_clone(fc: FormatContext) -> list[str]:
    flags, stack, ptid, a4, a5 = fc.args
    ctid, tls = (a5, a4) if fc.abi.clone_tls_before_ctid else (a4, a5)
    flag_text = format_flags(flags & ~CSIGNAL, CLONE)
    if flags & CSIGNAL:
        sig = signal_name(flags & CSIGNAL)
        flag_text = f"{flag_text}|{sig}" if flags & ~CSIGNAL else sig
    parts = [f"child_stack={hex_addr(stack)}", f"flags={flag_text}"]
    if flags & (0x100000 | 0x1000):  # CLONE_PARENT_SETTID, CLONE_PIDFD: an int stored there
        stored = _read(fc, ptid, 4) if fc.result is not None and not fc.failed else None
        parts.append(f"parent_tid=[{int.from_bytes(stored, 'little', signed=True)}]"
                     if stored is not None else f"parent_tid={hex_addr(ptid)}")
    if flags & (0x200000 | 0x1000000):
        parts.append(f"child_tidptr={hex_addr(ctid)}")
    if flags & 0x80000:
        parts.append(f"tls={hex_addr(tls)}")
    return parts


def pr_clone3(fc: FormatContext) -> list[str]:
    """strace's notation: the fields the flags make meaningful, then what the kernel
    stored (`` => {parent_tid=[N]}``) once the call returned."""
    from syscalls.thread import CLONE_ARGS_FIELDS, CLONE_PIDFD

    addr, size = fc.args[:2]
    raw = _read(fc, addr, len(CLONE_ARGS_FIELDS) * 8) if size >= 64 else None
    if raw is None:
        return [hex_addr(addr), str(size)]
    f = dict(zip(CLONE_ARGS_FIELDS, struct.unpack(f"<{len(CLONE_ARGS_FIELDS)}Q", raw),
                 strict=True))
    flags = f["flags"]
    parts = [f"flags={format_flags(flags, CLONE)}"]
    if flags & CLONE_PIDFD:
        parts.append(f"pidfd={hex_addr(f['pidfd'])}")
    if flags & (0x200000 | 0x1000000):
        parts.append(f"child_tid={hex_addr(f['child_tid'])}")
    if flags & 0x100000:
        parts.append(f"parent_tid={hex_addr(f['parent_tid'])}")
    sig = f["exit_signal"]
    parts.append(f"exit_signal={signal_name(sig) if 0 < sig < 65 else sig}")
    if f["stack"] or f["stack_size"]:
        parts += [f"stack={hex_addr(f['stack'])}", f"stack_size={f['stack_size']:#x}"]
    if flags & 0x80000:
        parts.append(f"tls={hex_addr(f['tls'])}")
    text = "{" + ", ".join(parts) + "}"
    stored = []
    if fc.result is not None and not fc.failed:
        for flag, field in ((CLONE_PIDFD, "pidfd"), (0x100000, "parent_tid")):
            value = _read(fc, f[field], 4) if flags & flag else None
            if value is not None:
                stored.append(f"{field}=[{int.from_bytes(value, 'little', signed=True)}]")
    if stored:
        text += " => {" + ", ".join(stored) + "}"
    return [text, str(size)]


def pr_prctl(fc: FormatContext) -> list[str]:
    option, a2, a3, a4, a5 = fc.args
    name = format_enum(option & 0xFFFFFFFF, fc.abi.table("prctl"))
    if option == 0x53564D41:
        return [name, "PR_SET_VMA_ANON_NAME" if a2 == 0 else str(a2), hex_addr(a3), str(a4),
                format_cstring(fc, a5) if a5 else "NULL"]
    if option in (15, 16):
        return [name, format_cstring(fc, a2) if option == 15 else hex_addr(a2)]
    return [name, *(f"{v:#x}" for v in (a2, a3, a4, a5))]


def pr_getrandom(fc: FormatContext) -> list[str]:
    buf, count, flags = fc.args
    data = format_buffer(fc, buf, fc.result) if fc.result is not None and fc.result >= 0 \
        else hex_addr(buf)
    return [data, str(count), format_flags(flags, fc.abi.table("getrandom"))]


def pr_sched_getaffinity(fc: FormatContext) -> list[str]:
    pid, size, mask = fc.args
    shown = hex_addr(mask) if fc.failed else p_cpuset(fc, mask)
    return [str(pid), str(size & 0xFFFFFFFF), shown]


def pr_arch_prctl(fc: FormatContext) -> list[str]:
    code, addr = fc.args
    name = format_enum(code, fc.abi.table("arch_prctl"))
    if code in (0x1003, 0x1004) and fc.result == 0:
        data = fc.mem.try_read(addr, 8)
        if data is not None:
            return [name, f"[{int.from_bytes(data, 'little'):#x}]"]
    return [name, hex_addr(addr)]


def pr_umask(fc: FormatContext) -> list[str]:
    return [f"{fc.args[0] & 0o777:03o}"]


def pr_llseek(fc: FormatContext) -> list[str]:
    fd, high, low, result, whence = fc.args
    offset = ((high & 0xFFFFFFFF) << 32) | (low & 0xFFFFFFFF)
    if offset & (1 << 63):
        offset -= 1 << 64
    shown = p_loff(fc, result) if fc.result == 0 else hex_addr(result)
    return [str(fd), str(offset), shown, format_enum(whence, fc.abi.table("whence"))]


def pr_poll(fc: FormatContext) -> list[str]:
    parts = [p_pollfds(fc, fc.args[0]), str(fc.args[1])]
    if len(fc.args) == 3:
        parts.append(str(fc.args[2]))
    else:
        ts = fc.args[2]
        bits = 64 if fc.spec_name.endswith("time64") else fc.abi.time_bits
        # ppoll stores the time left there on return: show what the caller passed.
        before = (fc.entry or {}).get(ts) if ts and fc.result is not None else None
        data = before if before is not None else _read(fc, ts, 16 if bits == 64 else 8)
        parts.append("NULL" if not ts else _time_text(data, bits, False) if data is not None
                     else hex_addr(ts))
        parts.append(format_arg(S.SigSet(), fc.args[3], fc))
        parts.append(str(fc.args[4]))
    return parts


def pr_sigreturn(fc: FormatContext) -> list[str]:
    mask = fc.args[0] if fc.args else 0
    return [f"{{mask={format_sigset(mask)}}}"]


def _pointer_array(fc: FormatContext, addr: int, limit: int) -> list[int] | None:
    """The non-NULL words of a NULL-terminated pointer array (argv, envp), at most
    ``limit`` + 1 of them; None if unreadable."""
    out: list[int] = []
    while len(out) <= limit:
        word = _read(fc, addr + len(out) * fc.word, fc.word)
        if word is None:
            return None
        value = int.from_bytes(word, "little")
        if value == 0:
            break
        out.append(value)
    return out


def pr_execve(fc: FormatContext) -> list[str]:
    path, argv, envp = fc.args[:3]
    args = _pointer_array(fc, argv, fc.strsize) if argv else None
    if args is None:
        argv_text = hex_addr(argv) if argv else "NULL"
    else:
        shown = [format_cstring(fc, a) for a in args[:fc.strsize]]
        argv_text = "[" + ", ".join(shown + (["..."] if len(args) > fc.strsize else [])) + "]"
    env = _pointer_array(fc, envp, 1 << 16) if envp else None
    envp_text = (f"{hex_addr(envp)} /* {len(env)} vars */" if env is not None
                 else hex_addr(envp) if envp else "NULL")
    return [format_cstring(fc, path), argv_text, envp_text]


def format_wait_status(status: int) -> str:
    """A wait status as strace spells it: the macros that decode it."""
    sig = status & 0x7F
    if sig == 0:
        return f"[{{WIFEXITED(s) && WEXITSTATUS(s) == {(status >> 8) & 0xFF}}}]"
    if sig == 0x7F:
        return f"[{{WIFSTOPPED(s) && WSTOPSIG(s) == {signal_name((status >> 8) & 0xFF)}}}]"
    core = " && WCOREDUMP(s)" if status & 0x80 else ""
    return f"[{{WIFSIGNALED(s) && WTERMSIG(s) == {signal_name(sig)}{core}}}]"


def pr_wait4(fc: FormatContext) -> list[str]:
    pid, status, options, rusage = fc.args[:4]
    pid = pid - (1 << 32) if pid & 0x80000000 and pid < (1 << 32) else pid
    if pid >= 1 << 63:
        pid -= 1 << 64
    status_text = "NULL" if not status else hex_addr(status)
    if status and fc.result is not None and fc.result > 0:
        word = _read(fc, status, 4)
        if word is not None:
            status_text = format_wait_status(int.from_bytes(word, "little"))
    return [str(pid), status_text,
            format_flags(options & 0xFFFFFFFF, fc.abi.table("wait_options")),
            "NULL" if not rusage else hex_addr(rusage)]


def format_fdset(data: bytes) -> str:
    bits = int.from_bytes(data, "little")
    return "[" + " ".join(str(fd) for fd in range(len(data) * 8) if bits >> fd & 1) + "]"


def _time_text(data: bytes, bits: int, micro: bool) -> str:
    sec, frac = struct.unpack("<qq" if bits == 64 else "<ii", data)
    return f"{{tv_sec={sec}, tv_usec={frac}}}" if micro else f"{{tv_sec={sec}, tv_nsec={frac}}}"


def _select_time(fc: FormatContext) -> tuple[int, bool]:
    name = fc.spec_name
    bits = 64 if name.endswith("time64") else fc.abi.time_bits
    return bits, name in ("select", "_newselect")


def pr_select(fc: FormatContext) -> list[str]:
    """The sets and the timeout as they were when the call was entered."""
    inputs = _select_inputs(fc)
    parts = [str(_signed32(fc.args[0]))]
    for addr in (*fc.args[1:4], fc.args[4]):
        if not addr:
            parts.append("NULL")
            continue
        data = (fc.entry or {}).get(addr) if fc.result is not None else None
        if data is None:
            data = _read(fc, addr, inputs.get(addr, 0)) if addr in inputs else None
        if data is None:
            parts.append(hex_addr(addr))
        elif addr == fc.args[4] and len(parts) == 4:
            bits, micro = _select_time(fc)
            parts.append(_time_text(data, bits, micro))
        else:
            parts.append(format_fdset(data))
    if len(fc.args) > 5 and not fc.spec_name.endswith("select"):
        sigdata = fc.args[5]
        if not sigdata:
            parts.append("NULL")
        else:
            words = _read(fc, sigdata, 2 * fc.word)
            if words is None:
                parts.append(hex_addr(sigdata))
            else:
                ptr = int.from_bytes(words[:fc.word], "little")
                length = int.from_bytes(words[fc.word:], "little")
                mask = _read(fc, ptr, 8) if ptr else None
                mask_text = (format_sigset(int.from_bytes(mask, "little")) if mask is not None
                             else "NULL" if not ptr else hex_addr(ptr))
                parts.append(f"{{sigmask={mask_text}, sigsetsize={length}}}")
    return parts


def select_outcome(fc: FormatContext, result: int) -> str:
    """strace's note after select's result: which sets are ready and the time left."""
    if result == 0:
        return " (Timeout)"
    inputs = _select_inputs(fc)
    notes = []
    for label, addr in zip(("in", "out", "except"), fc.args[1:4], strict=True):
        data = _read(fc, addr, inputs[addr]) if addr in inputs else None
        if data is not None and any(data):
            notes.append(f"{label} {format_fdset(data)}")
    if fc.args[4]:
        data = _read(fc, fc.args[4], inputs[fc.args[4]])
        if data is not None:
            bits, micro = _select_time(fc)
            notes.append(f"left {_time_text(data, bits, micro)}")
    return f" ({', '.join(notes)})" if notes else ""


def poll_outcome(fc: FormatContext, result: int) -> str:
    if result == 0:
        return " (Timeout)"
    nfds = fc.args[1]
    data = _read(fc, fc.args[0], min(nfds, 1024) * 8)
    if data is None:
        return ""
    ready = [f"{{fd={fd}, revents={format_flags(rev & 0xFFFF, fc.abi.table('poll_events'))}}}"
             for fd, _, rev in struct.iter_unpack("<ihh", data) if rev]
    notes = ["[" + ", ".join(ready) + "]"]
    if len(fc.args) > 3 and fc.args[2]:
        bits = 64 if fc.spec_name.endswith("time64") else fc.abi.time_bits
        left = _read(fc, fc.args[2], 16 if bits == 64 else 8)
        if left is not None:
            notes.append(f"left {_time_text(left, bits, False)}")
    return f" ({', '.join(notes)})"


def pr_socketcall(fc: FormatContext) -> list[str]:
    """Only what socketcall refused is printed as socketcall (strace's notation): the calls
    it carries print as themselves."""
    from syscalls.socketcall import CALL_NAMES

    call, args = fc.args
    return [CALL_NAMES.get(call, str(call)), hex_addr(unsigned(args, fc.word))]


PRINTERS: dict[str, Callable[[FormatContext], list[str]]] = {
    "futex": pr_futex,
    "futex64": pr_futex64,
    "open": pr_open,
    "access": pr_access,
    "mmap": pr_mmap,
    "fcntl": pr_fcntl,
    "ioctl": pr_ioctl,
    "clone": pr_clone,
    "prctl": pr_prctl,
    "getrandom": pr_getrandom,
    "sched_getaffinity": pr_sched_getaffinity,
    "arch_prctl": pr_arch_prctl,
    "umask": pr_umask,
    "llseek": pr_llseek,
    "poll": pr_poll,
    "sigreturn": pr_sigreturn,
    "socketcall": pr_socketcall,
    "execve": pr_execve,
    "select": pr_select,
    "clone3": pr_clone3,
    "wait4": pr_wait4,
}


SPLIT_PRINTERS = {"clone": 2, "wait4": 1}
"""Printers whose first N parts strace shows at entry and the rest when the call returns
(clone: child_stack and flags, then what the kernel stored: parent_tid=[pid])."""


class SpecPlan:
    """What the tracer derives from a spec's argument kinds, once per spec."""

    __slots__ = ("joined", "spec", "split", "structs")

    def __init__(self, spec: S.SyscallSpec) -> None:
        self.spec = spec
        """Kept so that the spec's id, the cache key, cannot be reused."""
        self.joined: dict[tuple[int, int, int], Callable[[FormatContext], str]] = {}
        """Compiled :func:`joined_args` by (start, stop, word size)."""
        self.split = _split_args(spec)
        self.structs = spec.printer in ENTRY_PRINTERS or any(
            isinstance(kind, S.Struct) for kind in spec.args)


_PLANS: dict[int, SpecPlan] = {}
"""By spec identity: hashing a spec would hash every field."""


def _plan(spec: S.SyscallSpec) -> SpecPlan:
    plan = _PLANS.get(id(spec))
    if plan is None or plan.spec is not spec:
        plan = _PLANS[id(spec)] = SpecPlan(spec)
    return plan


def spec_plan(spec: S.SyscallSpec) -> SpecPlan:
    """What the tracer derives from ``spec`` (cached)."""
    return _plan(spec)


def split_args(spec: S.SyscallSpec) -> int:
    """How many leading arguments strace prints when the call is entered."""
    return _plan(spec).split


def _split_args(spec: S.SyscallSpec) -> int:
    if spec.printer is not None:
        return SPLIT_PRINTERS.get(spec.printer, len(spec.args))
    for i, kind in enumerate(spec.args):
        if kind.out:
            return i
    return len(spec.args)


def format_args(spec: S.SyscallSpec, fc: FormatContext, start: int = 0,
                stop: int | None = None) -> list[str]:
    if spec.printer is not None:
        parts = PRINTERS[spec.printer](fc)
        return parts[start:stop]
    if start >= len(spec.args):
        return []
    kinds = spec.args[start:stop]
    return [format_arg(k, v, fc) for k, v in zip(kinds, fc.args[start:], strict=False)]


_INLINE: dict[type, str] = {
    S.Fd: "str({v})", S.Int: "str({v})", S.Long: "str({v})", S.Off: "str({v})",
    S.Off64: "str({v})", S.Size: "str({v} & {mask})", S.UInt: "str({v} & 0xFFFFFFFF)",
    S.Ptr: "hex_addr({v} & {mask})",
}
"""format_arg of the commonest kinds as expressions (same text, see _BY_TYPE)."""


def joined_args(spec: S.SyscallSpec, fc: FormatContext, start: int = 0,
                stop: int | None = None, plan: SpecPlan | None = None) -> str:
    """``", ".join(format_args(spec, fc, start, stop))``, for a spec without a printer,
    through a function compiled once per spec, range and word size: the traced path
    then makes no per-argument dispatch, slice or list."""
    end = len(spec.args) if stop is None else min(stop, len(spec.args))
    if start >= end:
        return ""
    if spec.printer is not None or len(fc.args) < end:
        return ", ".join(format_args(spec, fc, start, stop))
    if plan is None:
        plan = _plan(spec)
    key = (start, end, fc.abi.word_size)
    join = plan.joined.get(key)
    if join is None:
        join = plan.joined[key] = _compile_joined(spec, start, end, fc.abi.word_size)
    return join(fc)


def _compile_joined(spec: S.SyscallSpec, start: int, end: int,
                    word: int) -> Callable[[FormatContext], str]:
    mask = (1 << (8 * word)) - 1
    namespace: dict[str, object] = {"hex_addr": hex_addr, "format_arg": format_arg,
                                    "buffer_text": buffer_text}
    parts = []
    for i in range(start, end):
        kind = spec.args[i]
        value = f"a[{i}]"
        template = _INLINE.get(type(kind))
        if template is not None:
            parts.append(template.format(v=value, mask=mask))
        elif type(kind) is S.InBuf:
            parts.append(
                f"buffer_text(fc.mem.raw.read, fc.strsize, {value}, a[{kind.length}] & {mask})")
        else:
            namespace[f"k{i}"] = kind
            parts.append(f"format_arg(k{i}, {value}, fc)")
    body = ' + ", " + '.join(parts) if parts else '""'
    source = f"def joined(fc):\n    a = fc.args\n    return {body}\n"
    exec(compile(source, f"<strace args {spec.name} {start}:{end}>", "exec"), namespace)
    return namespace["joined"]  # type: ignore[return-value]


def compile_head(spec: S.SyscallSpec, stop: int, word: int, mem: GuestMemory,
                 strsize: int, read: Callable[[int, int], bytes] | None = None,
                 ) -> Callable[[Sequence[int]], str] | None:
    """``joined_args(spec, fc, 0, stop)`` as a function of the argument values alone,
    for one tracer's memory and ``-s``, when every argument in the range is of a kind
    that needs nothing else (numbers, pointers, input buffers); None otherwise. The
    traced path then builds no FormatContext for the call's entry. ``read`` reads input
    buffers instead of the guest memory's raw reader."""
    if spec.printer is not None or stop > len(spec.args):
        return None
    mask = (1 << (8 * word)) - 1
    parts = []
    for i in range(stop):
        kind = spec.args[i]
        template = _INLINE.get(type(kind))
        if template is not None:
            parts.append(template.format(v=f"a[{i}]", mask=mask))
        elif type(kind) is S.InBuf:
            parts.append(f"buffer_text(read, {strsize}, a[{i}], a[{kind.length}] & {mask})")
        else:
            return None
    namespace: dict[str, object] = {"hex_addr": hex_addr, "buffer_text": buffer_text,
                                    "read": mem.raw.read if read is None else read}
    body = ' + ", " + '.join(parts) if parts else '""'
    source = f"def head(a):\n    return {body}\n"
    exec(compile(source, f"<strace head {spec.name} :{stop}>", "exec"), namespace)
    return namespace["head"]  # type: ignore[return-value]


# Results -------------------------------------------------------------------------------

RESTART_CODES = {int(Errno.ERESTARTSYS), int(Errno.ERESTARTNOINTR), int(Errno.ERESTARTNOHAND),
                 int(Errno.ERESTART_RESTARTBLOCK)}


def format_result(spec: S.SyscallSpec, fc: FormatContext, result: int | None) -> str:
    if result is None:
        return "?"
    if result >= 0 and spec.printer is None and spec.ret is not S.Ret.HEX:
        return str(result)
    if -4095 <= result < 0:
        code = -result
        try:
            err = Errno(code)
        except ValueError:
            return f"-1 {code}"
        if code in RESTART_CODES:
            return f"? {err.name} ({err.message})"
        return f"-1 {err.name} ({err.message})"
    if spec.ret is S.Ret.HEX:
        return f"{unsigned(result, fc.word):#x}"
    if spec.printer == "fcntl":
        cmd = fc.args[1]
        if cmd == 3:
            return f"{result:#x} (flags {format_open_flags(result, fc.abi)})" if result else \
                f"0 (flags {format_open_flags(0, fc.abi)})"
        if cmd == 1 and result:
            return f"{result:#x} (flags {format_flags(result, fc.abi.table('fd_flags'))})"
    if spec.printer == "umask":
        return f"{result:03o}"
    if spec.printer == "select":
        return str(result) + select_outcome(fc, result)
    if spec.printer == "poll":
        return str(result) + poll_outcome(fc, result)
    return str(result)


# Signals -------------------------------------------------------------------------------

SI_CODES = {0: "SI_USER", 0x80: "SI_KERNEL", -1: "SI_QUEUE", -2: "SI_TIMER", -3: "SI_MESGQ",
            -4: "SI_ASYNCIO", -5: "SI_SIGIO", -6: "SI_TKILL", -7: "SI_DETHREAD",
            -60: "SI_ASYNCNL"}
FAULT_CODES = {
    11: {1: "SEGV_MAPERR", 2: "SEGV_ACCERR"},
    7: {1: "BUS_ADRALN", 2: "BUS_ADRERR", 3: "BUS_OBJERR"},
    8: {1: "FPE_INTDIV", 2: "FPE_INTOVF", 3: "FPE_FLTDIV"},
    4: {1: "ILL_ILLOPC", 2: "ILL_ILLOPN", 3: "ILL_ILLADR"},
    5: {1: "TRAP_BRKPT", 2: "TRAP_TRACE"},
}


def format_siginfo(info: SigInfo) -> str:
    name = signal_name(info.signo)
    code = SI_CODES.get(info.code) if info.code <= 0 or info.code == 0x80 else \
        CLD_CODES.get(info.code) if info.signo == SIGCHLD else \
        FAULT_CODES.get(info.signo, {}).get(info.code)
    code_text = code or str(info.code)
    fields = [f"si_signo={name}", f"si_code={code_text}"]
    if info.addr is not None and info.code > 0 and info.code != 0x80:
        fields.append(f"si_addr={hex_addr(info.addr)}")
    elif info.code == -2 and info.timerid is not None:
        fields += [f"si_timerid={info.timerid:#x}" if info.timerid else "si_timerid=0",
                   f"si_overrun={info.overrun}",
                   f"si_int={(info.value & 0xFFFFFFFF) - ((info.value & 0x80000000) << 1)}",
                   f"si_ptr={hex_addr(info.value) if info.value else 'NULL'}"]
    elif info.code <= 0 and info.code != -2:
        # strace's print_si_info for senders' codes: who sent it, and the sigval if any.
        fields += [f"si_pid={info.pid}", f"si_uid={info.uid}"]
        if info.code not in (0, -6) and info.value:
            low = info.value & 0xFFFFFFFF
            fields += [f"si_int={low - (1 << 32) if low & 0x80000000 else low}",
                       f"si_ptr={info.value:#x}"]
    elif info.code == 0x80 and info.signo in (11, 7):
        fields.append("si_addr=NULL")
    elif info.signo == SIGCHLD and info.code in CLD_CODES:
        status = info.status - (1 << 32) if info.status & 0x80000000 else info.status
        status_text = signal_name(status) if info.code != 1 and 0 < status < 65 else str(status)
        fields += [f"si_pid={info.pid}", f"si_uid={info.uid}", f"si_status={status_text}",
                   "si_utime=0", "si_stime=0"]
    return "{" + ", ".join(fields) + "}"


SIGCHLD = 17
CLD_CODES = {1: "CLD_EXITED", 2: "CLD_KILLED", 3: "CLD_DUMPED", 4: "CLD_TRAPPED",
             5: "CLD_STOPPED", 6: "CLD_CONTINUED"}

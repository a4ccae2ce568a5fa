"""strace's notation for sockets: addresses, option names and values, message headers.

Registered into :mod:`emulator.trace.format`'s tables on import. Formats follow strace
6.x (src/sockaddr.c, src/net.c): ``{sa_family=AF_INET, sin_port=htons(80),
sin_addr=inet_addr("127.0.0.1")}``, value-result lengths as ``[112 => 16]``.
"""

from __future__ import annotations

import socket
import struct

from emulator.trace import format as F
from emulator.trace.format import FormatContext, format_buffer, format_flags, hex_addr, quote
from syscalls.errno import Errno

FAMILIES = {0: "AF_UNSPEC", 1: "AF_UNIX", 2: "AF_INET", 10: "AF_INET6", 16: "AF_NETLINK",
            17: "AF_PACKET"}
SOCK_TYPES = {1: "SOCK_STREAM", 2: "SOCK_DGRAM", 3: "SOCK_RAW", 4: "SOCK_RDM",
              5: "SOCK_SEQPACKET", 6: "SOCK_DCCP", 10: "SOCK_PACKET"}
IP_PROTOCOLS = {0: "IPPROTO_IP", 1: "IPPROTO_ICMP", 6: "IPPROTO_TCP", 17: "IPPROTO_UDP",
                41: "IPPROTO_IPV6", 58: "IPPROTO_ICMPV6", 132: "IPPROTO_SCTP",
                255: "IPPROTO_RAW"}
LEVELS = {0: "SOL_IP", 1: "SOL_SOCKET", 6: "SOL_TCP", 17: "SOL_UDP", 41: "SOL_IPV6"}
OPTIONS: dict[int, dict[int, str]] = {
    1: {1: "SO_DEBUG", 2: "SO_REUSEADDR", 3: "SO_TYPE", 4: "SO_ERROR", 5: "SO_DONTROUTE",
        6: "SO_BROADCAST", 7: "SO_SNDBUF", 8: "SO_RCVBUF", 9: "SO_KEEPALIVE",
        10: "SO_OOBINLINE", 11: "SO_NO_CHECK", 12: "SO_PRIORITY", 13: "SO_LINGER",
        14: "SO_BSDCOMPAT", 15: "SO_REUSEPORT", 16: "SO_PASSCRED", 17: "SO_PEERCRED",
        18: "SO_RCVLOWAT", 19: "SO_SNDLOWAT", 20: "SO_RCVTIMEO_OLD", 21: "SO_SNDTIMEO_OLD",
        25: "SO_BINDTODEVICE", 30: "SO_ACCEPTCONN", 32: "SO_SNDBUFFORCE",
        33: "SO_RCVBUFFORCE", 38: "SO_PROTOCOL", 39: "SO_DOMAIN"},
    6: {1: "TCP_NODELAY", 2: "TCP_MAXSEG", 3: "TCP_CORK", 4: "TCP_KEEPIDLE",
        5: "TCP_KEEPINTVL", 6: "TCP_KEEPCNT", 7: "TCP_SYNCNT", 8: "TCP_LINGER2",
        9: "TCP_DEFER_ACCEPT", 10: "TCP_WINDOW_CLAMP", 11: "TCP_INFO", 12: "TCP_QUICKACK",
        13: "TCP_CONGESTION", 18: "TCP_USER_TIMEOUT", 23: "TCP_FASTOPEN",
        25: "TCP_NOTSENT_LOWAT", 30: "TCP_FASTOPEN_CONNECT"},
    0: {1: "IP_TOS", 2: "IP_TTL", 3: "IP_HDRINCL", 4: "IP_OPTIONS", 8: "IP_PKTINFO",
        10: "IP_MTU_DISCOVER", 11: "IP_RECVERR", 12: "IP_RECVTTL", 14: "IP_MTU",
        32: "IP_MULTICAST_IF", 33: "IP_MULTICAST_TTL", 34: "IP_MULTICAST_LOOP",
        35: "IP_ADD_MEMBERSHIP", 36: "IP_DROP_MEMBERSHIP"},
    41: {16: "IPV6_UNICAST_HOPS", 17: "IPV6_MULTICAST_IF", 18: "IPV6_MULTICAST_HOPS",
         19: "IPV6_MULTICAST_LOOP", 20: "IPV6_ADD_MEMBERSHIP", 21: "IPV6_DROP_MEMBERSHIP",
         26: "IPV6_V6ONLY", 49: "IPV6_RECVPKTINFO", 67: "IPV6_TCLASS"},
    17: {1: "UDP_CORK"},
}
SOCK_FLAGS = ((0o2000000, "SOCK_CLOEXEC"), (0o4000, "SOCK_NONBLOCK"))


def _name(table: dict[int, str], value: int) -> str:
    return table.get(value, str(value) if 0 <= value < 10 else f"{value:#x}")


def format_sockaddr(raw: bytes) -> str:
    if len(raw) < 2:
        return "{sa_family=AF_UNSPEC}" if not raw else f"{{sa_family={raw[0]}}}"
    family = struct.unpack_from("<H", raw)[0]
    head = f"sa_family={_name(FAMILIES, family)}"
    if family == socket.AF_INET and len(raw) >= 8:
        port = struct.unpack_from(">H", raw, 2)[0]
        addr = socket.inet_ntop(socket.AF_INET, raw[4:8])
        return f'{{{head}, sin_port=htons({port}), sin_addr=inet_addr("{addr}")}}'
    if family == socket.AF_INET6 and len(raw) >= 24:
        port, flow = struct.unpack_from(">HI", raw, 2)
        addr = socket.inet_ntop(socket.AF_INET6, raw[8:24])
        scope = struct.unpack_from("<I", raw, 24)[0] if len(raw) >= 28 else 0
        return (f"{{{head}, sin6_port=htons({port}), sin6_flowinfo=htonl({flow}), "
                f'inet_pton(AF_INET6, "{addr}", &sin6_addr), sin6_scope_id={scope}}}')
    if family == socket.AF_UNIX:
        path = raw[2:]
        if not path:
            return f"{{{head}}}"
        if path[0] == 0:
            return f"{{{head}, sun_path=@{quote(path[1:])}}}"
        name = path.split(b"\0", 1)[0]
        return f"{{{head}, sun_path={quote(name)}}}"
    return f"{{{head}, sa_data={quote(raw[2:])}}}"


def _arg_index(fc: FormatContext, addr: int) -> int:
    for i in range(len(fc.args) - 1, -1, -1):
        if fc.args[i] == addr:
            return i
    return -1


def p_sockaddr_in(fc: FormatContext, addr: int) -> str:
    """An input address whose length is the value of the next argument."""
    i = _arg_index(fc, addr)
    length = fc.args[i + 1] & 0xFFFFFFFF if 0 <= i < len(fc.args) - 1 else 16
    raw = fc.mem.try_read(addr, min(length, 128))
    return hex_addr(addr) if raw is None else format_sockaddr(raw)


def p_sockaddr_out(fc: FormatContext, addr: int) -> str:
    """An output address whose length is behind the next argument (a socklen_t *)."""
    if fc.failed or fc.result is None:
        return hex_addr(addr)
    i = _arg_index(fc, addr)
    if not 0 <= i < len(fc.args) - 1:
        return hex_addr(addr)
    length_raw = fc.mem.try_read(fc.args[i + 1], 4)
    if length_raw is None:
        return hex_addr(addr)
    length = int.from_bytes(length_raw, "little")
    before = (fc.entry or {}).get(fc.args[i + 1])
    room = int.from_bytes(before, "little") if before else length
    raw = fc.mem.try_read(addr, min(length, room, 128))
    return hex_addr(addr) if raw is None else format_sockaddr(raw)


def p_socklen_inout(fc: FormatContext, addr: int) -> str:
    now = fc.mem.try_read(addr, 4)
    before = (fc.entry or {}).get(addr)
    if now is None:
        return hex_addr(addr)
    new = int.from_bytes(now, "little")
    if before is None or fc.failed or fc.result is None:
        return f"[{int.from_bytes(before, 'little') if before else new}]"
    old = int.from_bytes(before, "little")
    return f"[{new}]" if old == new else f"[{old} => {new}]"


def p_msghdr(fc: FormatContext, addr: int) -> str:
    word = fc.word
    size = 56 if word == 8 else 28
    raw = fc.mem.try_read(addr, size)
    if raw is None or (fc.result is not None and fc.failed and fc.entry is not None
                       and addr not in fc.entry):
        return hex_addr(addr)
    if word == 8:
        name, namelen, iov, iovlen, control, controllen, flags = struct.unpack(
            "<QI4xQQQQi", raw[:52])
    else:
        name, namelen, iov, iovlen, control, controllen, flags = struct.unpack("<IIIIIIi", raw)
    receiving = fc.result is not None
    name_text = hex_addr(name)
    if name and namelen:
        data = fc.mem.try_read(name, min(namelen, 128))
        if data is not None:
            name_text = format_sockaddr(data)
    iovs = []
    remaining = fc.result if receiving and fc.result is not None and fc.result >= 0 else None
    vec = fc.mem.try_read(iov, iovlen * 2 * word) if iovlen <= 1024 else None
    if vec is not None:
        for base, length in struct.iter_unpack("<QQ" if word == 8 else "<II", vec):
            shown = length if remaining is None else min(length, remaining)
            if remaining is not None:
                remaining -= shown
            iovs.append(f"{{iov_base={format_buffer(fc, base, shown)}, iov_len={length}}}")
    iov_text = "[" + ", ".join(iovs) + "]" if vec is not None else hex_addr(iov)
    flags_text = format_flags(flags & 0xFFFFFFFF, fc.abi.table("msg_flags"))
    del control
    return (f"{{msg_name={name_text}, msg_namelen={namelen}, msg_iov={iov_text}, "
            f"msg_iovlen={iovlen}, msg_controllen={controllen}, msg_flags={flags_text}}}")


def _sock_type(value: int) -> str:
    kind = _name(SOCK_TYPES, value & 0xF)
    rest = value & ~0xF
    return kind + ("|" + format_flags(rest, SOCK_FLAGS) if rest else "")


def pr_socket(fc: FormatContext) -> list[str]:
    family, type_, protocol = fc.args[:3]
    proto = (_name(IP_PROTOCOLS, protocol) if family in (socket.AF_INET, socket.AF_INET6)
             else str(protocol))
    return [_name(FAMILIES, family), _sock_type(type_), proto]


def pr_socketpair(fc: FormatContext) -> list[str]:
    return [*pr_socket(fc), F.p_fdpair(fc, fc.args[3]) if not fc.failed and fc.result is not None
            else hex_addr(fc.args[3])]


def _option_value(fc: FormatContext, level: int, name: int, addr: int, length: int) -> str:
    raw = fc.mem.try_read(addr, length) if length >= 0 else None
    if raw is None:
        return hex_addr(addr)
    if level == 1 and name == 13 and length >= 8:
        onoff, linger = struct.unpack_from("<ii", raw)
        return f"{{l_onoff={onoff}, l_linger={linger}}}"
    if level == 1 and name == 17 and length >= 12:
        pid, uid, gid = struct.unpack_from("<iII", raw)
        return f"{{pid={pid}, uid={uid}, gid={gid}}}"
    if length == 4:
        value = struct.unpack("<i", raw)[0]
        if level == 1 and name == 4 and value > 0:
            try:
                return f"[{Errno(value).name}]"
            except ValueError:
                return f"[{value}]"
        return f"[{value}]"
    return format_buffer(fc, addr, length)


def pr_setsockopt(fc: FormatContext) -> list[str]:
    fd, level, name, value, length = fc.args[:5]
    return [str(fd), _name(LEVELS, level), _name(OPTIONS.get(level, {}), name),
            _option_value(fc, level, name, value, length), str(length & 0xFFFFFFFF)]


def pr_getsockopt(fc: FormatContext) -> list[str]:
    fd, level, name, value, length_ptr = fc.args[:5]
    head = [str(fd), _name(LEVELS, level), _name(OPTIONS.get(level, {}), name)]
    if fc.result is None:
        return head
    length_raw = fc.mem.try_read(length_ptr, 4)
    if fc.failed or length_raw is None:
        before = (fc.entry or {}).get(length_ptr) or length_raw
        shown = f"[{int.from_bytes(before, 'little')}]" if before else hex_addr(length_ptr)
        return [*head, hex_addr(value), shown]
    length = int.from_bytes(length_raw, "little")
    return [*head, _option_value(fc, level, name, value, length),
            p_socklen_inout(fc, length_ptr)]


def register() -> None:
    F.STRUCTS.update({
        "sockaddr_in": p_sockaddr_in,
        "sockaddr_out": p_sockaddr_out,
        "socklen_inout": p_socklen_inout,
        "msghdr": p_msghdr,
    })
    F.ENTRY_CAPTURE.update({"socklen_inout": 4, "sockopt_len": 4})
    F.PRINTERS.update({
        "socket": pr_socket,
        "socketpair": pr_socketpair,
        "setsockopt": pr_setsockopt,
        "getsockopt": pr_getsockopt,
    })


register()

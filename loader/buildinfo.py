"""Go build information, read the way ``go version -m BINARY`` reads it.

Sources (read for the format, code written here from them):

* Go's src/debug/buildinfo/buildinfo.go (readRawBuildInfo, searchMagic, decodeString,
  readString, elfExe.DataStart): the linker leaves a blob in ``.go.buildinfo`` (or near
  the start of the first writable segment) made of a 32-byte header, 16-byte aligned:
  the 14-byte magic ``"\\xff Go buildinf:"``, the pointer size, and a flags byte whose
  bit 0 is the byte order and bit 1 says how the two strings (runtime.buildVersion,
  runtime.modinfo) follow. Since Go 1.18 (bit 1 set) they are inline after the header,
  each a uvarint length and the bytes. Before 1.18 the header holds two pointers, at
  the pointer size and byte order, to Go string headers ``{data pointer, length}``
  somewhere in the image, read through the PT_LOAD segments.
* cmd/go/internal/modload (infoStart/infoEnd): modinfo is framed by two 16-byte
  sentinels; readRawBuildInfo strips them when the 17th byte from the end is ``\\n``.
* src/runtime/debug/mod.go (ParseBuildInfo, BuildInfo.String, quoteKey, quoteValue):
  the line format (``path``, ``mod``, ``dep``, ``=>``, ``build`` lines, tab-separated,
  keys and values Go-quoted when they hold blanks or quotes) parsed and re-printed.
* src/cmd/go/internal/version/version.go (scanFile): ``go version -m`` prints
  ``FILE: GOVERSION`` and then ``BuildInfo.String()`` with every line indented by a tab.

Everything is bounds-checked; a file without build info, or with a blob Go itself would
refuse, gives ``None``, never an exception.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from loader.elf import PF_W, ElfInfo

BUILDINFO_MAGIC = b"\xff Go buildinf:"
HEADER_SIZE = 32  # buildInfoHeaderSize
ALIGN = 16  # buildInfoAlign
FLAGS_BIG_ENDIAN = 0x1
FLAGS_INLINE = 0x2  # flagsVersionInl: strings follow the header (Go >= 1.18)
# cmd/go/internal/modload infoStart / infoEnd are 16 bytes each.
SENTINEL_SIZE = 16
MAX_VARINT_LEN = 10  # binary.MaxVarintLen64

ByteOrder = Literal["little", "big"]


class BuildInfoError(ValueError):
    """ParseBuildInfo's refusal (one line, with Go's wording and line number)."""


@dataclass(frozen=True, slots=True)
class Module:
    """runtime/debug.Module: one ``mod``/``dep`` line, and its ``=>`` replacement."""

    path: str
    version: str
    sum: str = ""
    replace: Module | None = None


@dataclass(frozen=True, slots=True)
class GoBuildInfo:
    """runtime/debug.BuildInfo plus where it was found.

    ``main`` is None when the binary has no ``mod`` line (GOPATH builds, or modinfo
    empty); ``settings`` keeps Go's order, e.g. ``("-buildmode", "exe")``,
    ``("-compiler", "gc")``, ``("CGO_ENABLED", "0")``, ``("GOARCH", "arm")``,
    ``("GOARM", "7")``. ``layout`` is ``"inline"`` (Go >= 1.18) or ``"pointer"``.
    """

    go_version: str
    path: str
    main: Module | None
    deps: tuple[Module, ...]
    settings: tuple[tuple[str, str], ...]
    address: int
    layout: str

    def setting(self, key: str) -> str | None:
        """The value of the last ``build`` line with this key (Go keeps them unique)."""
        found = None
        for k, v in self.settings:
            if k == key:
                found = v
        return found


# Reading the blob -------------------------------------------------------------------------

def read_buildinfo(info: ElfInfo) -> GoBuildInfo | None:
    """The Go build info of an ELF image, or None (not a Go binary, or a corrupt blob)."""
    found = _find_blob(info)
    if found is None:
        return None
    addr, layout, vers, mod = found
    if not vers:
        return None
    # Strip the modinfo framing exactly as readRawBuildInfo does (byte lengths).
    if len(mod) >= 2 * SENTINEL_SIZE + 1 and mod[-SENTINEL_SIZE - 1] == ord("\n"):
        mod = mod[SENTINEL_SIZE:-SENTINEL_SIZE]
    else:
        mod = b""
    try:
        path, main, deps, settings = parse_modinfo(_text(mod))
    except BuildInfoError:
        return None
    return GoBuildInfo(_text(vers), path, main, tuple(deps), tuple(settings), addr, layout)


def _text(raw: bytes) -> str:
    # Go strings are bytes; surrogateescape keeps invalid UTF-8 round-trippable (see go_quote).
    return raw.decode("utf-8", "surrogateescape")


def _find_blob(info: ElfInfo) -> tuple[int, str, bytes, bytes] | None:
    header_addr = _search(info)
    if header_addr is None:
        return None
    header = _read(info, header_addr, HEADER_SIZE)
    if header is None:
        return None
    flags = header[15]
    if flags & FLAGS_INLINE:
        first = _decode_string(info, header_addr + HEADER_SIZE)
        if first is None:
            return None
        vers, next_addr = first
        second = _decode_string(info, next_addr)
        if second is None:
            return None
        return header_addr, "inline", vers, second[0]
    ptr_size = header[14]
    if ptr_size not in (4, 8):
        return None
    order: ByteOrder = "big" if flags & FLAGS_BIG_ENDIAN else "little"
    vers_ptr = int.from_bytes(header[16:16 + ptr_size], order)
    mod_ptr = int.from_bytes(header[16 + ptr_size:16 + 2 * ptr_size], order)
    vers_s = _read_go_string(info, vers_ptr, ptr_size, order)
    mod_s = _read_go_string(info, mod_ptr, ptr_size, order)
    # readString turns every failure into "": a missing version means "not a Go binary".
    return header_addr, "pointer", vers_s, mod_s


def _search(info: ElfInfo) -> int | None:
    """Address of the aligned magic: in ``.go.buildinfo`` if the section headers name it,
    else in the file bytes of the writable PT_LOADs, in address order (a binary whose
    section headers were removed). Go itself looks only in the first writable non-exec
    segment, which in the Go 1.27 PIEs of bins/ is the RELRO one without the blob, so
    every writable segment is searched here."""
    from loader.elfsym import find_section  # pyelftools stays out of this module's imports

    section = find_section(info, ".go.buildinfo")
    if section is not None:
        return _search_range(info, section[0], section[1])
    for p in sorted(info.loads, key=lambda p: p.vaddr):
        if p.flags & PF_W and p.filesz:
            found = _search_range(info, p.vaddr, p.filesz)
            if found is not None:
                return found
    return None


def _search_range(info: ElfInfo, start: int, size: int) -> int | None:
    """searchMagic: the first 16-byte-aligned magic in [start, start+size) with a whole
    header after it, read from the PT_LOAD that backs ``start``."""
    end = start + size
    start = (start + ALIGN - 1) & ~(ALIGN - 1)
    if start >= end:
        return None
    seg = _segment_bytes(info, start)
    if seg is None:
        return None
    offset, avail = seg
    limit = offset + min(avail, end - start)
    data = info.data
    pos = offset
    while True:
        i = data.find(BUILDINFO_MAGIC, pos, limit)
        if i < 0:
            return None
        if limit - i < HEADER_SIZE:
            return None
        addr = start + (i - offset)
        if addr % ALIGN == 0:
            return addr
        pos = i + (ALIGN - addr % ALIGN)


def _segment_bytes(info: ElfInfo, addr: int) -> tuple[int, int] | None:
    """(file offset, bytes left in the segment's file part) for ``addr``, like elfExe's
    DataReader: the first PT_LOAD whose file bytes hold ``addr``."""
    for p in info.loads:
        if p.filesz and p.vaddr <= addr < p.vaddr + p.filesz:
            return p.offset + (addr - p.vaddr), p.vaddr + p.filesz - addr
    return None


def _read(info: ElfInfo, addr: int, size: int) -> bytes | None:
    """Exactly ``size`` bytes at ``addr`` from one segment's file bytes, or None."""
    seg = _segment_bytes(info, addr)
    if seg is None or seg[1] < size:
        return None
    return info.data[seg[0]:seg[0] + size]


def _decode_string(info: ElfInfo, addr: int) -> tuple[bytes, int] | None:
    """decodeString: a uvarint length, then that many bytes, all in one segment."""
    seg = _segment_bytes(info, addr)
    if seg is None:
        return None
    offset, avail = seg
    decoded = uvarint(info.data[offset:offset + min(avail, MAX_VARINT_LEN)])
    if decoded is None:
        return None
    length, n = decoded
    if length > avail - n:
        return None
    start = offset + n
    return info.data[start:start + length], addr + n + length


def _read_go_string(info: ElfInfo, addr: int, ptr_size: int, order: ByteOrder) -> bytes:
    """readString: a Go string header {data, len} at ``addr``, then its bytes; b"" on
    any failure, as Go does."""
    hdr = _read(info, addr, 2 * ptr_size)
    if hdr is None:
        return b""
    data_addr = int.from_bytes(hdr[:ptr_size], order)
    length = int.from_bytes(hdr[ptr_size:], order)
    data = _read(info, data_addr, length) if length else b""
    return data or b""


def uvarint(buf: bytes) -> tuple[int, int] | None:
    """encoding/binary.Uvarint: (value, bytes used), or None if truncated or > 64 bits."""
    value = 0
    shift = 0
    for i, b in enumerate(buf[:MAX_VARINT_LEN]):
        if b < 0x80:
            if i == MAX_VARINT_LEN - 1 and b > 1:
                return None
            return value | (b << shift), i + 1
        value |= (b & 0x7F) << shift
        shift += 7
    return None


# ParseBuildInfo ---------------------------------------------------------------------------

def _quote_key(key: str) -> bool:
    return key == "" or any(c in key for c in "= \t\r\n\"`")


def _quote_value(value: str) -> bool:
    return any(c in value for c in " \t\r\n\"`")


def parse_modinfo(data: str) -> tuple[str, Module | None, list[Module],
                                       list[tuple[str, str]]]:
    """runtime/debug.ParseBuildInfo on unframed modinfo: (path, main, deps, settings).

    Raises :class:`BuildInfoError` where Go returns an error. As in Go, a last line
    without its newline is ignored, and unknown line kinds are skipped.
    """
    path = ""
    main: Module | None = None
    deps: list[Module] = []
    settings: list[tuple[str, str]] = []
    # The module a "=>" line may replace: ("main", -1), ("dep", index) or None.
    last: tuple[str, int] | None = None
    line_num = 1

    def fail(msg: str) -> BuildInfoError:
        return BuildInfoError(f"could not parse Go build info: line {line_num}: {msg}")

    def module_line(elem: list[str]) -> Module:
        if len(elem) not in (2, 3):
            raise fail(f"expected 2 or 3 columns; got {len(elem)}")
        return Module(elem[0], elem[1], elem[2] if len(elem) == 3 else "")

    while data:
        line, sep, data = data.partition("\n")
        if not sep:
            break
        if line.startswith("path\t"):
            path = line[5:]
        elif line.startswith("mod\t"):
            main = module_line(line[4:].split("\t"))
            last = ("main", -1)
        elif line.startswith("dep\t"):
            deps.append(module_line(line[4:].split("\t")))
            last = ("dep", len(deps) - 1)
        elif line.startswith("=>\t"):
            elem = line[3:].split("\t")
            if len(elem) != 3:
                raise fail(f"expected 3 columns for replacement; got {len(elem)}")
            if last is None:
                raise fail("replacement with no module on previous line")
            rep = Module(elem[0], elem[1], elem[2])
            if last[0] == "main" and main is not None:
                main = Module(main.path, main.version, main.sum, rep)
            else:
                old = deps[last[1]]
                deps[last[1]] = Module(old.path, old.version, old.sum, rep)
            last = None
        elif line.startswith("build\t"):
            settings.append(_build_line(line[6:], fail))
        line_num += 1
    if main == Module("", ""):
        # Go's Main is a value, and String() omits it when zero: keep "no mod line" one value.
        main = None
    return path, main, deps, settings


def _build_line(kv: str, fail: Callable[[str], BuildInfoError]) -> tuple[str, str]:
    if not kv:
        raise fail("build line missing '='")
    if kv[0] == "=":
        raise fail("build line with missing key")
    if kv[0] in "`\"":
        raw_key = _quoted_prefix(kv)
        if raw_key is None:
            raise fail("invalid quoted key in build line")
        if len(kv) == len(raw_key):
            raise fail("build line missing '=' after quoted key")
        if kv[len(raw_key)] != "=":
            raise fail(f"unexpected character after quoted key: {go_quote_char(kv[len(raw_key)])}")
        key = go_unquote(raw_key) or ""
        raw_value = kv[len(raw_key) + 1:]
    else:
        key, sep, raw_value = kv.partition("=")
        if not sep:
            raise fail("build line missing '=' after key")
        if _quote_key(key):
            raise fail(f"unquoted key {go_quote(key)} must be quoted")
    value = ""
    if raw_value:
        if raw_value[0] in "`\"":
            unq = go_unquote(raw_value)
            if unq is None:
                raise fail("invalid quoted value in build line")
            value = unq
        else:
            value = raw_value
            if _quote_value(value):
                raise fail(f"unquoted value {go_quote(value)} must be quoted")
    return key, value


# BuildInfo.String and `go version -m` -------------------------------------------------------

def build_info_string(bi: GoBuildInfo, *, with_go_version: bool = True) -> str:
    """runtime/debug.BuildInfo.String()."""
    out: list[str] = []
    if with_go_version and bi.go_version:
        out.append(f"go\t{bi.go_version}\n")
    if bi.path:
        out.append(f"path\t{bi.path}\n")

    def format_mod(word: str, m: Module) -> None:
        out.append(f"{word}\t{m.path}\t{m.version}")
        if m.replace is None:
            out.append(f"\t{m.sum}")
        else:
            out.append("\n")
            format_mod("=>", m.replace)
        out.append("\n")

    if bi.main is not None and bi.main != Module("", ""):
        format_mod("mod", bi.main)
    for dep in bi.deps:
        format_mod("dep", dep)
    for key, value in bi.settings:
        out.append(f"build\t{format_setting(key, value)}\n")
    return "".join(out)


def format_setting(key: str, value: str) -> str:
    """``key=value`` as a ``build`` line writes it, each side Go-quoted where needed."""
    k = go_quote(key) if _quote_key(key) else key
    v = go_quote(value) if _quote_value(value) else value
    return f"{k}={v}"


def format_go_version_m(path: str, info: GoBuildInfo) -> str:
    """Exactly what ``go version -m PATH`` prints on stdout (version.go, scanFile)."""
    text = f"{path}: {info.go_version}\n"
    mod = build_info_string(info, with_go_version=False)
    if mod:
        text += "\t" + mod[:-1].replace("\n", "\n\t") + "\n"
    return text


# strconv.Quote / Unquote / QuotedPrefix --------------------------------------------------

_SIMPLE_ESCAPES = {"\a": "a", "\b": "b", "\f": "f", "\n": "n", "\r": "r", "\t": "t",
                   "\v": "v"}
_UNESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92,
              "'": 39, '"': 34}


def go_quote(s: str) -> str:
    """strconv.Quote. Printability follows Go's unicode.IsPrint, which is Python's
    str.isprintable (letters, marks, numbers, punctuation, symbols and ASCII space);
    bytes that were invalid UTF-8 (surrogate escapes) print as ``\\xNN`` as in Go."""
    return '"' + "".join(go_quote_char(c, bare=True) for c in s) + '"'


def go_quote_char(c: str, bare: bool = False) -> str:
    """One rune escaped as strconv.Quote does; with ``bare`` False, strconv.QuoteRune."""
    code = ord(c)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte (surrogateescape)
        body = f"\\x{code - 0xDC00:02x}"
    elif c == "\\" or (bare and c == '"') or (not bare and c == "'"):
        body = "\\" + c
    elif c.isprintable():
        body = c
    elif c in _SIMPLE_ESCAPES:
        body = "\\" + _SIMPLE_ESCAPES[c]
    elif code < 0x20 or code == 0x7F:
        body = f"\\x{code:02x}"
    elif 0xD800 <= code <= 0xDFFF:  # not a valid rune: Go writes U+FFFD's escape
        body = "\\ufffd"
    elif code < 0x10000:
        body = f"\\u{code:04x}"
    else:
        body = f"\\U{code:08x}"
    return body if bare else f"'{body}'"


def _quoted_prefix(s: str) -> str | None:
    """strconv.QuotedPrefix for ``"`` and backquote strings: the quoted string that starts
    ``s``, or None."""
    if not s:
        return None
    quote = s[0]
    if quote == "`":
        end = s.find("`", 1)
        return None if end < 0 else s[:end + 1]
    i = 1
    while i < len(s):
        c = s[i]
        if c == "\n":
            return None
        if c == "\\":
            i += 2
            continue
        if c == '"':
            prefix = s[:i + 1]
            return prefix if go_unquote(prefix) is not None else None
        i += 1
    return None


def go_unquote(s: str) -> str | None:
    """strconv.Unquote for ``"`` and backquote strings; None where Go returns an error.

    As in Go: a raw string drops its carriage returns; a quoted string without escapes
    must be valid UTF-8, and with escapes an invalid byte decodes as U+FFFD."""
    if len(s) < 2 or s[0] != s[-1] or s[0] not in "`\"":
        return None
    body = s[1:-1]
    if s[0] == "`":
        return None if "`" in body else body.replace("\r", "")
    if "\\" not in body:
        if '"' in body or "\n" in body or any(0xDC80 <= ord(c) <= 0xDCFF for c in body):
            return None
        return body
    out = bytearray()
    i = 0
    while i < len(body):
        c = body[i]
        if c in "\"\n":
            return None
        if c != "\\":
            out += "\ufffd".encode() if 0xDC80 <= ord(c) <= 0xDCFF else c.encode()
            i += 1
            continue
        if i + 1 >= len(body):
            return None
        e = body[i + 1]
        i += 2
        if e in _UNESCAPES:
            if e == "'":  # \' is only valid inside a rune literal
                return None
            out.append(_UNESCAPES[e])
        elif e in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[e]
            digits = body[i:i + width]
            if len(digits) != width or not all(d in "0123456789abcdefABCDEF" for d in digits):
                return None
            i += width
            value = int(digits, 16)
            if e == "x":
                out.append(value)
            else:
                if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
                    return None
                out += chr(value).encode()
        elif e in "01234567":
            digits = body[i - 1:i + 2]
            if len(digits) != 3 or not all(d in "01234567" for d in digits):
                return None
            value = int(digits, 8)
            if value > 255:
                return None
            i += 2
            out.append(value)
        else:
            return None
    return _text(bytes(out))

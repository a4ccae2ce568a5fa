"""One declaration per syscall: handler, argument kinds, return kind, support level.

A :class:`SyscallSpec` drives everything about a call: the dispatcher decodes the
argument registers with the kinds (sign extension, 64-bit register pairs on 32-bit
ABIs), the tracer formats each argument from its kind (input arguments when the call
is entered, output arguments when it returns, as strace does), ``-e trace=%class``
selects by the spec's classes, and the README's support table is generated from
``support`` and ``note``. Kinds are plain data; their formatting lives in the tracer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from syscalls.outcome import Outcome


class Support(Enum):
    FULL = "full"
    PARTIAL = "partial"
    NONE = "none"


class Ret(Enum):
    """How the return value prints: strace shows addresses in hex and ``?`` for no return."""

    INT = "int"
    HEX = "hex"
    NONE = "none"


class Restart(Enum):
    """What a signal handler does to this call while it is blocked (Linux's -ERESTART* codes).

    ``SYS``: restarted if the handler has SA_RESTART, else EINTR (read, write, futex wait).
    ``NOHAND``: EINTR whenever a handler runs (epoll_wait, pause, sigsuspend-like calls).
    ``BLOCK``: EINTR when a handler runs (nanosleep's restart_block).
    ``NEVER``: the call does not block, or returns EINTR unconditionally.
    """

    SYS = "ERESTARTSYS"
    NOHAND = "ERESTARTNOHAND"
    BLOCK = "ERESTART_RESTARTBLOCK"
    NEVER = "EINTR"


# strace's trace classes (-e trace=%file etc.), as in strace's syscallent flags.
FILE = "file"
DESC = "desc"
MEMORY = "memory"
PROCESS = "process"
SIGNAL = "signal"
NETWORK = "network"
IPC = "ipc"
CREDS = "creds"
CLOCK = "clock"
STAT = "stat"
CLASSES = (FILE, DESC, MEMORY, PROCESS, SIGNAL, NETWORK, IPC, CREDS, CLOCK, STAT)


class Arg:
    """An argument kind. ``signed`` sign-extends from 32 bits (C ``int``); ``wide`` from the
    word size (C ``long``, ``off_t``); ``pair`` is a 64-bit value in two registers on a 32-bit
    ABI. ``out`` arguments are written by the call and printed when it returns.

    Kinds are small immutable values compared by class and fields. They are plain classes
    rather than dataclasses: the tables use twenty of them, and building a frozen dataclass
    costs ~0.7 ms of start-up each; ``signed``/``wide``/``pair`` are fixed per class.
    """

    __slots__ = ("out",)
    signed: ClassVar[bool] = False
    wide: ClassVar[bool] = False
    pair: ClassVar[bool] = False
    out: bool

    _fields: ClassVar[tuple[str, ...]] = ("out",)

    def __init_subclass__(cls) -> None:
        cls._fields = _field_names(cls)

    def __init__(self, *, out: bool = False) -> None:
        object.__setattr__(self, "out", out)

    def _values(self) -> tuple[object, ...]:
        return tuple([getattr(self, name) for name in self._fields])

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self._values()))

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__name__}({fields})"

    def replace(self, **changes: object) -> Arg:
        """A copy with some fields changed (dataclasses.replace for kinds)."""
        values = {name: getattr(self, name) for name in self._fields}
        values.update(changes)
        return type(self)(**values)  # type: ignore[arg-type]


def _field_names(cls: type) -> tuple[str, ...]:
    names: list[str] = []
    for klass in reversed(cls.__mro__):
        for name in klass.__dict__.get("__slots__", ()):
            if name not in names:
                names.append(name)
    return tuple(names)


# Scalar kinds.
class Int(Arg):
    __slots__ = ()
    signed = True


class UInt(Arg):
    __slots__ = ()


class Long(Arg):
    __slots__ = ()
    signed = True
    wide = True


class Size(Arg):
    """size_t, printed in decimal."""

    __slots__ = ()


class Hex(Arg):
    __slots__ = ()


class Ptr(Arg):
    """A pointer printed as NULL or an address (contents not decoded)."""

    __slots__ = ()


class Fd(Arg):
    __slots__ = ()
    signed = True


class DirFd(Arg):
    """A directory fd for *at() calls: AT_FDCWD prints by name."""

    __slots__ = ()
    signed = True


class Off(Arg):
    """off_t in one register (signed long)."""

    __slots__ = ()
    signed = True
    wide = True


class Off64(Arg):
    """loff_t: one register on 64-bit ABIs, an (aligned on ARM EABI) register pair on 32-bit."""

    __slots__ = ()
    signed = True
    wide = True
    pair = True


class Mode(Arg):
    """A file mode printed in octal."""

    __slots__ = ()


class Signal(Arg):
    __slots__ = ()
    signed = True


# Memory kinds.
class Path(Arg):
    """A NUL-terminated string read from guest memory when the call is entered."""

    __slots__ = ()


class InBuf(Arg):
    """A buffer the call reads: its length is argument ``length``."""

    __slots__ = ("length",)
    length: int

    def __init__(self, *, length: int = 2, out: bool = False) -> None:
        super().__init__(out=out)
        object.__setattr__(self, "length", length)


class OutBuf(Arg):
    """A buffer the call fills: printed at exit with as many bytes as the call returned
    (or argument ``length`` if set and ``use_ret`` is false)."""

    __slots__ = ("length", "use_ret")
    length: int
    use_ret: bool

    def __init__(self, *, length: int = 2, use_ret: bool = True, out: bool = True) -> None:
        super().__init__(out=out)
        object.__setattr__(self, "length", length)
        object.__setattr__(self, "use_ret", use_ret)


class OutStr(Arg):
    """A string the call writes (readlink): ``ret`` bytes, not NUL-terminated."""

    __slots__ = ()

    def __init__(self, *, out: bool = True) -> None:
        super().__init__(out=out)


class Flags(Arg):
    """Bit flags named by the table ``table`` of the guest's ABI (e.g. ``open``, ``prot``)."""

    __slots__ = ("table",)
    table: str

    def __init__(self, *, table: str = "", out: bool = False) -> None:
        super().__init__(out=out)
        object.__setattr__(self, "table", table)


class Enum_(Arg):
    """One value named by the table ``table`` (e.g. ``madvise``, ``clock``)."""

    __slots__ = ("table",)
    signed = True
    table: str

    def __init__(self, *, table: str = "", out: bool = False) -> None:
        super().__init__(out=out)
        object.__setattr__(self, "table", table)


class SigSet(Arg):
    """A pointer to a kernel sigset_t, decoded as strace does (``[]``, ``~[KILL STOP]``)."""

    __slots__ = ()


class Struct(Arg):
    """A pointer to a structure formatted by the printer named ``name`` (timespec, stat...)."""

    __slots__ = ("name",)
    name: str

    def __init__(self, *, name: str = "", out: bool = False) -> None:
        super().__init__(out=out)
        object.__setattr__(self, "name", name)


def out(kind: Arg) -> Arg:
    """The same kind, printed when the call returns (it is an output argument)."""
    return kind.replace(out=True)


Handler = Callable[..., "int | Outcome"]


@dataclass(frozen=True, slots=True)
class SyscallSpec:
    name: str
    handler: Handler | None
    args: tuple[Arg, ...] = ()
    ret: Ret = Ret.INT
    support: Support = Support.FULL
    note: str = ""
    restart: Restart = Restart.NEVER
    classes: frozenset[str] = field(default_factory=frozenset)
    printer: str | None = None
    """A custom argument printer in the tracer, for calls whose arguments depend on each other
    (futex's op, fcntl's cmd, clone's flags)."""


def spec(name: str, handler: Handler | None, *args: Arg, ret: Ret = Ret.INT,
         support: Support = Support.FULL, note: str = "", restart: Restart = Restart.NEVER,
         classes: Sequence[str] = (), printer: str | None = None) -> SyscallSpec:
    """Shorthand constructor used by the family modules' tables."""
    return SyscallSpec(name, handler, tuple(args), ret, support, note, restart,
                       frozenset(classes), printer)


Decoder = Callable[[Sequence[int]], tuple[int, ...]]


def _plan(spec: SyscallSpec, word_size: int, align_pairs: bool) -> list[tuple[int, int]]:
    """(register index, conversion) of each argument, in order."""
    plan: list[tuple[int, int]] = []
    reg = 0
    for kind in spec.args:
        if kind.pair and word_size == 4:
            if align_pairs and reg % 2:
                reg += 1
            plan.append((reg, _PAIR))
            reg += 2
        elif kind.wide and kind.signed:
            plan.append((reg, _SWORD))
            reg += 1
        elif kind.signed:
            plan.append((reg, _S32))
            reg += 1
        else:
            plan.append((reg, _RAW))
            reg += 1
    return plan


def make_decoder(spec: SyscallSpec, word_size: int, align_pairs: bool) -> Decoder:
    """Build the function that turns raw argument registers into the handler's arguments.

    ``align_pairs``: a 64-bit argument starts at an even register (ARM EABI), else it takes
    the next two (i386).
    """
    plan = _plan(spec, word_size, align_pairs)
    word_bits = word_size * 8
    word_sign = 1 << (word_bits - 1)
    word_span = 1 << word_bits

    if all(conv == _RAW for _, conv in plan):
        count = len(plan)

        def decode_raw(regs: Sequence[int]) -> tuple[int, ...]:
            return tuple(regs[:count])

        return decode_raw

    if all(conv in (_RAW, _S32) for _, conv in plan):
        # One register per argument (every 64-bit ABI, and most calls on 32-bit ones): a
        # conversion per position, applied in one comprehension.
        converters = tuple(_s32 if conv == _S32 else _raw for _, conv in plan)

        def decode_simple(regs: Sequence[int]) -> tuple[int, ...]:
            return tuple([f(r) for f, r in zip(converters, regs, strict=False)])

        return decode_simple

    def decode(regs: Sequence[int]) -> tuple[int, ...]:
        values: list[int] = []
        for index, conv in plan:
            raw = regs[index]
            if conv == _S32:
                raw &= 0xFFFFFFFF
                values.append(raw - 0x100000000 if raw & 0x80000000 else raw)
            elif conv == _SWORD:
                values.append(raw - word_span if raw & word_sign else raw)
            elif conv == _PAIR:
                value = (regs[index] & 0xFFFFFFFF) | ((regs[index + 1] & 0xFFFFFFFF) << 32)
                values.append(value - (1 << 64) if value & (1 << 63) else value)
            else:
                values.append(raw)
        return tuple(values)

    return decode


def _raw(value: int) -> int:
    return value


def _s32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - 0x100000000 if value & 0x80000000 else value


_RAW, _S32, _SWORD, _PAIR = range(4)


Invoker = Callable[[Any, Sequence[int]], "int | Outcome"]
"""Calls a handler straight from the syscall registers (number first): ``invoke(ctx, regs)``."""

_INVOKER_FACTORIES: dict[tuple[int, ...], Callable[[Handler], Invoker]] = {}


def make_invoker(spec: SyscallSpec, word_size: int, align_pairs: bool) -> Invoker:
    """The handler of ``spec`` called on the raw registers, decoding as :func:`make_decoder`
    does, with nothing built per call.

    The syscall path without a tracer needs no argument tuple: for calls whose arguments
    are one register each (every call on 64-bit ABIs, most on 32-bit ones), the
    conversions are written out inline in a small function compiled once per pattern of
    conversions (``handler(ctx, regs[1], <sign-extended regs[2]>, ...)``), which saves the
    slice, list, tuple and per-argument calls of the decoder (~1 us a call). Calls with a
    register pair fall back on the decoder.
    """
    handler = spec.handler
    assert handler is not None
    plan = _plan(spec, word_size, align_pairs)
    if any(conv == _PAIR for _, conv in plan):
        decode = make_decoder(spec, word_size, align_pairs)

        def invoke_decoded(ctx: Any, regs: Sequence[int]) -> int | Outcome:
            return handler(ctx, *decode(regs[1:]))

        return invoke_decoded
    key = (word_size, *(conv for _, conv in plan))
    factory = _INVOKER_FACTORIES.get(key)
    if factory is None:
        factory = _INVOKER_FACTORIES[key] = _compile_invoker(word_size, key[1:])
    return factory(handler)


def _arg_expressions(word_size: int, convs: Sequence[int], first: int) -> list[str]:
    """Python expressions for each argument converted from ``regs[first + i]``."""
    span = 1 << (word_size * 8)
    sign = span >> 1
    out = []
    for index, conv in enumerate(convs, start=first):
        reg = f"regs[{index}]"
        if conv == _S32:
            out.append(f"((({reg}) & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000")
        elif conv == _SWORD:
            out.append(f"({reg} - {span:#x} if {reg} & {sign:#x} else {reg})")
        else:
            out.append(reg)
    return out


def _compile(source: str, name: str) -> Any:
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<syscall {name}>", "exec"), namespace)
    return namespace["made"]


def _compile_invoker(word_size: int, convs: Sequence[int]) -> Callable[[Handler], Invoker]:
    call = ", ".join(["ctx", *_arg_expressions(word_size, convs, 1)])
    factory: Callable[[Handler], Invoker] = _compile(
        f"def made(handler):\n"
        f"    def invoke(ctx, regs):\n"
        f"        return handler({call})\n"
        f"    return invoke\n", f"invoker {convs}")
    return factory


def compile_decoder(spec: SyscallSpec, word_size: int, align_pairs: bool) -> Decoder:
    """:func:`make_decoder`'s function compiled like :func:`make_invoker`'s (the traced
    path decodes every call): the same values, built in one tuple expression. Compiled
    once per pattern, on first use: ~0.1 ms each, too much to pay for every call at
    start-up."""
    plan = _plan(spec, word_size, align_pairs)
    if any(conv == _PAIR for _, conv in plan):
        return make_decoder(spec, word_size, align_pairs)
    key = (word_size, *(conv for _, conv in plan))
    decoder = _DECODERS.get(key)
    if decoder is None:
        values = "".join(f"{expr}, "
                         for expr in _arg_expressions(word_size, [c for _, c in plan], 0))
        decoder = _DECODERS[key] = _compile(f"def made(regs):\n    return ({values})\n",
                                            f"decoder {key}")
    return decoder


_DECODERS: dict[tuple[int, ...], Decoder] = {}


def registers_used(spec: SyscallSpec, word_size: int, align_pairs: bool) -> int:
    reg = 0
    for kind in spec.args:
        if kind.pair and word_size == 4:
            reg += (reg % 2 if align_pairs else 0) + 2
        else:
            reg += 1
    return reg


def describe(value: Any) -> str:  # pragma: no cover - debugging aid
    return repr(value)

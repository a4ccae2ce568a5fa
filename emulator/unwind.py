"""Go stack unwinding, following the Go runtime's own algorithm (runtime/traceback.go).

For each physical frame: find the function of ``pc`` in pclntab; its frame pointer is
``fp = sp + pcsp(pc)`` (plus the pushed return address on x86); the caller's PC is the
return address — read from ``fp - ptrsize`` on x86-64, and on ARM from the LR
register in the innermost frame until the prologue has saved it, else from ``*sp``.
Frames whose function is marked TOPFRAME end the walk; an SPWRITE function (one that
switches stacks, like runtime.systemstack or mcall) ends it too when it is not the
innermost frame, because its frame size cannot be known — the walk then reports that
it stopped at a stack switch. After an injected call (sigpanic, asyncPreempt) the
caller's PC is the trapping instruction itself, not a return address, and on ARM the
signal handler saved LR on the stack first. File and line come from ``pc - 1`` for
return addresses (inside the CALL), and inlined calls expand into frames of their own,
as runtime.CallersFrames and delve show them.

Reads go through the one-method :class:`WordReader`, so the unwinder runs on fakes too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, Protocol

from loader.gopclntab import FuncFlag, FuncID

if TYPE_CHECKING:
    from emulator.arch.base import UnwindParams
    from loader.gopclntab import GoSymbols

MAX_FRAMES = 1024

# Functions a signal handler can "call" by rewriting the interrupted context.
INJECTED_CALLS = frozenset({FuncID.SIGPANIC, FuncID.ASYNC_PREEMPT, FuncID.DEBUG_CALL_V2})
# Stack switches: the walk stops at them when they are not the innermost frame.
STACK_SWITCHES = frozenset({FuncID.SYSTEMSTACK, FuncID.MCALL, FuncID.MORESTACK, FuncID.GOGO,
                            FuncID.ASMCGOCALL})
# A wrapper calling one of these stays in the trace (runtime: elideWrapperCalling).
PANICS = frozenset({FuncID.GOPANIC, FuncID.SIGPANIC, FuncID.PANICWRAP})


class WordReader(Protocol):
    def read_word(self, addr: int) -> int | None:
        """The pointer-sized little-endian word at ``addr``, or None if unreadable."""


class Frame(NamedTuple):
    """One logical frame: a function, where it is, and the physical frame it belongs to.
    (A named tuple: a frozen dataclass costs ~1 µs more per frame, at every frame of a
    backtrace printed at every syscall.)"""

    pc: int
    """The frame's PC: the instruction it will resume at (a return address for callers)."""
    sp: int
    function: str
    file: str
    line: int
    entry: int
    """The physical function's entry point (``pc - entry`` is the offset delve prints)."""
    inlined: bool = False
    """This function was inlined into the physical frame's function at ``pc``."""


@dataclass(frozen=True, slots=True)
class Backtrace:
    frames: tuple[Frame, ...]
    stopped: str = ""
    """Why the walk ended before a TOPFRAME function, if it did (for the printer)."""


@dataclass(slots=True)
class _State:
    pc: int
    sp: int
    lr: int
    fp: int = 0


# runtime.g starts with stack (lo, hi), stackguard0, stackguard1, _panic, _defer, m, then
# sched (a gobuf: sp, pc, g, ctxt, ret, lr, bp): offsets the runtime's assembly relies on,
# unchanged since Go 1.5 (runtime/runtime2.go). runtime.m starts with g0.
G_M_WORDS = 6
G_SCHED_WORDS = 7
GOBUF_SP, GOBUF_PC, GOBUF_LR = 0, 1, 5
M_SCAN_WORDS = 256


def goroutine_sched(memory: WordReader, symbols: GoSymbols, g: int, ptr: int,
                    cache: dict[str, int]) -> tuple[int, int, int] | None:
    """On g0 inside runtime.systemstack: the (sp, pc, lr) the goroutine saved in
    ``g.m.curg.sched`` before switching. m.curg's offset varies between Go versions, so it
    is found as the word of m pointing to a goroutine whose ``m`` points back to m and
    whose saved PC is systemstack's switch point; the offset is then remembered."""
    m = memory.read_word(g + G_M_WORDS * ptr)
    if not m or memory.read_word(m) != g:  # not on g0
        return None
    offsets = [cache["curg"]] if "curg" in cache else range(1, M_SCAN_WORDS)
    for word in offsets:
        curg = memory.read_word(m + word * ptr)
        if not curg or curg == g or memory.read_word(curg + G_M_WORDS * ptr) != m:
            continue
        sched = curg + G_SCHED_WORDS * ptr
        sp = memory.read_word(sched + GOBUF_SP * ptr)
        pc = memory.read_word(sched + GOBUF_PC * ptr)
        if not sp or not pc:
            continue
        func = symbols.func_for_pc(pc)
        if func is None or func.func_id != FuncID.SYSTEMSTACK_SWITCH:
            continue
        cache["curg"] = word
        lr = memory.read_word(sched + GOBUF_LR * ptr) or 0
        return sp, pc, lr
    return None


def unwind(symbols: GoSymbols, params: UnwindParams, memory: WordReader, *, pc: int, sp: int,
           lr: int = 0, limit: int = MAX_FRAMES, symbolize_pc: int | None = None,
           g: int | None = None, cache: dict[str, int] | None = None) -> Backtrace:
    """Walk the Go stack from registers (pc, sp, lr). ``symbolize_pc``: the address to look
    file:line up at for the innermost frame when it differs from ``pc`` (the syscall
    instruction itself, when ``pc`` is the instruction after it). ``g``: the current
    goroutine pointer (the g register), to follow runtime.systemstack back onto the
    goroutine's stack as the runtime's traceback does."""
    cache = cache if cache is not None else {}
    frames: list[Frame] = []
    state = _State(pc, sp, lr if params.uses_lr else 0)
    innermost = True
    trapped = False  # the previous (callee) frame was an injected call: pc is not a return address
    callee = _NORMAL  # the funcID of the logical frame below the current one
    ptr = params.ptr_size
    while len(frames) < limit:
        func = symbols.func_for_pc(state.pc)
        if func is None:
            if innermost:
                return Backtrace((), f"no Go function at pc {state.pc:#x}")
            return Backtrace(tuple(frames), f"unknown return address {state.pc:#x}")
        if innermost and symbolize_pc is not None:
            look_pc = symbolize_pc
        elif not innermost and not trapped and state.pc > func.entry:
            look_pc = state.pc - 1
        else:
            look_pc = state.pc
        for name, file, line, func_id in symbols.frames_at(look_pc):
            # Autogenerated wrappers are left out unless they call a panic, as the
            # runtime's own tracebacks and runtime.Callers do.
            if not (func_id == _WRAPPER and callee not in PANICS):
                frames.append(Frame(state.pc, state.sp, name, file, line, func.entry,
                                    inlined=name != func.name))
            callee = func_id if func_id in FUNC_IDS else _NORMAL
        if func.flag & _TOPFRAME:
            return Backtrace(tuple(frames[:limit]))
        if (func.func_id == FuncID.SYSTEMSTACK and not innermost and g
                and not (params.uses_lr and symbols.pcsp(func, state.pc) == 0)):
            switched = goroutine_sched(memory, symbols, g, ptr, cache)
            if switched is not None:
                # Continue with systemstack's frame on the goroutine stack (traceback.go:
                # "gp = gp.m.curg; frame.sp = gp.sched.sp").
                state.sp = switched[0]
                state.fp = 0
                g = None
                innermost = False
                state.fp = state.sp + symbols.pcsp(func, state.pc) + (0 if params.uses_lr
                                                                       else ptr)
                value = memory.read_word(state.sp if params.uses_lr else state.fp - ptr)
                if value is None:
                    return Backtrace(tuple(frames), "unreadable goroutine stack")
                state = _State(value, state.fp, 0)
                trapped = False
                continue
        if func.flag & _SPWRITE and not innermost:
            reason = ("stack switch" if func.func_id in STACK_SWITCHES
                      else "function writes SP")
            return Backtrace(tuple(frames[:limit]), f"{reason} in {func.name}")
        if state.fp == 0:
            state.fp = state.sp + symbols.pcsp(func, state.pc)
            if not params.uses_lr:
                state.fp += ptr
        if params.uses_lr:
            if (innermost and state.sp < state.fp) or state.lr == 0:
                value = memory.read_word(state.sp)
                if value is None:
                    return Backtrace(tuple(frames), f"unreadable stack at {state.sp:#x}")
                state.lr = value
        else:
            value = memory.read_word(state.fp - ptr)
            if value is None:
                return Backtrace(tuple(frames), f"unreadable stack at {state.fp - ptr:#x}")
            state.lr = value
        if state.lr == 0:
            return Backtrace(tuple(frames))
        if state.lr == state.pc and state.fp == state.sp:
            return Backtrace(tuple(frames), "stack walk made no progress")
        trapped = func.func_id in INJECTED_CALLS
        state = _State(state.lr, state.fp, 0)
        if params.uses_lr and trapped:
            # The signal handler pushed LR before faking the call (runtime.sigctxt.pushCall).
            saved = memory.read_word(state.sp)
            state.sp += params.pushed_lr_size or max(params.min_frame, ptr)
            caller = symbols.func_for_pc(state.pc)
            if caller is None and saved is not None:
                state.pc = saved
            elif caller is not None and saved is not None and symbols.pcsp(caller, state.pc) == 0:
                state.lr = saved
        innermost = False
    return Backtrace(tuple(frames[:limit]), f"more than {limit} frames")


FUNC_IDS = frozenset(int(f) for f in FuncID)
_TOPFRAME = int(FuncFlag.TOPFRAME)
_SPWRITE = int(FuncFlag.SPWRITE)
_NORMAL = int(FuncID.NORMAL)
_WRAPPER = int(FuncID.WRAPPER)
# Plain ints: IntEnum operations cost microseconds each, at every frame of every trace.


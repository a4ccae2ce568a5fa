"""Traced writes the syscall gate answered reach strace in batches (WritesAnswered): the
lines printed from a batch must be the lines the same calls print one by one (entry,
then exit), whatever the data, -s, thread prefixes and other threads' unfinished calls.
And a tracer that times calls, or prints where the program writes, takes no batches."""

from __future__ import annotations

import io
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from emulator.events import EventBus, SyscallEnter, SyscallExit, ThreadCreated, WritesAnswered
from emulator.trace.strace import Strace, StraceOptions
from syscalls.abi import X86_64
from syscalls.kernel.memory import GuestMemory
from syscalls.table import all_specs
from tests.unit.test_format import FakeRaw

WRITE = all_specs()["write"]
BUF = 0x20000
DATA = [b"x", b"hello, world\n", b'quote " and \\ and \t tab', bytes(range(0, 40)),
        b"a" * 31, b"b" * 32, b"c" * 33, b"\xff\xfe caf\xc3\xa9", b""]


def strace(strsize: int, *, memory: dict[int, bytes] | None = None,
           **options: bool) -> tuple[Strace, io.StringIO]:
    raw = FakeRaw()
    for addr, data in (memory or {}).items():
        raw.add(addr, data)
    machine = SimpleNamespace(process=SimpleNamespace(pid=100), mem=GuestMemory(raw, 8),
                              arch=SimpleNamespace(abi=X86_64, word_size=8))
    out = io.StringIO()
    tracer = Strace(machine, out, StraceOptions(follow=True, strsize=strsize,  # type: ignore[arg-type]
                                                **options))
    return tracer, out


@pytest.mark.parametrize("strsize", [0, 4, 32, 100])
@pytest.mark.parametrize("threads", [False, True])
def test_a_batch_prints_what_single_calls_print(strsize: int, threads: bool) -> None:
    calls = [((3, BUF + 0x1000 * i, len(data)), len(data), data[:strsize])
             for i, data in enumerate(DATA)]
    one_by_one, single_out = strace(strsize, memory={BUF + 0x1000 * i: data
                                                     for i, data in enumerate(DATA)})
    batched, batch_out = strace(strsize)
    for tracer in (one_by_one, batched):
        if threads:
            tracer.on_thread_created(ThreadCreated(100, 101, 0.0))
            # Another thread is inside a call when the writes are printed.
            tracer.on_enter(SyscallEnter(100, 202, "futex", all_specs()["futex"],
                                         (BUF, 0, 0, 0, 0, 0), 0.0))
    for args, result, _ in calls:
        one_by_one.on_enter(SyscallEnter(101, 1, "write", WRITE, args, 0.0))
        one_by_one.on_exit(SyscallExit(101, 1, "write", WRITE, args, result, 0.0))
    batched.on_writes(WritesAnswered(101, 1, "write", WRITE, calls, 0.0))
    assert batch_out.getvalue() == single_out.getvalue()
    assert batch_out.getvalue().count("\n") == len(DATA) + threads
    if threads:
        assert batch_out.getvalue().startswith("[pid   100] futex(")


def test_only_an_untimed_tracer_without_stacks_takes_batches(tmp_path: Path) -> None:
    elsewhere = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT)
    try:
        for options, takes in [({}, True), ({"syscall_times": True}, False),
                               ({"timestamps": True}, False)]:
            bus = EventBus()
            tracer, _ = strace(32, **options)
            tracer.attach(bus)
            assert (bus.write_capture(elsewhere) == 32) is takes, options
    finally:
        os.close(elsewhere)


def test_another_observer_of_calls_stops_batches(tmp_path: Path) -> None:
    elsewhere = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT)
    try:
        bus = EventBus()
        strace(32)[0].attach(bus)
        assert bus.write_capture(elsewhere) == 32
        bus.subscribe(SyscallExit, lambda event: None)  # e.g. -c's summary
        assert bus.write_capture(elsewhere) is None
    finally:
        os.close(elsewhere)


def test_writes_to_the_trace_s_own_file_are_never_batched(tmp_path: Path) -> None:
    path = tmp_path / "trace"
    with open(path, "w") as out, open(os.devnull, "w") as null:
        tracer, _ = strace(32)
        tracer.out = out
        same = os.open(path, os.O_WRONLY)
        other = os.open(os.devnull, os.O_WRONLY)
        try:
            assert tracer._write_capture(same) is None
            assert tracer._write_capture(other) == 32
            # Into /dev/null there is no order to keep.
            tracer.out = null
            assert tracer._write_capture(other) == 32
        finally:
            os.close(same)
            os.close(other)

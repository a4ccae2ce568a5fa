"""loader.stack.build_initial_stack against the layout Linux's exec builds.

Oracle: fs/exec.c and fs/binfmt_elf.c (create_elf_tables): the stack's last word is
NULL, above it nothing; below it the file name (AT_EXECFN), then the environment
strings, then the argument strings, each NUL-terminated and contiguous in order (what
/proc/PID/cmdline and environ rely on); at the 16-byte aligned sp: argc, argv[],
NULL, envp[], NULL, then (type, value) auxv pairs ending with AT_NULL. Everything is
read back from the returned bytes, as the program would read its own stack.
"""

from __future__ import annotations

import itertools

import pytest

from loader.stack import AT, AuxValue, InitialStack, build_initial_stack

RANDOM = bytes(range(0xA1, 0xB1))  # 16 non-zero bytes

CASES = [
    pytest.param(8, 0x7FFFFFFFF000, [b"/bin/hello"], [], id="x86_64-no-env"),
    pytest.param(8, 0x7FFFFFFFF000, [b"./hello", b"-v", b"a b"], [b"HOME=/root", b"X=1"],
                 id="x86_64-args-env"),
    pytest.param(8, 0x7FFFFFFFE000, [b"p", b"", b"xyz" * 40], [b"E=" + b"v" * 99],
                 id="x86_64-empty-arg"),
    pytest.param(4, 0xBF000000, [b"/bin/hello"], [], id="arm-no-env"),
    pytest.param(4, 0xBF000000, [b"./hello", b"-v", b"a b"], [b"HOME=/root", b"X=1"],
                 id="arm-args-env"),
    pytest.param(4, 0xBEFFF000, [b"q" * 7], [b"A=", b"B=2", b"C=33"], id="arm-odd-lengths"),
]


class StackReader:
    def __init__(self, stack: InitialStack, word: int) -> None:
        self.stack = stack
        self.word = word

    def inside(self, addr: int, size: int = 1) -> bool:
        return self.stack.sp <= addr and addr + size <= self.stack.top

    def read(self, addr: int, size: int) -> bytes:
        assert self.inside(addr, size), f"{addr:#x}+{size} outside [sp, top)"
        off = addr - self.stack.sp
        return self.stack.data[off:off + size]

    def word_at(self, addr: int) -> int:
        return int.from_bytes(self.read(addr, self.word), "little")

    def cstring(self, addr: int) -> bytes:
        out = bytearray()
        while (b := self.read(addr + len(out), 1)) != b"\0":
            out += b
        return bytes(out)


def build(word: int, top: int, argv: list[bytes], envp: list[bytes],
          platform: bytes) -> tuple[InitialStack, list[tuple[int, AuxValue]]]:
    auxv: list[tuple[int, AuxValue]] = [
        (AT.PAGESZ, 4096), (AT.PHDR, 0x400040), (AT.PHNUM, 9), (AT.ENTRY, 0x401000),
        (AT.UID, 1000), (AT.RANDOM, RANDOM), (AT.EXECFN, 0), (AT.PLATFORM, platform),
    ]
    stack = build_initial_stack(top=top, word_size=word, argv=argv, envp=envp, auxv=auxv,
                                execfn=b"/usr/local/bin/hello")
    return stack, auxv


def parse(stack: InitialStack, word: int) -> tuple[list[int], list[int], list[tuple[int, int]]]:
    """argv pointers, envp pointers and auxv pairs, read from sp upwards."""
    r = StackReader(stack, word)
    pos = stack.sp
    argc = r.word_at(pos)
    pos += word
    argv = [r.word_at(pos + i * word) for i in range(argc)]
    pos += argc * word
    assert r.word_at(pos) == 0, "argv not NULL-terminated"
    pos += word
    envp = []
    while (p := r.word_at(pos)) != 0:
        envp.append(p)
        pos += word
    pos += word
    auxv = []
    while True:
        tag, value = r.word_at(pos), r.word_at(pos + word)
        auxv.append((tag, value))
        pos += 2 * word
        if tag == AT.NULL:
            break
    return argv, envp, auxv


@pytest.mark.parametrize(("word", "top", "argv", "envp"), CASES)
def test_layout(word: int, top: int, argv: list[bytes], envp: list[bytes]) -> None:
    platform = b"x86_64\0" if word == 8 else b"v7l\0"
    stack, auxv_in = build(word, top, argv, envp, platform)
    r = StackReader(stack, word)
    assert stack.top == top
    assert stack.sp % 16 == 0
    assert stack.sp < top
    assert len(stack.data) == top - stack.sp
    # The last word below the top is a NULL end marker (bprm->p = STACK_TOP - sizeof(void *)).
    assert r.word_at(top - word) == 0

    argv_ptrs, envp_ptrs, auxv = parse(stack, word)
    assert [r.cstring(p) for p in argv_ptrs] == argv
    assert [r.cstring(p) for p in envp_ptrs] == envp
    assert tuple(argv_ptrs) == stack.argv_addrs
    assert tuple(envp_ptrs) == stack.envp_addrs

    # Strings: argv then envp, contiguous, then the file name just below the end marker.
    pos = argv_ptrs[0]
    for p, s in zip(argv_ptrs + envp_ptrs, argv + envp, strict=True):
        assert p == pos
        pos += len(s) + 1
    execfn = dict(auxv)[AT.EXECFN]
    assert execfn == pos
    assert r.cstring(execfn) == b"/usr/local/bin/hello"
    assert execfn + len(b"/usr/local/bin/hello") + 1 == top - word

    # auxv: the given pairs in order, byte values replaced by their stack address.
    assert auxv[-1] == (AT.NULL, 0)
    assert [t for t, _ in auxv[:-1]] == [t for t, _ in auxv_in]
    for (tag, given), (_, value) in zip(auxv_in, auxv, strict=False):
        if tag == AT.RANDOM:
            assert r.read(value, 16) == RANDOM
        elif tag == AT.PLATFORM:
            assert r.read(value, len(platform)) == platform
            assert r.cstring(value) == platform.rstrip(b"\0")
        elif tag != AT.EXECFN:
            assert value == given
    assert stack.auxv == tuple(auxv)

    # Every pointer the program can follow stays inside [sp, top).
    for p in [*argv_ptrs, *envp_ptrs, execfn, dict(auxv)[AT.RANDOM], dict(auxv)[AT.PLATFORM]]:
        assert r.inside(p)
    # The pointer table ends below the first string.
    table_end = stack.sp + word * (1 + len(argv) + 1 + len(envp) + 1 + 2 * len(auxv))
    assert table_end <= min([*argv_ptrs, dict(auxv)[AT.RANDOM], dict(auxv)[AT.PLATFORM]])


@pytest.mark.parametrize("word", [8, 4])
def test_argc_is_at_sp(word: int) -> None:
    stack, _ = build(word, 0xBF000000, [b"a", b"b", b"c"], [b"E=1"], b"p\0")
    assert int.from_bytes(stack.data[:word], "little") == 3


@pytest.mark.parametrize("word", [8, 4])
def test_no_overlap_between_placed_strings(word: int) -> None:
    stack, _ = build(word, 0xBF000000, [b"arg0", b"arg1"], [b"K=V"], b"x86_64\0")
    argv_ptrs, envp_ptrs, auxv = parse(stack, word)
    regions = [(p, len(s) + 1) for p, s in zip(argv_ptrs + envp_ptrs,
                                                 [b"arg0", b"arg1", b"K=V"], strict=True)]
    aux = dict(auxv)
    regions += [(aux[AT.RANDOM], 16), (aux[AT.PLATFORM], 7),
                (aux[AT.EXECFN], len(b"/usr/local/bin/hello") + 1)]
    regions.sort()
    for (a, alen), (b, _) in itertools.pairwise(regions):
        assert a + alen <= b, f"{a:#x}+{alen} overlaps {b:#x}"


@pytest.mark.parametrize("arch_module", ["x86_64", "arm"])
def test_platform_string_as_the_emulator_passes_it_is_nul_terminated(arch_module: str) -> None:
    """AUXV order as emulator/machine.py builds it: AT_RANDOM is placed before AT_PLATFORM."""
    import importlib

    mod = importlib.import_module(f"emulator.arch.{arch_module}")
    arch_cls = mod.X86_64 if arch_module == "x86_64" else mod.Arm
    platform: bytes = arch_cls.platform
    word = 8 if arch_module == "x86_64" else 4
    auxv: list[tuple[int, AuxValue]] = [(AT.PAGESZ, 4096), (AT.RANDOM, RANDOM),
                                        (AT.EXECFN, 0), (AT.PLATFORM, platform)]
    stack = build_initial_stack(top=0xBF000000, word_size=word, argv=[b"hello"], envp=[],
                                auxv=auxv, execfn=b"hello")
    r = StackReader(stack, word)
    addr = dict(stack.auxv)[AT.PLATFORM]
    assert r.cstring(addr) == platform.rstrip(b"\0")

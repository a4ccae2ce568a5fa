#!/usr/bin/env python3
"""Build the sample Go and C binaries in bins/ reproducibly and write bins/manifest.json.

Usage:
    python3 bins/build.py                 # (re)build everything, rewrite manifest
    python3 bins/build.py --check         # rebuild in a temp dir, compare sha256s
    python3 bins/build.py --only NAME...  # (re)build only these, keep the other manifest rows

Every build runs in a scrubbed environment (fresh GOCACHE/GOPATH/HOME in a
temporary directory, GOENV=off, GOPROXY=off, CGO_ENABLED=0, GOTOOLCHAIN=local,
GOFLAGS=-mod=mod) with ``-trimpath -buildvcs=false``, so rebuilding with the
same toolchains gives byte-identical binaries. cgo targets set CGO_ENABLED=1 and CC
(gcc, or arm-linux-gnueabihf-gcc against Debian's armhf glibc). The C samples are
built from bins/src/c with gcc, arm-linux-gnueabihf-gcc, musl-gcc and zig cc (the
ziglang PyPI package; its libc builds are cached in ZIG_GLOBAL_CACHE_DIR, default
~/.cache/zig, which does not change the output).

Standard library only (Python 3.11+).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

BINS = Path(__file__).resolve().parent
SRC = BINS / "src"
MANIFEST = BINS / "manifest.json"

DEFAULT_GO119 = "/usr/lib/go-1.19/bin/go"
DEFAULT_GO127 = "/opt/gov/bin/go"

PROGRAMS = ("hello", "work", "stack", "net", "cgonet", "ptrs", "conform", "busy")
DEFAULT_ZIG_PYTHON = "/opt/dev/bin/python"

# GOARCH -> the C cross compiler cgo links with.
CGO_CC: dict[str, str] = {"amd64": "gcc", "arm": "arm-linux-gnueabihf-gcc"}

# arch name used in file names -> (GOARCH, GOARM)
ARCHES: dict[str, tuple[str, str | None]] = {
    "amd64": ("amd64", None),
    "arm7": ("arm", "7"),
    "arm5": ("arm", "5"),
    "arm64": ("arm64", None),
    "386": ("386", None),
}

# ELF constants
ET_EXEC = 2
ET_DYN = 3
EM_386 = 3
EM_ARM = 40
EM_X86_64 = 62
EM_AARCH64 = 183
ELFCLASS32 = 1
ELFCLASS64 = 2
ELFDATA2LSB = 1
PT_DYNAMIC = 2
PT_INTERP = 3
EF_ARM_EABIMASK = 0xFF000000
EF_ARM_EABI_VER5 = 0x05000000

# GOARCH -> (EI_CLASS, e_machine)
ELF_IDENT: dict[str, tuple[int, int]] = {
    "amd64": (ELFCLASS64, EM_X86_64),
    "arm": (ELFCLASS32, EM_ARM),
    "arm64": (ELFCLASS64, EM_AARCH64),
    "386": (ELFCLASS32, EM_386),
}


class BuildError(Exception):
    """A build or a post-build verification failed."""


@dataclasses.dataclass(frozen=True)
class Target:
    """One binary of the build matrix."""

    program: str
    go: str  # "1.19" or "1.27": selects the toolchain
    arch: str  # key of ARCHES
    link: str  # "static", "pie" or "cgo" (dynamic executable linked against glibc)
    stripped: bool

    @property
    def cgo(self) -> bool:
        """Linked externally against glibc: cgo programs, and ARM PIEs (Go can make a
        32-bit ARM PIE only through the external linker)."""
        return self.link == "cgo" or (self.link == "pie" and self.goarch == "arm")

    @property
    def name(self) -> str:
        suffix = "-stripped" if self.stripped else ""
        return f"{self.program}-{self.go}-{self.arch}-{self.link}{suffix}"

    @property
    def goarch(self) -> str:
        return ARCHES[self.arch][0]

    @property
    def goarm(self) -> str | None:
        return ARCHES[self.arch][1]

    def env(self) -> dict[str, str]:
        """Environment variables that select what is built (in display order)."""
        env = {"GOOS": "linux", "GOARCH": self.goarch}
        if self.goarm is not None:
            env["GOARM"] = self.goarm
        if self.goarch == "amd64":
            env["GOAMD64"] = "v1"
        if self.goarch == "386":
            env["GO386"] = "sse2"
        if self.cgo:
            env["CC"] = CGO_CC[self.goarch]
        env.update(
            {
                "CGO_ENABLED": "1" if self.cgo else "0",
                "GO111MODULE": "on",
                "GOTOOLCHAIN": "local",
                "GOFLAGS": "-mod=mod",
            }
        )
        return env

    def go_args(self, out: str) -> list[str]:
        """Arguments after the go executable."""
        args = ["build", "-trimpath", "-buildvcs=false"]
        if self.link == "pie":
            args.append("-buildmode=pie")
        if self.stripped:
            args.append("-ldflags=-s -w")
        return [*args, "-o", out, "."]


def matrix() -> list[Target]:
    """The full list of binaries, in manifest order."""
    targets: list[Target] = []
    for go in ("1.19", "1.27"):
        for arch, link in (
            ("amd64", "static"),
            ("amd64", "pie"),
            ("arm7", "static"),
            ("arm5", "static"),
        ):
            for stripped in (False, True):
                targets.append(Target("hello", go, arch, link, stripped))
    for go in ("1.19", "1.27"):
        for arch in ("amd64", "arm7"):
            targets.append(Target("work", go, arch, "static", False))
    targets.append(Target("work", "1.27", "amd64", "pie", False))
    for go in ("1.19", "1.27"):
        for arch in ("amd64", "arm7"):
            targets.append(Target("stack", go, arch, "static", False))
    # The backtrace oracle also as PIE and stripped (-s -w), on both Go versions.
    targets += [Target("stack", "1.19", "amd64", "pie", False),
                Target("stack", "1.27", "amd64", "pie", True),
                Target("stack", "1.19", "arm7", "static", True),
                Target("stack", "1.27", "arm7", "static", True)]
    # AArch64 and i386: stripped where symbols are not the point, to keep bins/ small;
    # the unstripped ones keep ELF symbols and DWARF for the tools that want them.
    targets += [
        Target("hello", "1.19", "arm64", "static", True),
        Target("hello", "1.27", "arm64", "static", True),
        Target("hello", "1.27", "arm64", "pie", True),
        Target("hello", "1.19", "386", "static", False),
        Target("hello", "1.27", "386", "static", True),
        Target("work", "1.27", "arm64", "static", False),
        Target("work", "1.27", "arm64", "pie", True),
        Target("work", "1.27", "386", "static", True),
        Target("stack", "1.27", "arm64", "static", True),
        Target("stack", "1.27", "386", "static", True),
    ]
    for go in ("1.19", "1.27"):
        for arch in ("amd64", "arm7"):
            targets.append(Target("net", go, arch, "static", True))
    # Go's 386 port reaches every socket call through socketcall(2).
    targets.append(Target("net", "1.27", "386", "static", True))
    targets.append(Target("hello", "1.27", "arm7", "pie", True))
    for arch in ("amd64", "arm7"):
        targets.append(Target("cgonet", "1.27", arch, "cgo", True))
    # The conformance program: stripped (its checks need no symbols), both Go
    # versions on amd64 and ARMv7, and the newest Go on ARMv5 (soft float, kuser
    # helpers).
    for go in ("1.19", "1.27"):
        for arch in ("amd64", "arm7"):
            targets.append(Target("conform", go, arch, "static", True))
    targets.append(Target("conform", "1.27", "arm5", "static", True))
    for arch in ("amd64", "arm7"):
        targets.append(Target("busy", "1.27", arch, "static", False))
    return targets


@dataclasses.dataclass(frozen=True)
class CTarget:
    """One C sample: ``bins/src/c/<source>`` built by ``compiler`` with ``flags``."""

    name: str
    arch: str  # "amd64" or "arm"
    libc: str  # "glibc" or "musl"
    compiler: tuple[str, ...]
    flags: tuple[str, ...]
    elf_type: int
    interp: bool
    source: str = "ptrs.c"
    post: tuple[str, ...] = ()
    """A command run on the output afterwards (the file name appended)."""

    def cc(self, zig_python: str) -> list[str]:
        return [zig_python if c == "{python}" else c for c in self.compiler]

    def argv(self, out: str, zig_python: str) -> list[str]:
        return [*self.cc(zig_python), *self.flags, "-o", out, self.source]


ZIG = ("{python}", "-m", "ziglang", "cc")


def c_matrix() -> list[CTarget]:
    """The C samples: the pointer-table program under every libc and link kind."""
    o2 = ("-O2",)
    return [
        CTarget("ptrs-glibc-amd64-dynamic", "amd64", "glibc", ("gcc",), o2, ET_DYN, True),
        CTarget("ptrs-glibc-arm-dynamic", "arm", "glibc", ("arm-linux-gnueabihf-gcc",), o2,
                ET_DYN, True),
        CTarget("ptrs-glibc-amd64-static", "amd64", "glibc", ("gcc",), (*o2, "-static"),
                ET_EXEC, False),
        CTarget("ptrs-glibc-amd64-static-pie", "amd64", "glibc", ("gcc",),
                (*o2, "-static-pie"), ET_DYN, False),
        CTarget("ptrs-musl-amd64-static", "amd64", "musl", ("musl-gcc",), (*o2, "-static"),
                ET_EXEC, False),
        # Debian's musl-gcc -static-pie silently links dynamically; zig's musl does not.
        # zig's libc carries DWARF: objcopy drops it and keeps the symbol table, which
        # relocs --verify needs (zig's own -Wl,--strip-debug drops both).
        CTarget("ptrs-musl-amd64-static-pie", "amd64", "musl",
                (*ZIG, "-target", "x86_64-linux-musl"), (*o2, "-fPIE", "-pie", "-static"),
                ET_DYN, False, post=("objcopy", "--strip-debug")),
        CTarget("ptrs-musl-arm-static-pie", "arm", "musl",
                (*ZIG, "-target", "arm-linux-musleabihf"), (*o2, "-fPIE", "-pie", "-static"),
                ET_DYN, False, post=("arm-linux-gnueabihf-objcopy", "--strip-debug")),
    ]


def c_build_command(target: CTarget, zig_python: str) -> str:
    out = "../../" + target.name
    command = f"cd bins/src/c && {shlex.join(target.argv(out, zig_python))}"
    if target.post:
        command += f" && {shlex.join([*target.post, out])}"
    return command


def verify_c_elf(path: Path, target: CTarget) -> None:
    info = elf_info(path)
    want_class, want_machine = ELF_IDENT[target.arch]
    problems = []
    if (info["class"], info["machine"]) != (want_class, want_machine):
        problems.append(f"class/machine {info['class']}/{info['machine']} is not {target.arch}")
    if info["type"] != target.elf_type:
        problems.append(f"e_type {info['type']} != {target.elf_type}")
    if (PT_INTERP in info["segments"]) != target.interp:
        problems.append(f"PT_INTERP present={PT_INTERP in info['segments']}, "
                        f"expected {target.interp}")
    if problems:
        raise BuildError(f"{path.name}: " + "; ".join(problems))


@dataclasses.dataclass(frozen=True)
class Toolchain:
    """A Go toolchain: the executable as given and the version it reports."""

    go: str  # "1.19" / "1.27"
    path: str
    version: str  # e.g. "go1.19.8"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Builder:
    """Runs go builds in a scrubbed environment rooted in a temporary directory."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        for sub in ("home", "gocache", "gopath", "tmp"):
            (scratch / sub).mkdir(parents=True, exist_ok=True)

    def base_env(self) -> dict[str, str]:
        return {
            "PATH": "/usr/bin:/bin",
            "HOME": str(self.scratch / "home"),
            "GOCACHE": str(self.scratch / "gocache"),
            "GOPATH": str(self.scratch / "gopath"),
            "GOTMPDIR": str(self.scratch / "tmp"),
            "TMPDIR": str(self.scratch / "tmp"),
            "GOENV": "off",
            "GOPROXY": "off",
            "GOTOOLCHAIN": "local",
            "LC_ALL": "C",
        }

    def run(self, argv: Sequence[str], cwd: Path, extra_env: dict[str, str] | None = None) -> str:
        env = self.base_env()
        if extra_env:
            env.update(extra_env)
        try:
            proc = subprocess.run(
                list(argv), cwd=cwd, env=env, capture_output=True, text=True, check=False
            )
        except OSError as e:
            raise BuildError(f"cannot run {shlex.join(argv)}: {e}") from e
        if proc.returncode != 0:
            output = proc.stdout + proc.stderr
            raise BuildError(f"command failed ({proc.returncode}): {shlex.join(argv)}\n{output}")
        return proc.stdout

    def go_version(self, go: str, path: str) -> Toolchain:
        version = self.run([path, "env", "GOVERSION"], cwd=self.scratch).strip()
        if not version.startswith(f"go{go}.") and version != f"go{go}":
            raise BuildError(f"{path} reports {version!r}, expected Go {go}.x")
        return Toolchain(go, path, version)

    def build(self, target: Target, tc: Toolchain, outdir: Path) -> Path:
        out = outdir / target.name
        self.run(
            [tc.path, *target.go_args(str(out))], cwd=SRC / target.program, extra_env=target.env()
        )
        verify_elf(out, target)
        # The binary's embedded build info must name the toolchain we meant to use.
        reported = self.run([tc.path, "version", str(out)], cwd=self.scratch).strip()
        if not reported.endswith(f": {tc.version}"):
            raise BuildError(f"{out.name}: `go version` says {reported!r}, expected {tc.version}")
        return out


def build_command(target: Target, tc: Toolchain) -> str:
    """A shell command line, run from the repository root, reproducing the build."""
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in target.env().items())
    go = shlex.join([tc.path, *target.go_args(f"../../{target.name}")])
    return f"cd bins/src/{target.program} && {env} {go}"


# ---------------------------------------------------------------- ELF checks


def _section_names(data: bytes, is64: bool) -> list[str]:
    if is64:
        shoff, shentsize, shnum, shstrndx = (
            struct.unpack_from("<Q", data, 0x28)[0],
            *struct.unpack_from("<HHH", data, 0x3A),
        )
        sh_fmt, name_off, offset_off = "<IIQQQQIIQQ", 0, 4
    else:
        shoff, shentsize, shnum, shstrndx = (
            struct.unpack_from("<I", data, 0x20)[0],
            *struct.unpack_from("<HHH", data, 0x2E),
        )
        sh_fmt, name_off, offset_off = "<IIIIIIIIII", 0, 4
    if shoff == 0 or shnum == 0:
        return []
    headers = [struct.unpack_from(sh_fmt, data, shoff + i * shentsize) for i in range(shnum)]
    strtab = headers[shstrndx]
    str_off = strtab[offset_off]
    names = []
    for h in headers:
        start = str_off + h[name_off]
        names.append(data[start : data.index(b"\0", start)].decode("ascii", "replace"))
    return names


def _segment_types(data: bytes, is64: bool) -> list[int]:
    if is64:
        phoff = struct.unpack_from("<Q", data, 0x20)[0]
        phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    else:
        phoff = struct.unpack_from("<I", data, 0x1C)[0]
        phentsize, phnum = struct.unpack_from("<HH", data, 0x2A)
    return [struct.unpack_from("<I", data, phoff + i * phentsize)[0] for i in range(phnum)]


def elf_info(path: Path) -> dict[str, Any]:
    """Minimal little-endian ELF header parse (no pyelftools)."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF":
        raise BuildError(f"{path.name}: not an ELF file")
    ei_class, ei_data = data[4], data[5]
    if ei_data != ELFDATA2LSB:
        raise BuildError(f"{path.name}: not little-endian (EI_DATA={ei_data})")
    if ei_class not in (ELFCLASS32, ELFCLASS64):
        raise BuildError(f"{path.name}: bad EI_CLASS {ei_class}")
    is64 = ei_class == ELFCLASS64
    e_type, e_machine = struct.unpack_from("<HH", data, 16)
    e_flags = struct.unpack_from("<I", data, 0x30 if is64 else 0x24)[0]
    return {
        "class": ei_class,
        "type": e_type,
        "machine": e_machine,
        "flags": e_flags,
        "segments": _segment_types(data, is64),
        "sections": _section_names(data, is64),
    }


def verify_elf(path: Path, target: Target) -> None:
    info = elf_info(path)
    want_class, want_machine = ELF_IDENT[target.goarch]
    want_type = ET_EXEC if target.link in ("static", "cgo") else ET_DYN
    problems = []
    if info["class"] != want_class:
        problems.append(f"EI_CLASS {info['class']} != {want_class}")
    if info["machine"] != want_machine:
        problems.append(f"e_machine {info['machine']} != {want_machine}")
    if info["type"] != want_type:
        problems.append(f"e_type {info['type']} != {want_type}")
    if target.goarch == "arm" and info["flags"] & EF_ARM_EABIMASK != EF_ARM_EABI_VER5:
        problems.append(f"e_flags {info['flags']:#x} is not EABI version 5")
    if target.link == "static" and (
        PT_INTERP in info["segments"] or PT_DYNAMIC in info["segments"]
    ):
        problems.append("static binary has PT_INTERP or PT_DYNAMIC")
    has_symtab = ".symtab" in info["sections"]
    if target.stripped == has_symtab:
        problems.append(f"stripped={target.stripped} but .symtab present={has_symtab}")
    if problems:
        raise BuildError(f"{path.name}: " + "; ".join(problems))


# ------------------------------------------------------------------- driver


def snapshot_sources() -> dict[str, bytes]:
    return {str(p.relative_to(SRC)): p.read_bytes() for p in sorted(SRC.rglob("*")) if p.is_file()}


def build_all(
    targets: Iterable[Target],
    go_paths: dict[str, str],
    outdir: Path,
    jobs: int,
    c_targets: Iterable[CTarget] = (),
    zig_python: str = DEFAULT_ZIG_PYTHON,
) -> list[dict[str, Any]]:
    """Build every target into outdir; return the manifest rows (Go, then C)."""
    targets = list(targets)
    c_targets = list(c_targets)
    before = snapshot_sources()
    with tempfile.TemporaryDirectory(prefix="elftrace-gobuild-") as tmp:
        builder = Builder(Path(tmp))
        toolchains = {go: builder.go_version(go, path) for go, path in go_paths.items()}

        def one(t: Target) -> dict[str, Any]:
            tc = toolchains[t.go]
            out = builder.build(t, tc, outdir)
            print(f"built {t.name} ({out.stat().st_size} bytes)", file=sys.stderr)
            return {
                "path": t.name,
                "program": t.program,
                "go_version": tc.version,
                "goarch": t.goarch,
                "goarm": t.goarm,
                "link": t.link,
                "stripped": t.stripped,
                "libc": "glibc" if t.cgo else None,
                "sha256": sha256_file(out),
                "size": out.stat().st_size,
                "build_command": build_command(t, tc),
            }

        def one_c(t: CTarget) -> dict[str, Any]:
            out = outdir / t.name
            builder.run(t.argv(str(out), zig_python), cwd=SRC / "c", extra_env=c_env(builder))
            if t.post:
                builder.run([*t.post, str(out)], cwd=builder.scratch)
            verify_c_elf(out, t)
            version = builder.run([*t.cc(zig_python), "--version"], cwd=builder.scratch,
                                  extra_env=c_env(builder))
            print(f"built {t.name} ({out.stat().st_size} bytes)", file=sys.stderr)
            return {
                "path": t.name,
                "program": Path(t.source).stem,
                "go_version": None,
                "goarch": t.arch,
                "goarm": None,
                "link": "static-pie" if t.elf_type == ET_DYN and not t.interp
                else ("dynamic" if t.interp else "static"),
                "stripped": False,
                "libc": t.libc,
                "cc_version": version.splitlines()[0] if version else "",
                "sha256": sha256_file(out),
                "size": out.stat().st_size,
                "build_command": c_build_command(t, zig_python),
            }

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            rows = list(pool.map(one, targets))
            rows += list(pool.map(one_c, c_targets))
    if snapshot_sources() != before:
        raise BuildError("the go command modified files under bins/src (go.mod?)")
    return rows


def c_env(builder: Builder) -> dict[str, str]:
    """zig keeps the libc it builds per target in its global cache: a persistent one saves
    minutes per build and does not change the output."""
    cache = os.environ.get("ZIG_GLOBAL_CACHE_DIR") or str(Path.home() / ".cache" / "zig")
    return {
        "ZIG_GLOBAL_CACHE_DIR": cache,
        "ZIG_LOCAL_CACHE_DIR": str(builder.scratch / "zig-local"),
        "SOURCE_DATE_EPOCH": "0",
    }


def write_manifest(rows: list[dict[str, Any]]) -> None:
    MANIFEST.write_text(json.dumps(rows, indent=2) + "\n")


def cmd_build(go_paths: dict[str, str], jobs: int, zig_python: str,
              only: Sequence[str] = ()) -> int:
    targets = matrix()
    c_targets = c_matrix()
    order = [t.name for t in targets] + [t.name for t in c_targets]
    if only:
        unknown = sorted(set(only) - set(order))
        if unknown:
            raise BuildError(f"not in the build matrix: {', '.join(unknown)}")
        targets = [t for t in targets if t.name in only]
        c_targets = [t for t in c_targets if t.name in only]
    with tempfile.TemporaryDirectory(prefix="elftrace-bins-") as stage:
        rows = build_all(targets, go_paths, Path(stage), jobs, c_targets, zig_python)
        for name in [t.name for t in targets] + [t.name for t in c_targets]:
            shutil.move(str(Path(stage) / name), BINS / name)
    if only:
        # Keep the other rows as they are; the manifest stays in matrix order.
        kept = {r["path"]: r for r in json.loads(MANIFEST.read_text()) if r["path"] in order}
        kept.update({r["path"]: r for r in rows})
        write_manifest([kept[name] for name in order if name in kept])
        print(f"rebuilt {len(rows)} binaries, updated {MANIFEST.name}", file=sys.stderr)
        return 0
    wanted = set(order)
    for prog in PROGRAMS:
        for stale in BINS.glob(f"{prog}-*"):
            if stale.is_file() and stale.name not in wanted:
                print(f"removing stale {stale.name}", file=sys.stderr)
                stale.unlink()
    write_manifest(rows)
    total = sum(int(r["size"]) for r in rows)
    print(f"wrote {len(rows)} binaries ({total} bytes) and {MANIFEST.name}", file=sys.stderr)
    return 0


def cmd_check(go_paths: dict[str, str], jobs: int, zig_python: str,
              only: Sequence[str] = ()) -> int:
    try:
        manifest: list[dict[str, Any]] = json.loads(MANIFEST.read_text())
    except FileNotFoundError:
        print(f"{MANIFEST} does not exist; run build.py first", file=sys.stderr)
        return 1
    by_path = {r["path"]: r for r in manifest}
    targets = matrix()
    c_targets = c_matrix()
    errors: list[str] = []
    names = {t.name for t in targets} | {t.name for t in c_targets}
    if set(by_path) != names:
        errors.append(f"manifest rows {sorted(set(by_path) ^ names)} do not match the build matrix")
    if only:
        targets = [t for t in targets if t.name in only]
        c_targets = [t for t in c_targets if t.name in only]
        by_path = {k: v for k, v in by_path.items() if k in only}
    # The committed binaries must match the manifest.
    for name, row in by_path.items():
        f = BINS / name
        if not f.is_file():
            errors.append(f"{name}: missing from bins/")
        elif (got := sha256_file(f)) != row["sha256"]:
            errors.append(f"{name}: committed file sha256 {got} != manifest {row['sha256']}")
    # A fresh rebuild must reproduce them.
    with tempfile.TemporaryDirectory(prefix="elftrace-check-") as outdir:
        rebuilt = build_all(targets, go_paths, Path(outdir), jobs, c_targets, zig_python)
    for row in rebuilt:
        old = by_path.get(row["path"])
        if old is None:
            continue
        for key in ("go_version", "sha256", "size"):
            if row[key] != old[key]:
                errors.append(f"{row['path']}: rebuilt {key} {row[key]} != manifest {old[key]}")
    for e in errors:
        print(f"MISMATCH {e}", file=sys.stderr)
    if errors:
        print(f"check FAILED: {len(errors)} problem(s)", file=sys.stderr)
        return 1
    print(
        f"check ok: {len(rebuilt)} binaries rebuilt bit-for-bit identical to the manifest",
        file=sys.stderr,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--go119", default=DEFAULT_GO119, help=f"Go 1.19 executable (default {DEFAULT_GO119})"
    )
    ap.add_argument(
        "--go127", default=DEFAULT_GO127, help=f"Go 1.27 executable (default {DEFAULT_GO127})"
    )
    ap.add_argument(
        "--check",
        action="store_true",
        help="rebuild in a temp dir and verify sha256s against the manifest",
    )
    ap.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="parallel builds (default: CPUs)",
    )
    ap.add_argument(
        "--only",
        nargs="+",
        default=[],
        metavar="NAME",
        help="build (or --check) only these binaries; a build updates their manifest rows",
    )
    ap.add_argument(
        "--zig-python",
        default=DEFAULT_ZIG_PYTHON,
        help=f"Python with the ziglang package, for zig cc (default {DEFAULT_ZIG_PYTHON})",
    )
    args = ap.parse_args(argv)
    go_paths = {"1.19": args.go119, "1.27": args.go127}
    try:
        if args.check:
            return cmd_check(go_paths, args.jobs, args.zig_python, args.only)
        return cmd_build(go_paths, args.jobs, args.zig_python, args.only)
    except BuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

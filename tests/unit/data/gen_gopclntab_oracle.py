"""Generate the oracles of tests/unit/test_gopclntab.py from the Go toolchains' own tools.

Everything the tests compare loader/gopclntab.py against comes from Go, never from
elftrace: ``go tool nm``, ``go tool addr2line`` and ``go tool objdump`` of the toolchain
that built each binary (go1.19.8 at /usr/lib/go-1.19, go1.27.3 at /opt/gov), that
toolchain's runtime sources (FuncID numbering, TOPFRAME declarations), debug/gosym (for
a Go 1.15 table), and what a small Go program prints about its own stack through
runtime.Callers / runtime.CallersFrames. Run from the repository root (needs both
toolchains and an x86-64 Linux host, to run the inline test program)::

    python3 tests/unit/data/gen_gopclntab_oracle.py

Outputs, under tests/unit/data/gopclntab/:

* ``<binary>.json`` for every binary of bins/manifest.json:

  - ``runtime_text``: the address of the runtime.text symbol (``go tool nm``).
  - ``nm``: the function symbols of the binary (``go tool nm -n -size``, types T/t), or
    of its unstripped twin for a ``-stripped`` binary (``nm`` needs .symtab; the twin's
    .text is checked byte-identical first). The list is made comparable with the
    pclntab the way the linker writes names there: the markers runtime.text and
    runtime.etext are dropped (they delimit text, they are not functions); the ELF-only
    ``.abi0`` suffix of assembly functions is removed (cmd/link symtab.go
    mangleABIName); for Go 1.18-1.19 a name's outermost ``[...]`` brackets are
    replaced by ``[...]`` (cmd/link pcln.go generateFuncnametab, nameParts). Stored as
    a count, the sha256 of the sorted ``"%x %s\n"`` lines, and every 16th entry.
  - ``addr2line``: ``go tool addr2line`` (see tool_for) of the binary itself for
    a sample of pcs (the
    entry, middle and end of every 24th function, and of main.main):
    [pc, function, file, line] as printed (``""``/``-1`` where gosym finds no line).
  - ``objdump``: ``go tool objdump`` of a few functions of the (twin) binary: its TEXT
    header's source file and the instructions [pc, text] up to the first return or
    unconditional jump (at most 64).
* ``toolchains.json``: per toolchain, the FuncID numbering parsed from its runtime
  sources and the functions its runtime declares TOPFRAME for linux/amd64 and linux/arm.
* ``inltest-<go>-amd64`` and ``inltest.json``: the program in ``inltest/`` built by each
  toolchain (reproducibly: -trimpath, -buildvcs=false, stripped, GOAMD64=v1, no cgo),
  and what it prints: the pcs runtime.Callers returns from inside doubly inlined code,
  and runtime.CallersFrames' frames for them.
* ``pcln115.json``: debug/gosym's reading (Go 1.27.3) of ``pcln115.gz``, the Go 1.15
  darwin/amd64 pclntab from Go's src/debug/gosym/testdata (BSD licence, copied here
  unchanged): every function's entry, end and name (count, digest and sample), and
  pc -> file:line for a sample of pcs, with text at 0x1001000 as Go's own test uses.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
BINS = REPO / "bins"
OUT = HERE / "gopclntab"
TOOLCHAINS = {"go1.19.8": Path("/usr/lib/go-1.19/bin/go"), "go1.27.3": Path("/opt/gov/bin/go")}
GENERATOR = "tests/unit/data/gen_gopclntab_oracle.py"
REGENERATE = "python3 tests/unit/data/gen_gopclntab_oracle.py"

# Functions disassembled for the SP-delta (pcsp) check: assembly entry points the
# unwinder meets, the raw system call wrappers, and compiled Go functions with frames.
OBJDUMP_FUNCS = [
    "runtime.rt0_go", "runtime.asmcgocall", "runtime.mstart", "syscall.Syscall6",
    "internal/runtime/syscall/linux.Syscall6", "runtime/internal/syscall.Syscall6",
    "main.main", "runtime.main",
]
MARKERS = {"runtime.text", "runtime.etext"}
NM_SAMPLE_EVERY = 16
ADDR_SAMPLE_EVERY = 24
MAX_INSNS = 64


def run(cmd: list[str], *, stdin: str | None = None, env: dict[str, str] | None = None,
        cwd: Path | None = None) -> str:
    res = subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=env, cwd=cwd,
                         check=False)
    if res.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({res.returncode}): {res.stderr.strip()}")
    return res.stdout


def go_version(go: Path) -> str:
    return run([str(go), "version"]).strip()


def goroot(go: Path) -> Path:
    return Path(run([str(go), "env", "GOROOT"]).strip())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def text_bytes(path: Path) -> bytes:
    """Contents of .text, via readelf's section table (only to check twins are equal)."""
    out = run(["readelf", "-SW", str(path)])
    for line in out.splitlines():
        m = re.search(r"\]\s+\.text\s+PROGBITS\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)", line)
        if m:
            off, size = int(m.group(2), 16), int(m.group(3), 16)
            return path.read_bytes()[off:off + size]
    sys.exit(f"{path}: no .text section")


def linker_name(name: str, go: str) -> str:
    """The name as the linker writes it into the pclntab (see the module docstring)."""
    if name.endswith(".abi0"):
        name = name[: -len(".abi0")]
    if go.startswith("go1.18") or go.startswith("go1.19"):
        i = name.find("[")
        if i >= 0:
            j = name.rfind("]")
            if j > i:
                name = name[:i] + "[...]" + name[j + 1:]
    return name


def nm_funcs(go: Path, path: Path, version: str) -> tuple[list[tuple[int, int, str]], int]:
    """(address, size, pclntab-style name) of every T/t symbol but the text markers, and
    the address of runtime.text."""
    funcs = []
    text = -1
    for line in run([str(go), "tool", "nm", "-n", "-size", str(path)]).splitlines():
        parts = line.split(None, 3)
        if len(parts) != 4 or parts[2] not in ("T", "t"):
            continue
        addr, size, _kind, name = int(parts[0], 16), int(parts[1]), parts[2], parts[3]
        if name == "runtime.text":
            text = addr
        if name in MARKERS:
            continue
        funcs.append((addr, size, linker_name(name, version)))
    return funcs, text


def digest(lines: list[str]) -> str:
    return hashlib.sha256("".join(sorted(lines)).encode()).hexdigest()


def sample_pcs(funcs: list[tuple[int, int, str]], quantum: int) -> list[int]:
    pcs: set[int] = set()
    for i, (addr, size, name) in enumerate(funcs):
        if i % ADDR_SAMPLE_EVERY == 0 or name == "main.main":
            pcs.add(addr)
            if size > quantum:
                pcs.add(addr + (size // 2) // quantum * quantum)
            pcs.add(addr + size)  # first byte past the code: padding, or the next entry
    return sorted(pcs)


def addr2line(go: Path, path: Path, pcs: list[int]) -> list[list[Any]]:
    out = run([str(go), "tool", "addr2line", str(path)],
              stdin="".join(f"{pc:#x}\n" for pc in pcs)).splitlines()
    if len(out) != 2 * len(pcs):
        sys.exit(f"addr2line {path}: {len(out)} lines for {len(pcs)} pcs")
    rows = []
    for i, pc in enumerate(pcs):
        fn, pos = out[2 * i], out[2 * i + 1]
        file, _, line = pos.rpartition(":")
        rows.append([pc, fn, file, int(line)])
    return rows


_EXIT = re.compile(r"^(RET\b|JMP [0-9a-fx]+$|JMP [^ ]+\(SB\)$|B [0-9a-fx]+$|B [^ ]+\(SB\)$|"
                   r"POP \[.*R15.*\]$|B \(R14\)$)")


def objdump(go: Path, path: Path) -> list[dict[str, Any]]:
    names = "|".join(re.escape(n) for n in OBJDUMP_FUNCS)
    out = run([str(go), "tool", "objdump", "-s", f"^({names})(\\.abi0)?$", str(path)])
    funcs: list[dict[str, Any]] = []
    cur: dict[str, Any] | None = None
    for line in out.splitlines():
        if line.startswith("TEXT "):
            m = re.match(r"TEXT (\S+)\(SB\) (.*)$", line)
            assert m, line
            cur = {"name": linker_name(m.group(1), "go1.27"), "file": m.group(2).strip(),
                   "insns": [], "complete": False}
            funcs.append(cur)
            continue
        if cur is None or cur["complete"] or not line.strip():
            continue
        # "  file:line\t0xPC\t\tHEXBYTES\t\tTEXT\t"
        cols = [c for c in line.strip().split("\t") if c]
        if len(cols) < 4:
            continue
        pc, text = int(cols[1], 16), cols[3].strip()
        cur["insns"].append([pc, text])
        if _EXIT.match(text) or len(cur["insns"]) >= MAX_INSNS:
            cur["complete"] = True
    return funcs


def tool_for(version: str, path: Path) -> Path:
    """The building toolchain, unless its addr2line/objdump cannot read the binary's
    table: go1.19's cmd/internal/objfile (elf.go) looks only for a .gopclntab section,
    so it finds no table in its own PIE binaries (.data.rel.ro.gopclntab); Go 1.27's,
    which also looks there and reads every table version through debug/gosym, is used
    for those."""
    go = TOOLCHAINS[version]
    objfile = (goroot(go) / "src/cmd/internal/objfile/elf.go").read_text()
    if "data.rel.ro.gopclntab" not in objfile and b".data.rel.ro.gopclntab" in \
            path.read_bytes():
        return TOOLCHAINS["go1.27.3"]
    return go


def binary_oracle(row: dict[str, Any]) -> dict[str, Any]:
    path = BINS / row["path"]
    version = row["go_version"]
    go = TOOLCHAINS[version]
    twin_name = row["path"].removesuffix("-stripped")
    twin = BINS / twin_name
    a2l = tool_for(version, path)
    dis = tool_for(version, twin)
    if row["stripped"] and text_bytes(twin) != text_bytes(path):
        sys.exit(f"{path}: .text differs from {twin}; cannot borrow its symbols")
    quantum = 4 if row["goarch"] == "arm" else 1
    funcs, text = nm_funcs(go, twin, version)
    lines = [f"{a:x} {n}\n" for a, _s, n in funcs]
    pcs = sample_pcs(funcs, quantum)
    return {
        "_provenance": {
            "generator": GENERATOR,
            "regenerate": REGENERATE,
            "toolchain": go_version(go),
            "binary_sha256": sha256(path),
            "nm": f"go tool nm -n -size {twin.relative_to(REPO)}",
            "addr2line": f"go tool addr2line {path.relative_to(REPO)}",
            "addr2line_toolchain": go_version(a2l),
            "objdump_toolchain": go_version(dis),
            "objdump": f"go tool objdump -s REGEX {twin.relative_to(REPO)}",
            "note": "names normalised to the pclntab's spelling; see the generator",
        },
        "binary": row["path"],
        "go_version": version,
        "goarch": row["goarch"],
        "nm_source": twin_name,
        "runtime_text": text,
        "nm": {
            "count": len(funcs),
            "sha256": digest(lines),
            "sample": [[a, n] for i, (a, _s, n) in enumerate(funcs) if i % NM_SAMPLE_EVERY == 0],
        },
        "addr2line": addr2line(a2l, path, pcs),
        "objdump": objdump(dis, twin),
    }


def funcid_numbering(root: Path, version: str) -> dict[str, int]:
    """The FuncID constant list of this runtime (runtime/symtab.go in Go 1.19,
    internal/abi/symtab.go later), keyed by the function each ID is given to
    (cmd/internal/objabi/funcid.go's map), plus "wrapper"."""
    if version.startswith("go1.19"):
        src = (root / "src/runtime/symtab.go").read_text()
        block = re.search(r"\n\s*(funcID_normal) funcID = iota(.*?)\n\)", src, re.S)
    else:
        src = (root / "src/internal/abi/symtab.go").read_text()
        block = re.search(r"\n\s*(FuncIDNormal) FuncID = iota(.*?)\n\)", src, re.S)
    assert block, "FuncID list not found"
    consts = [block.group(1)] + [ln.split("//")[0].strip()
                                 for ln in block.group(2).splitlines()
                                 if ln.split("//")[0].strip()]

    def key(const: str) -> str:  # FuncID_abort / funcID_abort / FuncIDWrapper -> abort
        return re.sub(r"^[Ff]uncID_?", "", const).lower()

    numbers = {key(c): i for i, c in enumerate(consts)}
    objabi = (root / "src/cmd/internal/objabi/funcid.go").read_text()
    out: dict[str, int] = {}
    for name, const in re.findall(r'"(\w+)":\s+(?:abi\.)?(\w+),', objabi):
        out[f"runtime.{name}"] = numbers[key(const)]
    out["wrapper"] = numbers["wrapper"]
    return out


def topframe_funcs(root: Path, goarch: str) -> list[str]:
    found = set()
    for name in (f"asm_{goarch}.s", f"sys_linux_{goarch}.s", f"rt0_linux_{goarch}.s"):
        path = root / "src/runtime" / name
        if not path.exists():
            continue
        for m in re.finditer(r"^TEXT\s+(\S*?)·(\w+)\(SB\),\s*([A-Z|]+)", path.read_text(), re.M):
            if "TOPFRAME" in m.group(3).split("|"):
                found.add(f"runtime.{m.group(2)}")
    return sorted(found)


def toolchains_oracle() -> dict[str, Any]:
    out: dict[str, Any] = {"_provenance": {"generator": GENERATOR, "regenerate": REGENERATE,
                                           "sources": "GOROOT/src of each toolchain"}}
    for version, go in TOOLCHAINS.items():
        root = goroot(go)
        out[version] = {
            "toolchain": go_version(go),
            "funcid": funcid_numbering(root, version),
            "topframe": {arch: topframe_funcs(root, arch) for arch in ("amd64", "arm")},
        }
    return out


def inline_oracle() -> dict[str, Any]:
    src = OUT / "inltest"
    out: dict[str, Any] = {"_provenance": {"generator": GENERATOR, "regenerate": REGENERATE,
                                           "source": "tests/unit/data/gopclntab/inltest"}}
    env = dict(os.environ, GOOS="linux", GOARCH="amd64", GOAMD64="v1", CGO_ENABLED="0",
               GO111MODULE="on", GOTOOLCHAIN="local", GOFLAGS="-mod=mod")
    for version, go in TOOLCHAINS.items():
        short = version.removeprefix("go").rsplit(".", 1)[0]
        name = f"inltest-{short}-amd64"
        dest = OUT / name
        cmd = [str(go), "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o",
               str(dest), "."]
        run(cmd, env=env, cwd=src)
        res = subprocess.run([str(dest)], capture_output=True, text=True, check=False)
        if res.returncode != 0:
            sys.exit(f"{dest} failed: {res.stderr}")
        pcs, frames = [], []
        for line in res.stderr.splitlines():
            parts = line.split()
            if parts[0] == "pc":
                pcs.append(int(parts[1]))
            elif parts[0] == "frame":
                frames.append([int(parts[1]), parts[2], parts[3], int(parts[4])])
        build = ["GOOS=linux GOARCH=amd64 GOAMD64=v1 CGO_ENABLED=0", *cmd[:-2], name, "."]
        out[name] = {"toolchain": go_version(go), "build": " ".join(build),
            "sha256": sha256(dest), "size": dest.stat().st_size, "callers": pcs,
            "frames": frames}
    return out


GOSYM_DUMP = r"""
package main

import (
	"bytes"
	"compress/gzip"
	"debug/gosym"
	"fmt"
	"io"
	"os"
	"strconv"
)

func main() {
	raw, _ := os.ReadFile(os.Args[1])
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		panic(err)
	}
	data, _ := io.ReadAll(zr)
	text, _ := strconv.ParseUint(os.Args[2], 0, 64)
	tab, err := gosym.NewTable(nil, gosym.NewLineTable(data, text))
	if err != nil {
		panic(err)
	}
	for _, f := range tab.Funcs {
		fmt.Printf("func\t%x\t%x\t%s\n", f.Entry, f.End, f.Name)
	}
	for i, f := range tab.Funcs {
		if i%8 != 0 {
			continue
		}
		for _, pc := range []uint64{f.Entry, f.Entry + (f.End-f.Entry)/2} {
			file, line, fn := tab.PCToLine(pc)
			name := "?"
			if fn != nil {
				name = fn.Name
			}
			fmt.Printf("pc\t%x\t%s\t%s\t%d\n", pc, name, file, line)
		}
	}
}
"""


def pcln115_oracle() -> dict[str, Any]:
    go = TOOLCHAINS["go1.27.3"]
    # Read in place from the toolchain's source tree; the table is Go's test data and is
    # not copied into this repository (the test finds it the same way, or skips).
    dest = goroot(go) / "src/debug/gosym/testdata/pcln115.gz"
    text = 0x1001000  # Test115PclnParsing in src/debug/gosym/pclntab_test.go
    with tempfile.TemporaryDirectory() as tmp:
        prog = Path(tmp) / "dump.go"
        prog.write_text(GOSYM_DUMP)
        env = dict(os.environ, GOTOOLCHAIN="local", GOFLAGS="", GO111MODULE="off")
        out = run([str(go), "run", str(prog), str(dest), hex(text)], env=env, cwd=Path(tmp))
    funcs, pcs = [], []
    for line in out.splitlines():
        parts = line.split("\t")
        if parts[0] == "func":
            funcs.append([int(parts[1], 16), int(parts[2], 16), parts[3]])
        else:
            pcs.append([int(parts[1], 16), parts[2], parts[3], int(parts[4])])
    lines = [f"{e:x} {n}\n" for e, _end, n in funcs]
    return {
        "_provenance": {"generator": GENERATOR, "regenerate": REGENERATE,
                        "toolchain": go_version(go), "reader": "debug/gosym",
                        "table": "src/debug/gosym/testdata/pcln115.gz (Go 1.15, darwin/amd64)",
                        "table_sha256": sha256(dest)},
        "text_start": text,
        "funcs": {"count": len(funcs), "sha256": digest(lines),
                  "sample": [f for i, f in enumerate(funcs) if i % NM_SAMPLE_EVERY == 0]},
        "pcs": pcs,
    }


def dumps(value: Any, indent: str = "") -> str:
    """JSON with one line per object key and per row of a table (diff-friendly, small)."""
    inner = indent + " "
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(k)}: {dumps(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, list) and value and all(isinstance(v, (list, dict)) for v in value):
        rows = [inner + dumps(v, inner) if isinstance(v, dict) else inner + json.dumps(v)
                for v in value]
        return "[\n" + ",\n".join(rows) + "\n" + indent + "]"
    return json.dumps(value)


def write(name: str, data: dict[str, Any]) -> None:
    (OUT / name).write_text(dumps(data) + "\n")


def main() -> None:
    for version, go in TOOLCHAINS.items():
        if not go.exists() or version not in go_version(go):
            sys.exit(f"{go} is not {version}")
    OUT.mkdir(exist_ok=True)
    manifest = json.loads((BINS / "manifest.json").read_text())
    for row in manifest:
        write(f"{row['path']}.json", binary_oracle(row))
        print("wrote", row["path"])
    write("toolchains.json", toolchains_oracle())
    write("inltest.json", inline_oracle())
    write("pcln115.json", pcln115_oracle())
    print("wrote toolchains.json inltest.json pcln115.json")


if __name__ == "__main__":
    main()

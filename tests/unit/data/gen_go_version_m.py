"""Record ``go version -m`` output: the oracle for tests/unit/test_buildinfo.py.

Two kinds of records go to tests/unit/data/go_version_m/, so that the tests need no Go
toolchain (CI has none):

1. ``<binary>.txt``: stdout of ``go version -m bins/<binary>`` for every binary listed
   in bins/manifest.json, run from the repository root (the path is part of the text).
   Every available toolchain is run; their outputs must agree byte for byte (they do
   for go1.19.8 and go1.27.3), and the first toolchain's is written.
2. ``modtest-<go>-<arch>.txt`` and ``.json``: a small module built here, per toolchain
   and architecture, whose build info has what bins/ lacks: a ``dep`` line, a ``=>``
   replacement (with Go's blank line after it), ``-tags`` and a quoted ``-ldflags``
   value (ldflags are recorded only without -trimpath). The binary itself is not kept:
   the JSON holds its ``.go.buildinfo`` section (address and hex bytes) and ELF class
   and machine, from which the test rebuilds a minimal ELF; the .txt is ``go version
   -m`` on the real binary, with the path ``modtest-<go>-<arch>``.

Toolchains: /opt/gov/bin/go (go1.27.3) and /usr/lib/go-1.19/bin/go (go1.19.8), or the
``GO_TOOLCHAINS`` environment variable (colon-separated). Builds are offline
(GOPROXY=off, GOFLAGS=-mod=mod, the dependency is a local directory replacement).
``provenance.json`` lists toolchains, commands and input hashes. Run from anywhere::

    python3 tests/unit/data/gen_go_version_m.py
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
OUT = HERE / "go_version_m"
DEFAULT_TOOLCHAINS = ["/opt/gov/bin/go", "/usr/lib/go-1.19/bin/go"]

MODTEST_FILES = {
    "go.mod": "module example.com/elftrace/modtest\n\ngo 1.19\n\n"
              "require example.com/dep v1.2.3\n\nreplace example.com/dep v1.2.3 => ./dep\n",
    "main.go": 'package main\n\nimport (\n\t"fmt"\n\n\t"example.com/dep"\n)\n\n'
               'var note = "default"\n\nfunc main() { fmt.Println(dep.Hello(), note) }\n',
    "dep/go.mod": "module example.com/dep\n\ngo 1.19\n",
    "dep/dep.go": 'package dep\n\nfunc Hello() string { return "hi" }\n',
}
MODTEST_ARCHES = {"amd64": {"GOARCH": "amd64", "GOAMD64": "v1"},
                  "arm7": {"GOARCH": "arm", "GOARM": "7"}}
MODTEST_FLAGS = ["-buildvcs=false", "-tags", "netgo osusergo",
                 "-ldflags=-X 'main.note=hello world' -s -w"]


def toolchains() -> list[str]:
    names = os.environ.get("GO_TOOLCHAINS")
    found = [t for t in (names.split(":") if names else DEFAULT_TOOLCHAINS)
             if shutil.which(t)]
    if not found:
        sys.exit("no Go toolchain found (set GO_TOOLCHAINS)")
    return found


def go_env(go: str, var: str) -> str:
    return subprocess.run([go, "env", var], check=True, capture_output=True,
                          text=True).stdout.strip()


def version_m(go: str, path: str, cwd: Path) -> str:
    res = subprocess.run([go, "version", "-m", path], cwd=cwd, capture_output=True)
    if res.returncode != 0:
        sys.exit(f"{go} version -m {path} failed: {res.stderr.decode(errors='replace')}")
    return res.stdout.decode("utf-8", "surrogateescape")


def section(path: Path, name: str) -> tuple[int, bytes, int, int]:
    """(sh_addr, contents, ELF class bits, e_machine) of a section, parsed by hand from the
    gABI layouts so that the recorder depends on nothing in loader/."""
    data = path.read_bytes()
    is64 = data[4] == 2
    if is64:
        (_, machine, _, _, _, shoff, _, _, _, _, shentsize, shnum,
         shstrndx) = struct.unpack_from("<HHIQQQIHHHHHH", data, 16)
        shfmt = "<IIQQQQIIQQ"
    else:
        (_, machine, _, _, _, shoff, _, _, _, _, shentsize, shnum,
         shstrndx) = struct.unpack_from("<HHIIIIIHHHHHH", data, 16)
        shfmt = "<IIIIIIIIII"
    headers = [struct.unpack_from(shfmt, data, shoff + i * shentsize) for i in range(shnum)]
    strtab = headers[shstrndx]
    str_off = strtab[4]
    for h in headers:
        sh_name, sh_addr, sh_offset, sh_size = h[0], h[3], h[4], h[5]
        end = data.index(b"\0", str_off + sh_name)
        if data[str_off + sh_name:end].decode() == name:
            return sh_addr, data[sh_offset:sh_offset + sh_size], 64 if is64 else 32, machine
    sys.exit(f"{path}: no {name} section")


def main() -> None:
    gos = toolchains()
    OUT.mkdir(exist_ok=True)
    provenance: dict[str, object] = {
        "generator": "tests/unit/data/gen_go_version_m.py",
        "toolchains": {go: go_env(go, "GOVERSION") for go in gos},
        "bins": {}, "modtest": {},
    }
    manifest = json.loads((REPO / "bins" / "manifest.json").read_text())
    for entry in manifest:
        if not entry.get("go_version"):
            continue  # C programs: no Go build info
        rel = f"bins/{entry['path']}"
        outputs = {go: version_m(go, rel, REPO) for go in gos}
        first = outputs[gos[0]]
        for go, text in outputs.items():
            if text != first:
                sys.exit(f"{rel}: `{go} version -m` differs from `{gos[0]} version -m`")
        (OUT / f"{entry['path']}.txt").write_text(first, encoding="utf-8",
                                                  errors="surrogateescape")
        digest = hashlib.sha256((REPO / rel).read_bytes()).hexdigest()
        provenance["bins"][entry["path"]] = {  # type: ignore[index]
            "command": f"go version -m {rel}", "sha256": digest, "agreeing": gos}
    with tempfile.TemporaryDirectory(prefix="modtest-") as tmp:
        src = Path(tmp) / "src"
        for name, text in MODTEST_FILES.items():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_text(text)
        for go in gos:
            short = go_env(go, "GOVERSION").removeprefix("go").rsplit(".", 1)[0]
            for arch, arch_env in MODTEST_ARCHES.items():
                name = f"modtest-{short}-{arch}"
                env = {**os.environ, "GOOS": "linux", "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod",
                       "GOPROXY": "off", "GOTOOLCHAIN": "local", "GO111MODULE": "on",
                       **arch_env}
                cmd = [go, "build", *MODTEST_FLAGS, "-o", str(Path(tmp) / name), "."]
                subprocess.run(cmd, cwd=src, env=env, check=True)
                text = version_m(go, name, Path(tmp))
                addr, blob, bits, machine = section(Path(tmp) / name, ".go.buildinfo")
                (OUT / f"{name}.txt").write_text(text, encoding="utf-8",
                                                 errors="surrogateescape")
                (OUT / f"{name}.json").write_text(json.dumps({
                    "path": name, "bits": bits, "machine": machine, "address": addr,
                    "section_hex": blob.hex()}, indent=1) + "\n")
                provenance["modtest"][name] = {  # type: ignore[index]
                    "toolchain": go,
                    "env": {k: env[k] for k in ("GOOS", "CGO_ENABLED", "GOFLAGS", "GOPROXY",
                                                "GOTOOLCHAIN", *arch_env)},
                    "command": shlex.join([*cmd[:-3], "-o", name, "."]),
                    "sources": MODTEST_FILES}
    (OUT / "provenance.json").write_text(json.dumps(provenance, indent=1) + "\n")
    print(f"wrote {len(list(OUT.iterdir()))} files to {OUT.relative_to(REPO)}")


if __name__ == "__main__":
    main()

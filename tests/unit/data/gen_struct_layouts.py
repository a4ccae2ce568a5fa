"""Generate struct_layouts.json: sizes and field offsets of kernel/glibc structs, from C.

The oracle for tests/unit/test_structs.py. One C program is generated, compiled with
the host ``gcc`` (x86-64), with ``arm-linux-gnueabihf-gcc`` (32-bit ARM EABI,
linked statically and run under ``qemu-arm``), ``aarch64-linux-gnu-gcc`` (run under
``qemu-aarch64``) and zig's ``cc -target x86-linux-musl`` (i386, run natively), and
its output (``sizeof`` and ``offsetof`` of each struct and field, as the compiler lays
them out for that ABI) is
written to struct_layouts.json next to this script, with the compiler versions and
commands as provenance. The tests read only the JSON, so no compiler is needed to run
them. Run from the repository root::

    python3 tests/unit/data/gen_struct_layouts.py

Headers: kernel uapi (<asm/stat.h>, <linux/stat.h>, <linux/time_types.h>) where the
kernel defines the struct the guest sees, glibc (<signal.h>, <sys/epoll.h>,
<sys/utsname.h>, <sys/resource.h>, <dirent.h>, <sys/uio.h>) where glibc's struct is the
same shape as the kernel's. rt_sigaction's ``struct sigaction`` is kernel-internal
(include/linux/signal_types.h, not exported to uapi), so its declaration is copied
below verbatim in shape; the compiler still decides the layout.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "struct_layouts.json"

HEADERS = r"""
#define _GNU_SOURCE
#include <stddef.h>
#include <stdio.h>
#include <signal.h>
#include <dirent.h>
#include <sys/epoll.h>
#include <sys/utsname.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <linux/types.h>
#include <linux/time_types.h>
#include <linux/stat.h>
#include <asm/stat.h>

/* include/linux/signal_types.h: the struct rt_sigaction(2) copies from user space on
 * architectures with __ARCH_HAS_SA_RESTORER (x86 and ARM both have it); the kernel's
 * sigset_t is unsigned long sig[_NSIG / _NSIG_BPW] with _NSIG = 64. Members are renamed
 * because glibc's <signal.h> defines sa_handler and sa_restorer as macros. */
struct kernel_sigaction_rt {
    void (*handler)(int);               /* sa_handler */
    unsigned long flags;                /* sa_flags */
    void (*restorer)(void);             /* sa_restorer */
    struct { unsigned long sig[64 / (8 * sizeof(unsigned long))]; } mask;  /* sa_mask */
};

#define SIZE(name, type) printf("%s size %zu\n", name, sizeof(type))
#define FIELD(name, type, f) \
    printf("%s.%s %zu %zu\n", name, #f, offsetof(type, f), sizeof(((type *)0)->f))
"""

# (JSON name, C type, fields, targets)
BOTH = ("x86_64", "arm", "aarch64", "i386")
STRUCTS: list[tuple[str, str, tuple[str, ...], tuple[str, ...]]] = [
    ("stat", "struct stat",
     ("st_dev", "st_ino", "st_nlink", "st_mode", "st_uid", "st_gid", "st_rdev", "st_size",
      "st_blksize", "st_blocks", "st_atime", "st_atime_nsec", "st_mtime", "st_mtime_nsec",
      "st_ctime", "st_ctime_nsec"), ("x86_64", "aarch64")),
    ("stat64", "struct stat64",
     ("st_dev", "__st_ino", "st_mode", "st_nlink", "st_uid", "st_gid", "st_rdev", "st_size",
      "st_blksize", "st_blocks", "st_atime", "st_atime_nsec", "st_mtime", "st_mtime_nsec",
      "st_ctime", "st_ctime_nsec", "st_ino"), ("arm", "i386")),
    ("statx", "struct statx",
     ("stx_mask", "stx_blksize", "stx_attributes", "stx_nlink", "stx_uid", "stx_gid",
      "stx_mode", "stx_ino", "stx_size", "stx_blocks", "stx_attributes_mask", "stx_atime",
      "stx_btime", "stx_ctime", "stx_mtime", "stx_rdev_major", "stx_rdev_minor",
      "stx_dev_major", "stx_dev_minor"), BOTH),
    ("statx_timestamp", "struct statx_timestamp", ("tv_sec", "tv_nsec"), BOTH),
    ("old_timespec", "struct __kernel_old_timespec", ("tv_sec", "tv_nsec"), BOTH),
    ("kernel_timespec", "struct __kernel_timespec", ("tv_sec", "tv_nsec"), BOTH),
    ("old_timeval", "struct __kernel_old_timeval", ("tv_sec", "tv_usec"), BOTH),
    # musl's struct rlimit is 64-bit everywhere (it calls prlimit64): no i386 oracle here.
    ("rlimit", "struct rlimit", ("rlim_cur", "rlim_max"), ("x86_64", "arm", "aarch64")),
    ("rlimit64", "struct rlimit64", ("rlim_cur", "rlim_max"), BOTH),
    ("kernel_sigaction", "struct kernel_sigaction_rt",
     ("handler", "flags", "restorer", "mask"), BOTH),
    ("stack_t", "stack_t", ("ss_sp", "ss_flags", "ss_size"), BOTH),
    ("epoll_event", "struct epoll_event", ("events", "data"), BOTH),
    ("dirent64", "struct dirent64", ("d_ino", "d_off", "d_reclen", "d_type", "d_name"), BOTH),
    ("siginfo", "siginfo_t",
     ("si_signo", "si_errno", "si_code", "si_pid", "si_uid", "si_status", "si_addr"), BOTH),
    ("utsname", "struct utsname",
     ("sysname", "nodename", "release", "version", "machine", "domainname"), BOTH),
    ("iovec", "struct iovec", ("iov_base", "iov_len"), BOTH),
]

TARGETS = {
    "x86_64": {
        "cc": "gcc",
        "cflags": ["-O0", "-Wall", "-Werror"],
        "run": [],
    },
    "arm": {
        "cc": "arm-linux-gnueabihf-gcc",
        "cflags": ["-O0", "-Wall", "-Werror", "-static"],
        "run": ["/usr/bin/qemu-arm"],
    },
    "aarch64": {
        "cc": "aarch64-linux-gnu-gcc",
        "cflags": ["-O0", "-Wall", "-Werror", "-static"],
        "run": ["/usr/bin/qemu-aarch64"],
    },
    # No 32-bit glibc here: zig's musl for i386 (its own copy of the kernel uapi headers),
    # run natively by the x86-64 kernel.
    "i386": {
        "cc": sys.executable,
        "cflags": ["-m", "ziglang", "cc", "-target", "x86-linux-musl", "-D_LARGEFILE64_SOURCE",
                   "-O0", "-Wall", "-Werror", "-static"],
        "run": [],
        "version": [sys.executable, "-m", "ziglang", "version"],
    },
}


def c_source(target: str) -> str:
    lines = [HEADERS, "int main(void) {"]
    for name, ctype, fields, targets in STRUCTS:
        if target not in targets:
            continue
        lines.append(f'    SIZE("{name}", {ctype});')
        lines.extend(f'    FIELD("{name}", {ctype}, {f});' for f in fields)
    lines += ["    return 0;", "}", ""]
    return "\n".join(lines)


def parse(output: str) -> dict[str, dict[str, object]]:
    result: dict[str, dict[str, object]] = {}
    for line in output.splitlines():
        key, *values = line.split()
        if values[0] == "size":
            result.setdefault(key, {"fields": {}})["size"] = int(values[1])
        else:
            struct_name, field = key.split(".", 1)
            entry = result.setdefault(struct_name, {"fields": {}})
            fields = entry["fields"]
            assert isinstance(fields, dict)
            fields[field] = [int(values[0]), int(values[1])]  # [offset, size]
    return result


def render(doc: dict[str, object]) -> str:
    """JSON with one struct per line, so that a regeneration diffs readably."""
    provenance = json.dumps(doc["_provenance"], indent=1).replace("\n", "\n ")
    lines = ["{", f' "_provenance": {provenance},']
    targets = [k for k in doc if k != "_provenance"]
    for ti, target in enumerate(targets):
        structs = doc[target]
        assert isinstance(structs, dict)
        lines.append(f' "{target}": {{')
        for si, (name, entry) in enumerate(structs.items()):
            comma = "," if si < len(structs) - 1 else ""
            lines.append(f'  "{name}": {json.dumps(entry)}{comma}')
        lines.append(" }" + ("," if ti < len(targets) - 1 else ""))
    lines.append("}")
    text = "\n".join(lines) + "\n"
    assert json.loads(text) == doc
    return text


def version(cmd: list[str]) -> str:
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return out.splitlines()[0].strip()


def main() -> int:
    layouts: dict[str, object] = {}
    provenance: dict[str, object] = {
        "generator": "tests/unit/data/gen_struct_layouts.py",
        "regenerate": "python3 tests/unit/data/gen_struct_layouts.py",
        "note": "sizeof/offsetof as printed by a C program compiled for each target; "
                "see the generator's docstring for the headers used",
        "targets": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for target, cfg in TARGETS.items():
            cc = shutil.which(str(cfg["cc"]))
            if cc is None:
                print(f"{cfg['cc']} not found", file=sys.stderr)
                return 1
            src = Path(tmp) / f"layouts_{target}.c"
            exe = Path(tmp) / f"layouts_{target}"
            src.write_text(c_source(target))
            compile_cmd = [str(cfg["cc"]), *cfg["cflags"], "-o", str(exe), str(src)]  # type: ignore[misc]
            subprocess.run(compile_cmd, check=True)
            run_cmd = [*cfg["run"], str(exe)]  # type: ignore[misc]
            output = subprocess.run(run_cmd, capture_output=True, text=True, check=True).stdout
            layouts[target] = parse(output)
            target_info: dict[str, object] = {
                "compiler": version(cfg.get("version", [str(cfg["cc"]), "--version"])),  # type: ignore[arg-type]
                "compile": " ".join([str(cfg["cc"]), *cfg["cflags"],  # type: ignore[misc]
                                     "-o", exe.name, src.name]),
            }
            if cfg["run"]:
                target_info["runner"] = version([*cfg["run"], "--version"])  # type: ignore[misc]
            provenance["targets"][target] = target_info  # type: ignore[index]
    OUT.write_text(render({"_provenance": provenance, **layouts}))
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""New programs and processes: execve (from a vfork child — posix_spawn, os/exec — or by
the program itself) runs the new program as a host process under its own elftrace; fork
forks elftrace. C programs run natively and under elftrace (amd64, and ARM when the
cross compiler is installed) print the same bytes: spawns through pipes, an inherited fd,
a #! script, a missing program, children that die of signals, a shell pipeline."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE = Path(__file__).parent / "data" / "exec_children.c"
SCRIPT = "#!/bin/sh\necho script says $0 $1\nexit 7\n"


@pytest.fixture(scope="module")
def native(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    if shutil.which("gcc") is None:
        pytest.skip("no host C compiler")
    work = tmp_path_factory.mktemp("exec")
    exe = work / "exec-amd64"
    subprocess.run(["gcc", "-static", "-O1", "-o", str(exe), str(SOURCE)], check=True,
                   capture_output=True, timeout=120)
    script = work / "s.sh"
    script.write_text(SCRIPT)
    script.chmod(0o755)
    proc = subprocess.run([str(exe), str(work / "five"), str(script)], capture_output=True,
                          text=True, timeout=60, check=True)
    assert "through cat" in proc.stdout
    return work, proc.stdout


def _emulated(work: Path, exe: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "emulator", "run", str(exe),
                           str(work / "five"), str(work / "s.sh")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)


def test_spawned_programs_behave_as_on_the_real_machine(native: tuple[Path, str]) -> None:
    work, expected = native
    proc = _emulated(work, work / "exec-amd64")
    assert proc.stderr == ""
    assert proc.stdout == expected
    assert proc.returncode == 0


@pytest.mark.skipif(shutil.which("arm-linux-gnueabihf-gcc") is None,
                    reason="no ARM cross compiler")
def test_an_arm_guest_spawns_host_programs_too(native: tuple[Path, str]) -> None:
    """The same program built for ARM: its children (amd64 /bin/sh, /bin/cat) run under
    elftrace as amd64 guests; what it prints is the real machine's."""
    work, expected = native
    exe = work / "exec-arm"
    subprocess.run(["arm-linux-gnueabihf-gcc", "-static", "-O1", "-o", str(exe), str(SOURCE)],
                   check=True, capture_output=True, timeout=120)
    proc = _emulated(work, exe)
    assert proc.stderr == ""
    assert proc.stdout == expected
    assert proc.returncode == 0


SELF_EXEC = r"""
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 7);
    open(argv[1], O_RDONLY | O_CLOEXEC);
    printf("before exec\n");
    fflush(stdout);
    char *a[] = {"/bin/sh", "-c", "echo in $0 >&7; for fd in 3 4 7; do "
                 "[ -e /proc/self/fd/$fd ] && echo $fd open || echo $fd closed; done; exit 3",
                 NULL};
    execv("/bin/sh", a);
    perror("execv");
    return 1;
}
"""


def test_the_program_itself_execs_another(tmp_path: Path) -> None:
    """execve by the program elftrace runs: elftrace ends the trace with execve's = 0 and
    becomes the new program's elftrace (same pid), which keeps fds 3 and 7 but not the
    close-on-exec fd 4; the exit status is the new program's."""
    if shutil.which("gcc") is None:
        pytest.skip("no host C compiler")
    src, exe = tmp_path / "self.c", tmp_path / "self"
    src.write_text(SELF_EXEC)
    subprocess.run(["gcc", "-static", "-O1", "-o", str(exe), str(src)], check=True,
                   capture_output=True, timeout=120)
    native = subprocess.run([str(exe), str(tmp_path / "native7")], capture_output=True,
                            text=True, timeout=60)
    out = tmp_path / "trace"
    proc = subprocess.run([sys.executable, "-m", "emulator", "trace", "-o", str(out), str(exe),
                           str(tmp_path / "emulated7")], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    assert native.returncode == proc.returncode == 3
    assert proc.stdout == native.stdout == "before exec\n3 open\n4 closed\n7 open\n"
    assert (tmp_path / "emulated7").read_text() == (tmp_path / "native7").read_text() \
        == "in /bin/sh\n"
    assert out.read_text().splitlines()[-1].startswith('execve("/bin/sh", ["/bin/sh", "-c", ')
    assert out.read_text().splitlines()[-1].endswith(" = 0")


FORK_SOURCE = Path(__file__).parent / "data" / "fork_children.c"
COMPILERS = [pytest.param("gcc", id="amd64"),
             pytest.param("arm-linux-gnueabihf-gcc", id="arm",
                          marks=pytest.mark.skipif(
                              shutil.which("arm-linux-gnueabihf-gcc") is None,
                              reason="no ARM cross compiler"))]


@pytest.mark.parametrize("compiler", COMPILERS)
def test_forked_children_behave_as_on_the_real_machine(tmp_path: Path, compiler: str) -> None:
    """fork copies memory (the child's changes stay its own), shares the pipe (EOF once
    the child is gone), gives the child its own pid; exit codes, a kill by the parent and
    a child's own SIGSEGV reach waitpid; a shell pipeline and $(...) (which fork) work."""
    if shutil.which("gcc") is None:
        pytest.skip("no host C compiler")
    native_exe, exe = tmp_path / "fork-native", tmp_path / "fork"
    subprocess.run(["gcc", "-static", "-O1", "-o", str(native_exe), str(FORK_SOURCE)],
                   check=True, capture_output=True, timeout=120)
    subprocess.run([compiler, "-static", "-O1", "-o", str(exe), str(FORK_SOURCE)],
                   check=True, capture_output=True, timeout=120)
    native = subprocess.run([str(native_exe)], capture_output=True, text=True, timeout=60)
    proc = subprocess.run([sys.executable, "-m", "emulator", "run", str(exe)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert "faulting child: killed by 11" in native.stdout
    assert (proc.stdout, proc.stderr, proc.returncode) == (native.stdout, native.stderr, 0)


def test_trace_follows_forked_children_with_f(tmp_path: Path) -> None:
    """trace -f: a forked child's calls are traced by its own elftrace into the same file,
    each line under its pid; its exit is said once; the parent's fork returns its pid and
    the child's return from fork is not a line (strace -f shows the same)."""
    if shutil.which("gcc") is None:
        pytest.skip("no host C compiler")
    exe, out = tmp_path / "fork", tmp_path / "trace"
    subprocess.run(["gcc", "-static", "-O1", "-o", str(exe), str(FORK_SOURCE)], check=True,
                   capture_output=True, timeout=120)
    proc = subprocess.run([sys.executable, "-m", "emulator", "trace", "-f", "-o", str(out),
                           str(exe)], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0
    text = out.read_text()
    first = re.search(r"^clone\(child_stack=NULL, flags=CLONE_CHILD_CLEARTID\|"
                      r"CLONE_CHILD_SETTID\|SIGCHLD, child_tidptr=0x[0-9a-f]+\) = (\d+)$",
                      text, re.MULTILINE)
    assert first, text[:3000]
    child = first.group(1)
    assert re.search(rf"^\[pid\s+{child}\] write\(4, \"child: counter=15 child heap", text,
                     re.MULTILINE)
    assert len(re.findall(rf"^\[pid\s+{child}\] \+\+\+ exited with 7 \+\+\+$", text,
                          re.MULTILINE)) == 1
    assert not re.search(r"clone\(.*\) = 0$", text, re.MULTILINE)
    assert text.rstrip().endswith("\n+++ exited with 0 +++")

"""Process-level syscalls: exit, ids, uname, resource limits, prctl, getrandom, rusage.

Credentials are the host user's (the guest runs as whoever ran elftrace); changing
them is refused as an unprivileged Linux process would see it, unless the change is
a no-op.
"""

from __future__ import annotations

import os
import resource
import struct
from collections.abc import Callable

from syscalls.context import SyscallContext
from syscalls.errno import Errno, SyscallError, from_os_error
from syscalls.kernel.pidfd import PidFd
from syscalls.kernel.task import Process
from syscalls.kernel.wait import Block, WakeReason
from syscalls.outcome import EXECED, NO_RETURN, NoReturn
from syscalls.spec import (
    CREDS,
    PROCESS,
    Enum_,
    Flags,
    Hex,
    Int,
    OutBuf,
    Ptr,
    Restart,
    Ret,
    Size,
    Struct,
    Support,
    UInt,
    out,
    spec,
)
from syscalls.structs import (
    RLIM_INFINITY,
    pack_rlimit,
    pack_rlimit64,
    pack_timeval,
    pack_utsname,
    unpack_rlimit64,
)

RLIMIT_NOFILE = 7
RLIMIT_STACK = 3
RLIMIT_AS = 9


def sys_exit(ctx: SyscallContext, code: int) -> NoReturn:
    ctx.kernel.exit_thread(ctx.task, code & 0xFF)
    return NO_RETURN


def sys_exit_group(ctx: SyscallContext, code: int) -> NoReturn:
    ctx.kernel.exit_group(code & 0xFF, ctx.process)
    return NO_RETURN


def sys_getpid(ctx: SyscallContext) -> int:
    return ctx.process.pid


def sys_gettid(ctx: SyscallContext) -> int:
    return ctx.task.tid


def sys_getppid(ctx: SyscallContext) -> int:
    return ctx.process.ppid


def sys_getuid(ctx: SyscallContext) -> int:
    return ctx.process.creds.uid


def sys_geteuid(ctx: SyscallContext) -> int:
    return ctx.process.creds.euid


def sys_getgid(ctx: SyscallContext) -> int:
    return ctx.process.creds.gid


def sys_getegid(ctx: SyscallContext) -> int:
    return ctx.process.creds.egid


def sys_getresuid(ctx: SyscallContext, r: int, e: int, s: int) -> int:
    c = ctx.process.creds
    for addr, value in ((r, c.uid), (e, c.euid), (s, c.euid)):
        ctx.mem.write_u32(addr, value)
    return 0


def sys_getresgid(ctx: SyscallContext, r: int, e: int, s: int) -> int:
    c = ctx.process.creds
    for addr, value in ((r, c.gid), (e, c.egid), (s, c.egid)):
        ctx.mem.write_u32(addr, value)
    return 0


def sys_getgroups(ctx: SyscallContext, size: int, groups: int) -> int:
    ids = os.getgroups()
    if size == 0:
        return len(ids)
    if size < len(ids):
        raise SyscallError(Errno.EINVAL)
    ctx.mem.write(groups, b"".join(g.to_bytes(4, "little") for g in ids))
    return len(ids)


def _set_id(ctx: SyscallContext, *values: int) -> int:
    c = ctx.process.creds
    allowed = {c.uid, c.euid, c.gid, c.egid, -1, 0xFFFFFFFF}
    if c.euid == 0 or all(v in allowed for v in values):
        return 0
    raise SyscallError(Errno.EPERM)


def sys_setuid(ctx: SyscallContext, uid: int) -> int:
    return _set_id(ctx, uid)


def sys_setresuid(ctx: SyscallContext, r: int, e: int, s: int) -> int:
    return _set_id(ctx, r, e, s)


def sys_uname(ctx: SyscallContext, buf: int) -> int:
    o = ctx.kernel.options
    ctx.mem.write(buf, pack_utsname("Linux", o.hostname, o.release, o.version, ctx.abi.machine))
    return 0


def _limit(ctx: SyscallContext, resource_id: int) -> tuple[int, int]:
    if resource_id < 0 or resource_id > 15:
        raise SyscallError(Errno.EINVAL)
    if resource_id in ctx.process.rlimits:
        return ctx.process.rlimits[resource_id]
    soft, hard = resource.getrlimit(resource_id)
    fix = {resource.RLIM_INFINITY: RLIM_INFINITY}
    return fix.get(soft, soft), fix.get(hard, hard)


def _set_limit(ctx: SyscallContext, resource_id: int, soft: int, hard: int) -> None:
    _, old_hard = _limit(ctx, resource_id)
    if soft > hard or (hard > old_hard and ctx.process.creds.euid != 0):
        raise SyscallError(Errno.EINVAL if soft > hard else Errno.EPERM)
    ctx.process.rlimits[resource_id] = (soft, hard)
    if resource_id == RLIMIT_NOFILE:
        ctx.fds.limit = min(soft, 1 << 20)


def sys_prlimit64(ctx: SyscallContext, pid: int, resource_id: int, new: int, old: int) -> int:
    if pid not in (0, ctx.process.pid):
        raise SyscallError(Errno.ESRCH)
    current = _limit(ctx, resource_id)
    if new:
        soft, hard = unpack_rlimit64(ctx.mem.read(new, 16))
        _set_limit(ctx, resource_id, soft, hard)
    if old:
        ctx.mem.write(old, pack_rlimit64(*current))
    return 0


def sys_getrlimit(ctx: SyscallContext, resource_id: int, rlim: int) -> int:
    ctx.mem.write(rlim, pack_rlimit(*_limit(ctx, resource_id), ctx.abi.word_size))
    return 0


def sys_setrlimit(ctx: SyscallContext, resource_id: int, rlim: int) -> int:
    word = ctx.abi.word_size
    fmt = "<QQ" if word == 8 else "<II"
    soft, hard = struct.unpack(fmt, ctx.mem.read(rlim, 2 * word))
    inf = (1 << (8 * word)) - 1
    soft = RLIM_INFINITY if soft == inf else soft
    hard = RLIM_INFINITY if hard == inf else hard
    _set_limit(ctx, resource_id, soft, hard)
    return 0


GRND_NONBLOCK = 1
GRND_RANDOM = 2
GRND_INSECURE = 4


def sys_getrandom(ctx: SyscallContext, buf: int, count: int, flags: int) -> int:
    if flags & ~7 or (flags & GRND_RANDOM and flags & GRND_INSECURE):
        raise SyscallError(Errno.EINVAL)
    count = min(count, 33554431)
    ctx.mem.write(buf, ctx.kernel.random_bytes(count))
    return count


PR_SET_PDEATHSIG = 1
PR_GET_PDEATHSIG = 2
PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4
PR_SET_NAME = 15
PR_GET_NAME = 16
PR_GET_SECCOMP = 21
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
PR_GET_THP_DISABLE = 42
PR_SET_VMA = 0x53564D41
PR_SET_VMA_ANON_NAME = 0


def sys_prctl(ctx: SyscallContext, option: int, arg2: int, arg3: int, arg4: int,
              arg5: int) -> int:
    option &= 0xFFFFFFFF
    if option == PR_SET_NAME:
        name = ctx.mem.read(arg2, 16).split(b"\0", 1)[0][:15]
        ctx.task.comm = name.decode(errors="replace")
        return 0
    if option == PR_GET_NAME:
        name = (ctx.task.comm or ctx.process.comm).encode()[:15]
        ctx.mem.write(arg2, name + bytes(16 - len(name)))
        return 0
    if option == PR_SET_VMA:
        if arg2 != PR_SET_VMA_ANON_NAME:
            raise SyscallError(Errno.EINVAL)
        name = ctx.mem.read_cstring(arg5, 80).decode(errors="replace") if arg5 else ""
        if arg3 % 4096:
            raise SyscallError(Errno.EINVAL)
        ctx.vm.rename(arg3, arg4, name)
        return 0
    if option in (PR_GET_DUMPABLE,):
        return 1
    if option in (PR_SET_DUMPABLE, PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS):
        return 0
    if option in (PR_GET_SECCOMP, PR_GET_NO_NEW_PRIVS, PR_GET_THP_DISABLE, PR_GET_PDEATHSIG):
        if option == PR_GET_PDEATHSIG:
            ctx.mem.write_u32(arg2, 0)
        return 0
    raise SyscallError(Errno.EINVAL, f"prctl option {option} is not emulated")


def sys_sched_getaffinity(ctx: SyscallContext, pid: int, size: int, mask: int) -> int:
    if pid not in (0, ctx.process.pid) and ctx.kernel.task(pid) is None:
        raise SyscallError(Errno.ESRCH)
    word = ctx.abi.word_size
    options = ctx.kernel.options
    needed = max(word, ((options.ncpus + 8 * word - 1) // (8 * word)) * word)
    if size < needed or size % word:
        raise SyscallError(Errno.EINVAL)
    # The kernel copies out min(len, cpumask_size()) bytes and returns that count.
    count = min(size, max(needed, options.cpumask_bytes))
    bits = (1 << options.ncpus) - 1
    ctx.mem.write(mask, bits.to_bytes(count, "little"))
    return count


def sys_sched_setaffinity(ctx: SyscallContext, pid: int, size: int, mask: int) -> int:
    if pid not in (0, ctx.process.pid) and ctx.kernel.task(pid) is None:
        raise SyscallError(Errno.ESRCH)
    data = ctx.mem.read(mask, min(size, 128))
    if not int.from_bytes(data, "little") & ((1 << ctx.kernel.options.ncpus) - 1):
        raise SyscallError(Errno.EINVAL)
    return 0


def sys_sched_yield(ctx: SyscallContext) -> int:
    ctx.cpu.end_slice()
    return 0


def sys_getpgid(ctx: SyscallContext, pid: int) -> int:
    if pid not in (0, ctx.process.pid):
        raise SyscallError(Errno.ESRCH)
    return ctx.process.pgid or os.getpgid(0)


def sys_getpgrp(ctx: SyscallContext) -> int:
    return sys_getpgid(ctx, 0)


def sys_getsid(ctx: SyscallContext, pid: int) -> int:
    if pid not in (0, ctx.process.pid):
        raise SyscallError(Errno.ESRCH)
    return ctx.process.sid or os.getsid(0)


def sys_setpgid(ctx: SyscallContext, pid: int, pgid: int) -> int:
    if pid not in (0, ctx.process.pid):
        raise SyscallError(Errno.ESRCH)
    ctx.process.pgid = pgid or ctx.process.pid
    return 0


def sys_setsid(ctx: SyscallContext) -> int:
    ctx.process.sid = ctx.process.pgid = ctx.process.pid
    return ctx.process.pid


RUSAGE_SELF = 0
RUSAGE_CHILDREN = -1
RUSAGE_THREAD = 1


def sys_getrusage(ctx: SyscallContext, who: int, usage: int) -> int:
    if who not in (RUSAGE_SELF, RUSAGE_CHILDREN, RUSAGE_THREAD):
        raise SyscallError(Errno.EINVAL)
    word = ctx.abi.word_size
    bits = 64 if word == 8 else 32
    if who == RUSAGE_CHILDREN:
        utime = stime = 0
        maxrss = 0
    else:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        utime, stime, maxrss = int(ru.ru_utime * 1e9), int(ru.ru_stime * 1e9), ru.ru_maxrss
    fmt = "<q" if word == 8 else "<i"
    body = pack_timeval(utime, bits) + pack_timeval(stime, bits) + struct.pack(fmt, maxrss)
    body += bytes(13 * word)
    ctx.mem.write(usage, body)
    return 0


def sys_sysinfo(ctx: SyscallContext, info: int) -> int:
    word = ctx.abi.word_size
    fmt = "<q" if word == 8 else "<i"
    uptime = int(ctx.kernel.clock.now_ns(7) // 1_000_000_000)
    try:
        pages = os.sysconf("SC_PHYS_PAGES")
        avail = os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError):
        pages = avail = 1 << 20
    ulong = "<Q" if word == 8 else "<I"
    body = struct.pack(fmt, uptime) + bytes(3 * word)
    body += b"".join(struct.pack(ulong, v & ((1 << (8 * word)) - 1)) for v in (
        pages * 4096, avail * 4096, 0, 0, 0, 0))
    body += struct.pack("<HH", len(ctx.process.live_tasks()), 0)
    body += b"".join(struct.pack(ulong, v) for v in (0, 0)) + struct.pack("<I", 1)
    ctx.mem.write(info, body + bytes(max(0, (64 if word == 4 else 112) - len(body))))
    return 0


P_ALL = 0
P_PID = 1
P_PGID = 2
P_PIDFD = 3
WNOHANG = 1
WSTOPPED = 2
WEXITED = 4
WCONTINUED = 8
WNOWAIT = 0x01000000
WNOTHREAD, WCLONE, WALL = 0x20000000, 0x80000000, 0x40000000
WAITID_OPTIONS = (WNOHANG | WSTOPPED | WEXITED | WCONTINUED | WNOWAIT
                  | WNOTHREAD | WCLONE | WALL)
WAIT4_OPTIONS = WNOHANG | WSTOPPED | WCONTINUED | WNOTHREAD | WCLONE | WALL
SIGCHLD = 17


def _eligible(ctx: SyscallContext, select: Callable[[Process], bool],
              options: int) -> list[Process]:
    """The caller's children a wait may pick (kernel/exit.c's eligible_child): by default
    those that signal SIGCHLD at exit; with __WCLONE the others; with __WALL all."""
    out = []
    for child in ctx.process.children:
        if not select(child):
            continue
        if not options & WALL and (child.exit_signal != SIGCHLD) != bool(options & WCLONE):
            continue
        out.append(child)
    return out


def _wait_for_child(ctx: SyscallContext, select: Callable[[Process], bool], options: int,
                    report: Callable[[Process | None], int]) -> int | Block:
    """Reap (or with WNOWAIT, look at) an exited child; wait if there is none yet."""
    parent = ctx.process

    def attempt(reason: WakeReason | None) -> int | Block:
        children = _eligible(ctx, select, options)
        if not children:
            raise SyscallError(Errno.ECHILD)
        zombie = next((c for c in children if c.exit_status is not None), None)
        if zombie is not None:
            result = report(zombie)
            if not options & WNOWAIT and zombie in parent.children:
                parent.children.remove(zombie)
            return result
        if options & WNOHANG:
            return report(None)
        return Block(attempt, queues=(parent.child_events,))

    return attempt(None)


def _by_id(pid: int, own_pgid: int) -> Callable[[Process], bool]:
    """wait4's pid argument: one child, any child (-1), or a process group (0, < -1)."""
    if pid > 0:
        return lambda c: c.pid == pid
    if pid == -1:
        return lambda c: True
    group = own_pgid if pid == 0 else -pid
    return lambda c: (c.pgid or c.pid) == group


def sys_wait4(ctx: SyscallContext, pid: int, status: int, options: int,
              rusage: int) -> int | Block:
    options &= 0xFFFFFFFF
    if options & ~WAIT4_OPTIONS:
        raise SyscallError(Errno.EINVAL)
    if pid == -0x80000000:
        raise SyscallError(Errno.ESRCH)  # INT_MIN cannot be negated into a group

    def report(child: Process | None) -> int:
        if child is None:
            return 0
        assert child.exit_status is not None
        if status:
            ctx.mem.write_u32(status, child.exit_status)
        if rusage:
            ctx.mem.write(rusage, bytes(RUSAGE_SIZE[ctx.abi.word_size]))
        return child.pid

    process = ctx.process
    return _wait_for_child(ctx, _by_id(pid, process.pgid or process.pid), options, report)


RUSAGE_SIZE = {8: 144, 4: 72}


def _any_child(_child: Process) -> bool:
    return True


def _waitid_target(ctx: SyscallContext, idtype: int,
                   upid: int) -> tuple[Errno | None, Callable[[Process], bool]]:
    """(the argument error, or None; which children the wait is about)."""
    if idtype == P_ALL:
        return None, _any_child
    if idtype == P_PID:
        return (Errno.EINVAL if upid <= 0 else None), _by_id(max(upid, 1), 0)
    if idtype == P_PGID:
        if upid < 0:
            return Errno.EINVAL, _any_child
        group = upid or ctx.process.pgid or ctx.process.pid
        return None, lambda c: (c.pgid or c.pid) == group
    if idtype == P_PIDFD:
        if upid < 0:
            return Errno.EINVAL, _any_child
        entry = ctx.fds.entries.get(upid)
        if entry is None or not isinstance(entry.file, PidFd):
            return Errno.EBADF, _any_child
        target = entry.file.process
        return None, lambda c: c is target
    return Errno.EINVAL, _any_child


def sys_waitid(ctx: SyscallContext, idtype: int, upid: int, infop: int, options: int,
               rusage: int) -> int | Block:
    """kernel/exit.c's waitid, with Linux's argument checks. A process is not its own
    child (Go's pidfd probe expects ECHILD for its own pidfd); vfork children are.

    Like Linux, the call stores a zeroed result in ``infop`` when there is nothing to
    report (si_signo, si_errno, si_code, si_pid, si_uid, si_status), and an unwritable
    ``infop`` is EFAULT."""
    options &= 0xFFFFFFFF
    error: Errno | None = None
    select = _any_child
    if options & ~WAITID_OPTIONS or not options & (WEXITED | WSTOPPED | WCONTINUED):
        error = Errno.EINVAL
    else:
        error, select = _waitid_target(ctx, idtype, upid)
    union = 16 if ctx.abi.word_size == 8 else 12

    def report(child: Process | None) -> int:
        if not infop:
            return 0
        if child is None:
            ctx.mem.write(infop, bytes(12))
            ctx.mem.write(infop + union, bytes(12))
            return 0
        assert child.exit_status is not None
        st = child.exit_status
        exited = not st & 0x7F
        code = 1 if exited else 3 if st & 0x80 else 2  # CLD_EXITED, CLD_DUMPED, CLD_KILLED
        ctx.mem.write(infop, struct.pack("<iii", SIGCHLD, 0, code))
        ctx.mem.write(infop + union, struct.pack("<iIi", child.pid, child.creds.uid,
                                                 st >> 8 if exited else st & 0x7F))
        if rusage:
            ctx.mem.write(rusage, bytes(RUSAGE_SIZE[ctx.abi.word_size]))
        return 0

    if error is not None or not options & WEXITED:
        report(None)  # Linux clears the result before looking at the arguments' worth
        raise SyscallError(error or Errno.ECHILD)
    try:
        return _wait_for_child(ctx, select, options, report)
    except SyscallError:
        report(None)
        raise


MAX_ARG_STRLEN = 32 * 4096
"""Linux's limit on one argument or environment string (include/uapi/linux/binfmts.h)."""


def _strings(ctx: SyscallContext, array: int) -> list[bytes]:
    out = []
    while array:
        addr = ctx.mem.read_word(array + len(out) * ctx.abi.word_size)
        if not addr:
            break
        try:
            out.append(ctx.mem.read_cstring(addr, MAX_ARG_STRLEN))
        except SyscallError as err:
            if err.errno == Errno.ENAMETOOLONG:
                raise SyscallError(Errno.E2BIG) from None
            raise
    return out


def _program(ctx: SyscallContext, name: str) -> tuple[str, bytes]:
    """Linux's checks of the file to run (fs/exec.c's order): its host path and first
    line (for ``#!``)."""
    import stat as stat_mod

    from syscalls.fs import resolver
    from syscalls.kernel.rootfs import Lookup

    r = resolver(ctx)
    if r.proc_target(name, ctx.task) is not None:
        host = ctx.process.host_exe
    else:
        host = r.host(name, Lookup.FOLLOW)
    try:
        st = os.stat(host)
        if not stat_mod.S_ISREG(st.st_mode) or not os.access(host, os.X_OK):
            raise SyscallError(Errno.EACCES)
        with open(host, "rb") as f:
            head = f.read(256)
    except OSError as exc:
        raise from_os_error(exc) from None
    if head[:4] != b"\x7fELF" and not head.startswith(b"#!"):
        raise SyscallError(Errno.ENOEXEC)
    return host, head


def sys_execve(ctx: SyscallContext, path: int, argv: int, envp: int) -> int | NoReturn:
    """The new program runs as a host process under its own elftrace (emulator/spawn.py):
    a vfork child's then stands for it; the program elftrace runs is replaced by it."""
    from syscalls.fs import guest_path

    name = guest_path(ctx, -100, path)
    host, head = _program(ctx, name)
    args, env = _strings(ctx, argv), _strings(ctx, envp)
    process = ctx.process
    kernel = ctx.kernel
    start = kernel.exec_program if process.parent is not None else kernel.exec_in_place
    if start is None:
        raise SyscallError(Errno.ENOSYS, "execve of another program is not supported here")
    if head.startswith(b"#!"):
        # binfmt_script: the interpreter runs with its optional argument and the script.
        words = head[2:].split(b"\n", 1)[0].strip().split(None, 1)
        if not words:
            raise SyscallError(Errno.ENOEXEC)
        interp = os.fsdecode(words[0])
        args = [words[0], *words[1:], os.fsencode(name), *args[1:]]
        host, head = _program(ctx, interp)
        if head.startswith(b"#!"):
            raise SyscallError(Errno.ELOOP, "a script interpreter that is a script")
        name = interp
    if process.parent is None:
        kernel.exec_in_place(ctx, name, host, args, env)
    else:
        kernel.adopt_host_child(process, kernel.exec_program(ctx, name, host, args, env))
    return EXECED


def sys_personality(ctx: SyscallContext, persona: int) -> int:
    if persona & 0xFFFFFFFF == 0xFFFFFFFF:
        return 0
    if persona & 0xFF:
        raise SyscallError(Errno.EINVAL)
    return 0


SPECS = (
    spec("exit", sys_exit, Int(), ret=Ret.NONE, classes=(PROCESS,)),
    spec("exit_group", sys_exit_group, Int(), ret=Ret.NONE, classes=(PROCESS,)),
    spec("getpid", sys_getpid),
    spec("gettid", sys_gettid),
    spec("getppid", sys_getppid),
    spec("getuid", sys_getuid, classes=(CREDS,)),
    spec("geteuid", sys_geteuid, classes=(CREDS,)),
    spec("getgid", sys_getgid, classes=(CREDS,)),
    spec("getegid", sys_getegid, classes=(CREDS,)),
    spec("getuid32", sys_getuid, classes=(CREDS,)),
    spec("geteuid32", sys_geteuid, classes=(CREDS,)),
    spec("getgid32", sys_getgid, classes=(CREDS,)),
    spec("getegid32", sys_getegid, classes=(CREDS,)),
    spec("getresuid", sys_getresuid, Ptr(), Ptr(), Ptr(), classes=(CREDS,)),
    spec("getresgid", sys_getresgid, Ptr(), Ptr(), Ptr(), classes=(CREDS,)),
    spec("getresuid32", sys_getresuid, Ptr(), Ptr(), Ptr(), classes=(CREDS,)),
    spec("getresgid32", sys_getresgid, Ptr(), Ptr(), Ptr(), classes=(CREDS,)),
    spec("getgroups", sys_getgroups, Int(), Ptr(), classes=(CREDS,)),
    spec("getgroups32", sys_getgroups, Int(), Ptr(), classes=(CREDS,)),
    spec("setuid", sys_setuid, Int(), classes=(CREDS,)),
    spec("setgid", sys_setuid, Int(), classes=(CREDS,)),
    spec("setuid32", sys_setuid, Int(), classes=(CREDS,)),
    spec("setgid32", sys_setuid, Int(), classes=(CREDS,)),
    spec("setresuid", sys_setresuid, Int(), Int(), Int(), classes=(CREDS,)),
    spec("setresgid", sys_setresuid, Int(), Int(), Int(), classes=(CREDS,)),
    spec("setresuid32", sys_setresuid, Int(), Int(), Int(), classes=(CREDS,)),
    spec("setresgid32", sys_setresuid, Int(), Int(), Int(), classes=(CREDS,)),
    spec("uname", sys_uname, out(Struct(name="utsname"))),
    spec("prlimit64", sys_prlimit64, Int(), Enum_(table="rlimit"), Struct(name="rlimit64"),
         out(Struct(name="rlimit64"))),
    spec("getrlimit", sys_getrlimit, Enum_(table="rlimit"), out(Struct(name="rlimit"))),
    spec("ugetrlimit", sys_getrlimit, Enum_(table="rlimit"), out(Struct(name="rlimit"))),
    spec("setrlimit", sys_setrlimit, Enum_(table="rlimit"), Struct(name="rlimit")),
    spec("getrandom", sys_getrandom, OutBuf(length=1, use_ret=True), Size(),
         Hex(), printer="getrandom"),
    spec("prctl", sys_prctl, Enum_(table="prctl"), Hex(), Hex(), Hex(), Hex(),
         printer="prctl", support=Support.PARTIAL,
         note="names, dumpable, no_new_privs, PR_SET_VMA anon names; others EINVAL"),
    spec("sched_getaffinity", sys_sched_getaffinity, Int(), UInt(),
         out(Struct(name="cpuset")), printer="sched_getaffinity"),
    spec("sched_setaffinity", sys_sched_setaffinity, Int(), UInt(), Struct(name="cpuset"),
         printer="sched_getaffinity"),
    spec("sched_yield", sys_sched_yield),
    spec("getpgid", sys_getpgid, Int()),
    spec("getpgrp", sys_getpgrp),
    spec("getsid", sys_getsid, Int()),
    spec("setpgid", sys_setpgid, Int(), Int()),
    spec("setsid", sys_setsid),
    spec("getrusage", sys_getrusage, Int(), out(Struct(name="rusage"))),
    spec("sysinfo", sys_sysinfo, out(Struct(name="sysinfo"))),
    spec("wait4", sys_wait4, Int(), Ptr(), Hex(), Ptr(), classes=(PROCESS,),
         restart=Restart.SYS, printer="wait4", support=Support.PARTIAL,
         note="reaps vfork children, exec'd ones included; rusage is zero"),
    spec("waitid", sys_waitid, Enum_(table="idtype"), Int(), out(Struct(name="siginfo")),
         Flags(table="wait_options"), out(Struct(name="rusage")), classes=(PROCESS,),
         restart=Restart.SYS, support=Support.PARTIAL,
         note="reaps vfork children, exec'd ones included (P_PIDFD too); no "
         "stopped/continued reports"),
    spec("execve", sys_execve, Ptr(), Ptr(), Ptr(), classes=(PROCESS,), printer="execve",
         support=Support.PARTIAL, note="the new program runs under its own elftrace: a "
         "vfork child's as a host child process, the guest's own in place (its trace ends)"),
    spec("personality", sys_personality, Hex()),
)

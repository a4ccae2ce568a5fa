"""Per-architecture Linux ABI data that handlers and the tracer share.

What differs between x86-64 and 32-bit ARM at the syscall boundary: the word size,
how 64-bit arguments are passed, the value of some open(2) flags (O_DIRECTORY,
O_NOFOLLOW, O_DIRECT and O_LARGEFILE are numbered differently on ARM:
arch/arm/include/uapi/asm/fcntl.h), the layout of struct stat and epoll_event, and
the machine name uname reports. Everything else here is the same on both and comes
from include/uapi/ (asm-generic/mman-common.h, linux/sched.h, linux/futex.h, ...).
The emulator's Arch object picks one :class:`LinuxAbi`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# A flag table: (value, name) in the order strace prints them. A value of 0 names the
# default of a field (O_RDONLY) and is printed only when nothing else is set.
FlagTable = tuple[tuple[int, str], ...]

PROT: FlagTable = ((1, "PROT_READ"), (2, "PROT_WRITE"), (4, "PROT_EXEC"),
                   (0x01000000, "PROT_GROWSDOWN"), (0x02000000, "PROT_GROWSUP"))

MAP_TYPE_MASK = 0x0F
MAP_TYPES: FlagTable = ((0x01, "MAP_SHARED"), (0x02, "MAP_PRIVATE"),
                        (0x03, "MAP_SHARED_VALIDATE"))
# In strace's order (src/xlat/mmap_flags.in), which is not sorted by value.
MAP: FlagTable = (
    (0x10, "MAP_FIXED"), (0x20, "MAP_ANONYMOUS"), (0x40, "MAP_32BIT"), (0x4000, "MAP_NORESERVE"),
    (0x8000, "MAP_POPULATE"), (0x10000, "MAP_NONBLOCK"), (0x100, "MAP_GROWSDOWN"),
    (0x800, "MAP_DENYWRITE"), (0x1000, "MAP_EXECUTABLE"), (0x2000, "MAP_LOCKED"),
    (0x20000, "MAP_STACK"), (0x40000, "MAP_HUGETLB"), (0x80000, "MAP_SYNC"),
    (0x4000000, "MAP_UNINITIALIZED"), (0x100000, "MAP_FIXED_NOREPLACE"),
)

MREMAP: FlagTable = ((1, "MREMAP_MAYMOVE"), (2, "MREMAP_FIXED"), (4, "MREMAP_DONTUNMAP"))

MADVISE: FlagTable = (
    (0, "MADV_NORMAL"), (1, "MADV_RANDOM"), (2, "MADV_SEQUENTIAL"), (3, "MADV_WILLNEED"),
    (4, "MADV_DONTNEED"), (8, "MADV_FREE"), (9, "MADV_REMOVE"), (10, "MADV_DONTFORK"),
    (11, "MADV_DOFORK"), (12, "MADV_MERGEABLE"), (13, "MADV_UNMERGEABLE"),
    (14, "MADV_HUGEPAGE"), (15, "MADV_NOHUGEPAGE"), (16, "MADV_DONTDUMP"), (17, "MADV_DODUMP"),
    (18, "MADV_WIPEONFORK"), (19, "MADV_KEEPONFORK"), (20, "MADV_COLD"), (21, "MADV_PAGEOUT"),
    (22, "MADV_POPULATE_READ"), (23, "MADV_POPULATE_WRITE"), (24, "MADV_DONTNEED_LOCKED"),
    (25, "MADV_COLLAPSE"), (100, "MADV_HWPOISON"),
)

CLONE: FlagTable = (
    (0x00000100, "CLONE_VM"), (0x00000200, "CLONE_FS"), (0x00000400, "CLONE_FILES"),
    (0x00000800, "CLONE_SIGHAND"), (0x00001000, "CLONE_PIDFD"), (0x00002000, "CLONE_PTRACE"),
    (0x00004000, "CLONE_VFORK"), (0x00008000, "CLONE_PARENT"), (0x00010000, "CLONE_THREAD"),
    (0x00020000, "CLONE_NEWNS"), (0x00040000, "CLONE_SYSVSEM"), (0x00080000, "CLONE_SETTLS"),
    (0x00100000, "CLONE_PARENT_SETTID"), (0x00200000, "CLONE_CHILD_CLEARTID"),
    (0x00400000, "CLONE_DETACHED"), (0x00800000, "CLONE_UNTRACED"),
    (0x01000000, "CLONE_CHILD_SETTID"), (0x02000000, "CLONE_NEWCGROUP"),
    (0x04000000, "CLONE_NEWUTS"), (0x08000000, "CLONE_NEWIPC"), (0x10000000, "CLONE_NEWUSER"),
    (0x20000000, "CLONE_NEWPID"), (0x40000000, "CLONE_NEWNET"), (0x80000000, "CLONE_IO"),
)
CLONE_VM = 0x100
CLONE_FS = 0x200
CLONE_FILES = 0x400
CLONE_SIGHAND = 0x800
CLONE_VFORK = 0x4000
CLONE_THREAD = 0x10000
CLONE_SYSVSEM = 0x40000
CLONE_SETTLS = 0x80000
CLONE_PARENT_SETTID = 0x100000
CLONE_CHILD_CLEARTID = 0x200000
CLONE_CHILD_SETTID = 0x1000000
CSIGNAL = 0xFF

FUTEX_CMDS: FlagTable = (
    (0, "FUTEX_WAIT"), (1, "FUTEX_WAKE"), (2, "FUTEX_FD"), (3, "FUTEX_REQUEUE"),
    (4, "FUTEX_CMP_REQUEUE"), (5, "FUTEX_WAKE_OP"), (6, "FUTEX_LOCK_PI"), (7, "FUTEX_UNLOCK_PI"),
    (8, "FUTEX_TRYLOCK_PI"), (9, "FUTEX_WAIT_BITSET"), (10, "FUTEX_WAKE_BITSET"),
    (11, "FUTEX_WAIT_REQUEUE_PI"), (12, "FUTEX_CMP_REQUEUE_PI"), (13, "FUTEX_LOCK_PI2"),
)
FUTEX_PRIVATE_FLAG = 128
FUTEX_CLOCK_REALTIME = 256

CLOCKS: FlagTable = (
    (0, "CLOCK_REALTIME"), (1, "CLOCK_MONOTONIC"), (2, "CLOCK_PROCESS_CPUTIME_ID"),
    (3, "CLOCK_THREAD_CPUTIME_ID"), (4, "CLOCK_MONOTONIC_RAW"), (5, "CLOCK_REALTIME_COARSE"),
    (6, "CLOCK_MONOTONIC_COARSE"), (7, "CLOCK_BOOTTIME"), (8, "CLOCK_REALTIME_ALARM"),
    (9, "CLOCK_BOOTTIME_ALARM"), (11, "CLOCK_TAI"),
)

SIGPROCMASK_HOW: FlagTable = ((0, "SIG_BLOCK"), (1, "SIG_UNBLOCK"), (2, "SIG_SETMASK"))

SA_FLAGS: FlagTable = (
    (0x04000000, "SA_RESTORER"), (0x08000000, "SA_ONSTACK"), (0x10000000, "SA_RESTART"),
    (0x40000000, "SA_NODEFER"), (0x80000000, "SA_RESETHAND"), (0x00000001, "SA_NOCLDSTOP"),
    (0x00000002, "SA_NOCLDWAIT"), (0x00000004, "SA_SIGINFO"), (0x00000400, "SA_UNSUPPORTED"),
    (0x00000800, "SA_EXPOSE_TAGBITS"),
)
SA_NOCLDSTOP = 0x1
SA_SIGINFO = 0x4
SA_RESTORER = 0x04000000
SA_ONSTACK = 0x08000000
SA_RESTART = 0x10000000
SA_NODEFER = 0x40000000
SA_RESETHAND = 0x80000000

SS_FLAGS: FlagTable = ((1, "SS_ONSTACK"), (2, "SS_DISABLE"), (1 << 31, "SS_AUTODISARM"))
SS_ONSTACK = 1
SS_DISABLE = 2

AT_FLAGS: FlagTable = (
    (0x100, "AT_SYMLINK_NOFOLLOW"), (0x200, "AT_REMOVEDIR"), (0x400, "AT_SYMLINK_FOLLOW"),
    (0x800, "AT_NO_AUTOMOUNT"), (0x1000, "AT_EMPTY_PATH"), (0x2000, "AT_STATX_FORCE_SYNC"),
    (0x4000, "AT_STATX_DONT_SYNC"), (0x8000, "AT_RECURSIVE"),
)
AT_FDCWD = -100
SPLICE_FLAGS: FlagTable = (
    (0x1, "SPLICE_F_MOVE"), (0x2, "SPLICE_F_NONBLOCK"), (0x4, "SPLICE_F_MORE"),
    (0x8, "SPLICE_F_GIFT"),
)
SPLICE_F_NONBLOCK = 0x2
AT_SYMLINK_NOFOLLOW = 0x100
AT_REMOVEDIR = 0x200
AT_EMPTY_PATH = 0x1000

ACCESS_MODES: FlagTable = ((1, "X_OK"), (2, "W_OK"), (4, "R_OK"))

SEEK_WHENCE: FlagTable = ((0, "SEEK_SET"), (1, "SEEK_CUR"), (2, "SEEK_END"), (3, "SEEK_DATA"),
                          (4, "SEEK_HOLE"))

FCNTL_CMDS: FlagTable = (
    (0, "F_DUPFD"), (1, "F_GETFD"), (2, "F_SETFD"), (3, "F_GETFL"), (4, "F_SETFL"),
    (5, "F_GETLK"), (6, "F_SETLK"), (7, "F_SETLKW"), (8, "F_SETOWN"), (9, "F_GETOWN"),
    (10, "F_SETSIG"), (11, "F_GETSIG"), (12, "F_GETLK64"), (13, "F_SETLK64"), (14, "F_SETLKW64"),
    (15, "F_SETOWN_EX"), (16, "F_GETOWN_EX"), (1024, "F_SETLEASE"), (1025, "F_GETLEASE"),
    (1026, "F_NOTIFY"), (1030, "F_DUPFD_CLOEXEC"), (1031, "F_SETPIPE_SZ"),
    (1032, "F_GETPIPE_SZ"), (1033, "F_ADD_SEALS"), (1034, "F_GET_SEALS"),
)
FD_FLAGS: FlagTable = ((1, "FD_CLOEXEC"),)

RLIMITS: FlagTable = (
    (0, "RLIMIT_CPU"), (1, "RLIMIT_FSIZE"), (2, "RLIMIT_DATA"), (3, "RLIMIT_STACK"),
    (4, "RLIMIT_CORE"), (5, "RLIMIT_RSS"), (6, "RLIMIT_NPROC"), (7, "RLIMIT_NOFILE"),
    (8, "RLIMIT_MEMLOCK"), (9, "RLIMIT_AS"), (10, "RLIMIT_LOCKS"), (11, "RLIMIT_SIGPENDING"),
    (12, "RLIMIT_MSGQUEUE"), (13, "RLIMIT_NICE"), (14, "RLIMIT_RTPRIO"), (15, "RLIMIT_RTTIME"),
)

EPOLL_CTL: FlagTable = ((1, "EPOLL_CTL_ADD"), (2, "EPOLL_CTL_DEL"), (3, "EPOLL_CTL_MOD"))
EPOLL_EVENTS: FlagTable = (
    (0x001, "EPOLLIN"), (0x002, "EPOLLPRI"), (0x004, "EPOLLOUT"), (0x008, "EPOLLERR"),
    (0x010, "EPOLLHUP"), (0x020, "EPOLLNVAL"), (0x040, "EPOLLRDNORM"), (0x080, "EPOLLRDBAND"),
    (0x100, "EPOLLWRNORM"), (0x200, "EPOLLWRBAND"), (0x400, "EPOLLMSG"), (0x2000, "EPOLLRDHUP"),
    (1 << 28, "EPOLLEXCLUSIVE"), (1 << 29, "EPOLLWAKEUP"), (1 << 30, "EPOLLONESHOT"),
    (1 << 31, "EPOLLET"),
)
POLL_EVENTS: FlagTable = (
    (0x001, "POLLIN"), (0x002, "POLLPRI"), (0x004, "POLLOUT"), (0x008, "POLLERR"),
    (0x010, "POLLHUP"), (0x020, "POLLNVAL"), (0x040, "POLLRDNORM"), (0x080, "POLLRDBAND"),
    (0x100, "POLLWRNORM"), (0x200, "POLLWRBAND"), (0x2000, "POLLRDHUP"),
)

ARCH_PRCTL: FlagTable = ((0x1001, "ARCH_SET_GS"), (0x1002, "ARCH_SET_FS"),
                         (0x1003, "ARCH_GET_FS"), (0x1004, "ARCH_GET_GS"),
                         (0x1011, "ARCH_GET_CPUID"), (0x1012, "ARCH_SET_CPUID"))

PRCTL: FlagTable = (
    (1, "PR_SET_PDEATHSIG"), (2, "PR_GET_PDEATHSIG"), (3, "PR_GET_DUMPABLE"),
    (4, "PR_SET_DUMPABLE"), (15, "PR_SET_NAME"), (16, "PR_GET_NAME"), (22, "PR_SET_SECCOMP"),
    (21, "PR_GET_SECCOMP"), (36, "PR_SET_CHILD_SUBREAPER"), (37, "PR_GET_CHILD_SUBREAPER"),
    (38, "PR_SET_NO_NEW_PRIVS"), (39, "PR_GET_NO_NEW_PRIVS"), (23, "PR_CAPBSET_READ"),
    (8, "PR_SET_TIMERSLACK"), (29, "PR_GET_TIMERSLACK"), (0x53564d41, "PR_SET_VMA"),
    (59, "PR_SET_THP_DISABLE"), (42, "PR_GET_THP_DISABLE"),
)

GETRANDOM: FlagTable = ((1, "GRND_NONBLOCK"), (2, "GRND_RANDOM"), (4, "GRND_INSECURE"))
# In strace's order (xlat/efd_flags.in), which is how it prints a combination.
EFD_FLAGS: FlagTable = ((1, "EFD_SEMAPHORE"), (0o2000000, "EFD_CLOEXEC"), (0o4000, "EFD_NONBLOCK"))
EPOLL_CREATE: FlagTable = ((0o2000000, "EPOLL_CLOEXEC"),)

SOCK_TYPES: FlagTable = ((1, "SOCK_STREAM"), (2, "SOCK_DGRAM"), (3, "SOCK_RAW"), (5,
                         "SOCK_SEQPACKET"))
SOCK_FLAGS: FlagTable = ((0o4000, "SOCK_NONBLOCK"), (0o2000000, "SOCK_CLOEXEC"))
ADDRESS_FAMILIES: FlagTable = ((0, "AF_UNSPEC"), (1, "AF_UNIX"), (2, "AF_INET"),
                               (10, "AF_INET6"), (16, "AF_NETLINK"))

STATX_MASK: FlagTable = (
    (0x1, "STATX_TYPE"), (0x2, "STATX_MODE"), (0x4, "STATX_NLINK"), (0x8, "STATX_UID"),
    (0x10, "STATX_GID"), (0x20, "STATX_ATIME"), (0x40, "STATX_MTIME"), (0x80, "STATX_CTIME"),
    (0x100, "STATX_INO"), (0x200, "STATX_SIZE"), (0x400, "STATX_BLOCKS"),
    (0x800, "STATX_BTIME"), (0x1000, "STATX_MNT_ID"), (0x2000, "STATX_DIOALIGN"),
)
STATX_BASIC_STATS = 0x7FF

WAIT_IDTYPES: FlagTable = ((0, "P_ALL"), (1, "P_PID"), (2, "P_PGID"), (3, "P_PIDFD"))
# strace 6.1 names only PIDFD_NONBLOCK (PIDFD_THREAD, O_EXCL, came with Linux 6.9) and no
# pidfd_send_signal flags.
PIDFD_OPEN_FLAGS: FlagTable = ((0o4000, "PIDFD_NONBLOCK"),)
WAIT_OPTIONS: FlagTable = ((1, "WNOHANG"), (2, "WUNTRACED"), (4, "WEXITED"), (8, "WCONTINUED"),
                           (0x01000000, "WNOWAIT"), (0x40000000, "__WNOTHREAD"),
                           (0x80000000, "__WCLONE"), (0x20000000, "__WALL"))

# open(2) flags shared by x86-64 and ARM (octal, as in asm-generic/fcntl.h).
O_ACCMODE = 0o3
O_RDONLY = 0
O_WRONLY = 1
O_RDWR = 2
O_CREAT = 0o100
O_EXCL = 0o200
O_NOCTTY = 0o400
O_TRUNC = 0o1000
O_APPEND = 0o2000
O_NONBLOCK = 0o4000
O_DSYNC = 0o10000
O_ASYNC = 0o20000
O_NOATIME = 0o1000000
O_CLOEXEC = 0o2000000
O_SYNC = 0o4010000
O_PATH = 0o10000000
O_TMPFILE_BASE = 0o20000000

ACCESS_MODE_NAMES: FlagTable = ((0, "O_RDONLY"), (1, "O_WRONLY"), (2, "O_RDWR"), (3, "O_ACCMODE"))


@dataclass(frozen=True, slots=True)
class OpenFlags:
    """The open(2) flags whose values differ between architectures."""

    directory: int
    nofollow: int
    direct: int
    largefile: int

    @property
    def tmpfile(self) -> int:
        return O_TMPFILE_BASE | self.directory

    def table(self) -> FlagTable:
        """The flags after the access mode, in strace's order (src/xlat/open_mode_flags.in):
        O_TMPFILE (which includes O_DIRECTORY's bit) must come before O_DIRECTORY."""
        return ((O_CREAT, "O_CREAT"), (O_EXCL, "O_EXCL"), (O_NOCTTY, "O_NOCTTY"),
                (O_TRUNC, "O_TRUNC"), (O_APPEND, "O_APPEND"), (O_NONBLOCK, "O_NONBLOCK"),
                (O_SYNC, "O_SYNC"), (O_DSYNC, "O_DSYNC"), (self.direct, "O_DIRECT"),
                (self.largefile, "O_LARGEFILE"), (self.nofollow, "O_NOFOLLOW"),
                (O_NOATIME, "O_NOATIME"), (O_CLOEXEC, "O_CLOEXEC"), (O_PATH, "O_PATH"),
                (self.tmpfile, "O_TMPFILE"), (self.directory, "O_DIRECTORY"),
                (O_ASYNC, "FASYNC"))


@dataclass(frozen=True, slots=True)
class LinuxAbi:
    """The syscall ABI of one architecture, as data."""

    name: str
    word_size: int
    align_pairs: bool
    """64-bit arguments in register pairs start at an even register (ARM EABI)."""
    machine: str
    """What uname(2) reports in ``machine``."""
    open_flags: OpenFlags
    stat_layout: str
    """``stat-x86_64`` (struct stat of x86-64), ``stat64-arm`` (struct stat64 of ARM),
    ``stat-generic64`` (asm-generic struct stat, AArch64) or ``stat64-i386``."""
    epoll_event_size: int
    """12 on x86-64 (packed), 16 on ARM EABI (the u64 is 8-aligned)."""
    time_bits: int = 64
    """Width of time_t in the classic calls (clock_gettime, nanosleep): 64 or 32."""
    clone_tls_before_ctid: bool = False
    """clone(2)'s 4th and 5th arguments: (ctid, tls) on x86-64, (tls, ctid) on ARM
    (CONFIG_CLONE_BACKWARDS)."""
    extra_tables: dict[str, FlagTable] = field(default_factory=dict)

    @property
    def word_mask(self) -> int:
        return (1 << (self.word_size * 8)) - 1

    def table(self, name: str) -> FlagTable:
        if name in ("open", "open_mode"):  # open_mode: the flags alone (pipe2, dup3)
            return self.open_flags.table()
        if name in self.extra_tables:
            return self.extra_tables[name]
        return TABLES[name]


TABLES: dict[str, FlagTable] = {
    "prot": PROT,
    "xattr": ((1, "XATTR_CREATE"), (2, "XATTR_REPLACE")),
    "map": MAP,
    "mremap": MREMAP,
    "madvise": MADVISE,
    "clone": CLONE,
    "futex_cmd": FUTEX_CMDS,
    "clock": CLOCKS,
    "sigprocmask_how": SIGPROCMASK_HOW,
    "sa_flags": SA_FLAGS,
    "ss_flags": SS_FLAGS,
    "at_flags": AT_FLAGS,
    "splice_flags": SPLICE_FLAGS,
    "access": ACCESS_MODES,
    "whence": SEEK_WHENCE,
    "fcntl_cmd": FCNTL_CMDS,
    "fd_flags": FD_FLAGS,
    "rlimit": RLIMITS,
    "epoll_ctl": EPOLL_CTL,
    "epoll_events": EPOLL_EVENTS,
    "poll_events": POLL_EVENTS,
    "arch_prctl": ARCH_PRCTL,
    "prctl": PRCTL,
    "getrandom": GETRANDOM,
    "efd_flags": EFD_FLAGS,
    "epoll_create": EPOLL_CREATE,
    "sock_flags": SOCK_FLAGS,
    "sock_type": SOCK_TYPES,
    "family": ADDRESS_FAMILIES,
    "statx_mask": STATX_MASK,
    "wait_options": WAIT_OPTIONS,
    "idtype": WAIT_IDTYPES,
    "pidfd_open": PIDFD_OPEN_FLAGS,
    "no_flags": (),
    "accmode": ACCESS_MODE_NAMES,
    "timer_flags": ((1, "TIMER_ABSTIME"),),
    "flock_op": ((1, "LOCK_SH"), (2, "LOCK_EX"), (4, "LOCK_NB"), (8, "LOCK_UN"),
                 (32, "LOCK_MAND"), (64, "LOCK_READ"), (128, "LOCK_WRITE")),
    "itimer_which": ((0, "ITIMER_REAL"), (1, "ITIMER_VIRTUAL"), (2, "ITIMER_PROF")),
    "sigev_notify": ((0, "SIGEV_SIGNAL"), (1, "SIGEV_NONE"), (2, "SIGEV_THREAD"),
                     (4, "SIGEV_THREAD_ID")),
}

X86_64 = LinuxAbi(
    name="x86_64",
    word_size=8,
    align_pairs=False,
    machine="x86_64",
    open_flags=OpenFlags(directory=0o200000, nofollow=0o400000, direct=0o40000,
                         largefile=0o100000),
    stat_layout="stat-x86_64",
    epoll_event_size=12,
)

ARM = LinuxAbi(
    name="arm",
    word_size=4,
    align_pairs=True,
    machine="armv7l",
    open_flags=OpenFlags(directory=0o40000, nofollow=0o100000, direct=0o200000,
                         largefile=0o400000),
    stat_layout="stat64-arm",
    epoll_event_size=16,
    time_bits=32,
    clone_tls_before_ctid=True,
)

# arm64 uses the asm-generic numbering and structures, with ARM's open flag values
# (arch/arm64/include/uapi/asm/fcntl.h) and CONFIG_CLONE_BACKWARDS.
AARCH64 = LinuxAbi(
    name="aarch64",
    word_size=8,
    align_pairs=False,
    machine="aarch64",
    open_flags=OpenFlags(directory=0o40000, nofollow=0o100000, direct=0o200000,
                         largefile=0o400000),
    stat_layout="stat-generic64",
    epoll_event_size=16,
    clone_tls_before_ctid=True,
)

# i386 as an x86-64 kernel runs it (the compat entry): x86's open flag values, 64-bit
# arguments in unaligned register pairs, struct stat64 with 4-byte-aligned 64-bit
# members, CONFIG_CLONE_BACKWARDS. uname says x86_64, as that kernel does for a 32-bit
# program not started with the PER_LINUX32 personality (linux32/setarch): the oracle.
I386 = LinuxAbi(
    name="i386",
    word_size=4,
    align_pairs=False,
    machine="x86_64",
    open_flags=OpenFlags(directory=0o200000, nofollow=0o400000, direct=0o40000,
                         largefile=0o100000),
    stat_layout="stat64-i386",
    epoll_event_size=12,
    time_bits=32,
    clone_tls_before_ctid=True,
)

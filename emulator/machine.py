"""A Machine runs one guest process: it loads the image, builds the kernel model, and
drives the CPU thread by thread until the process exits.

The run loop, one turn per slice: pick a runnable thread (sleeping in ``select`` when
none is), load its registers, finish the syscall it was blocked in (or restart it,
or fail it with EINTR, if a signal interrupted it), deliver its pending signals, and
emulate until something stops the CPU: a syscall that blocks or changes registers, a
fault, or the end of the time slice. Signals are delivered only at these boundaries,
as qemu-user's process_pending_signals does.
"""

from __future__ import annotations

import contextlib
import os
import signal
import struct
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from unicorn import UC_ERR_INSN_INVALID, UcError

from emulator import host
from emulator.arch import Arch, arch_for
from emulator.cpu import Cpu, Trap
from emulator.determinism import (
    FIXED_PID,
    NS_PER_BLOCK,
    WORK_QUANTUM,
    VirtualTsc,
    fix_machine,
)
from emulator.dispatch import Dispatcher
from emulator.events import (
    EventBus,
    GuestKilled,
    ProcessExited,
    SignalDelivered,
    SyscallExit,
    ThreadCreated,
    ThreadExited,
)
from emulator.hostsignals import FORWARDED, HostSignals, inherited_ignored, inherited_mask
from emulator.memory import UnicornMemory
from emulator.slicer import SliceTimer
from loader.elf import PT, ElfInfo, ElfType, machine_name, read_elf
from loader.errors import NotElf, UnsupportedImage
from loader.image import PAGE_SIZE, LoadedImage, load_image, max_alignment
from loader.stack import AT, AuxValue, build_initial_stack
from loader.sysroot import find_interpreter
from syscalls.abi import O_ACCMODE, O_APPEND, O_NONBLOCK, SA_NODEFER, SA_RESETHAND, SA_RESTART
from syscalls.context import SyscallContext
from syscalls.errno import Errno, SyscallError
from syscalls.kernel.clock import Clock, VirtualClock
from syscalls.kernel.core import Kernel, KernelOptions
from syscalls.kernel.files import FdTable, HostFile
from syscalls.kernel.memory import GuestMemory
from syscalls.kernel.paths import SysrootPaths, normalize
from syscalls.kernel.rootfs import ConfinedRoot, HostRoot
from syscalls.kernel.signals import (
    FPE_INTDIV,
    ILL_ILLOPN,
    SEGV_ACCERR,
    SEGV_MAPERR,
    SI_KERNEL,
    SI_USER,
    SIG_IGN,
    SYNCHRONOUS_MASK,
    TRAP_BRKPT,
    UNBLOCKABLE,
    Default,
    Sig,
    SigAction,
    SigInfo,
    bit,
    default_action,
)
from syscalls.kernel.task import PendingSyscall, Process, Task, TaskState
from syscalls.kernel.vm import PROT_EXEC, PROT_READ, PROT_WRITE, AddressSpace
from syscalls.kernel.wait import WakeReason
from syscalls.spec import Restart
from syscalls.table import table_for
from syscalls.time import write_remaining

if TYPE_CHECKING:
    from emulator.spawn import ExecInPlace

DEFAULT_QUANTUM = 0.005
AUXV_ORDER = (AT.SYSINFO_EHDR, AT.MINSIGSTKSZ, AT.HWCAP, AT.PAGESZ, AT.CLKTCK, AT.PHDR,
              AT.PHENT, AT.PHNUM, AT.BASE, AT.FLAGS, AT.ENTRY, AT.UID, AT.EUID, AT.GID,
              AT.EGID, AT.SECURE, AT.RANDOM, AT.HWCAP2, AT.EXECFN, AT.PLATFORM)


@dataclass(slots=True)
class RunOptions:
    base: int | None = None
    """Where an ET_DYN image's lowest page goes (None: Linux's ELF_ET_DYN_BASE)."""
    env: list[bytes] | None = None
    """The guest environment (None: elftrace's own, as qemu-user passes it)."""
    argv0: str | None = None
    quantum: float = DEFAULT_QUANTUM
    sysroot: str | None = None
    """The guest root for the interpreter and its libraries (None: the Arch's default)."""
    interpreter: str = "auto"
    """When to run the program through its PT_INTERP (the real ld.so from the sysroot):
    "auto" when it needs shared libraries (DT_NEEDED), "always" whenever it names one,
    "never" (elftrace relocates a PIE itself, and refuses one that needs libraries)."""
    kernel: KernelOptions = field(default_factory=KernelOptions)
    timeout: float | None = None
    """Wall-clock seconds after which the guest is killed with SIGKILL (None: no limit)."""
    max_memory: int | None = None
    """At most this many bytes of accessible guest memory; more is refused with ENOMEM."""
    root: HostRoot | None = None
    """The guest's ``/`` (None: the host's, writable). With a ConfinedRoot, the path
    given to Machine is the guest path of the binary inside it (chroot's rule)."""
    max_slices: int | None = None
    """Stop after this many time slices (a bound for fuzzing damaged binaries, hidden
    ``--max-slices``); the run then ends in :class:`SliceBudgetExhausted`."""
    inherited: Inherited | None = None
    """For a program a guest exec'd (hidden ``--exec-*`` options, emulator/spawn.py): the
    fds, signal mask and ignored signals it keeps, instead of elftrace's own."""
    exec_options: tuple[str, ...] = ()
    """The elftrace options a program this guest execs runs with (its root, sysroot...)."""


@dataclass
class Inherited:
    fds: dict[int, int]
    """Guest fd → host fd (0, 1, 2 are elftrace's own stdio, set up by the spawner)."""
    sigmask: int = 0
    ignored: tuple[int, ...] = ()


class SliceBudgetExhausted(Exception):
    """The run used up ``RunOptions.max_slices`` before the guest exited."""

    def __init__(self, slices: int) -> None:
        super().__init__(f"stopped after {slices} time slices (--max-slices)")
        self.slices = slices


def locate_binary(root: HostRoot, path: str) -> tuple[str, str]:
    """(guest path, host path) of the binary to run. In a confined root the path is the
    guest's (relative to its ``/``), looked up inside it like any guest path."""
    if not isinstance(root, ConfinedRoot):
        return str(Path(path).resolve()), path
    guest = normalize("/" + path)
    try:
        fd = root.lookup(guest, follow=True)
    except OSError as exc:
        raise NotElf(f"{path}: {exc.strerror} (inside the root {root.directory})") from None
    try:
        return guest, os.readlink(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


class MachineCpuServices:
    """The CPU operations handlers may ask for, on the thread that is running."""

    def __init__(self, machine: Machine) -> None:
        self.m = machine

    def clone_thread(self, child: Task, stack: int, tls: int | None) -> None:
        m = self.m
        child.cpu_state = m.cpu.save()
        child_pc = m.cpu.pc + m.arch.hook_pc_lag
        regs = m.arch.clone_registers(m.cpu, child_pc, stack, tls)
        child.first_run = {str(k): v for k, v in regs.items()}
        if tls is not None:
            child.first_run["tls"] = tls
        m.contexts[child] = SyscallContext(m.kernel, child, self)

    def set_tls(self, value: int) -> None:
        self.m.arch.set_tls(self.m.cpu, value)

    def get_tls(self) -> int:
        return self.m.arch.get_tls(self.m.cpu)

    def set_tls_entry(self, entry: int, descriptor: int) -> None:
        self.m.arch.set_tls_entry(self.m.cpu, entry, descriptor)

    def get_tls_entry(self, entry: int) -> int:
        return self.m.arch.get_tls_entry(self.m.cpu, entry)

    def sigreturn(self, task: Task) -> None:
        m = self.m
        m.cpu.after_stop.append(lambda: m.finish_sigreturn(task))
        m.cpu.stop()

    def end_slice(self) -> None:
        self.m.yield_requested = True
        self.m.cpu.stop()

    def stack_pointer(self) -> int:
        return self.m.cpu.sp


class Machine:
    def __init__(self, path: str, argv: list[str], options: RunOptions | None = None,
                 bus: EventBus | None = None) -> None:
        self.options = options or RunOptions()
        self.bus = bus or EventBus()
        self.root = self.options.root or HostRoot()
        # AT_EXECFN is the name as given to execve; /proc/self/exe the resolved one.
        self.execfn = path if not isinstance(self.root, ConfinedRoot) else normalize("/" + path)
        self.guest_exe, path = locate_binary(self.root, path)
        self.info: ElfInfo = read_elf(path)
        self.arch: Arch = arch_for(self.info)
        arch = self.arch
        through_interp = self.uses_interpreter()
        self.image: LoadedImage = load_image(
            self.info, base=self._base(), dyn_base=arch.layout.dyn_base,
            address_limit=arch.layout.task_size, relocate=False if through_interp else None)
        self.sysroot: str | None = self.options.sysroot
        self.interp_image: LoadedImage | None = None
        if through_interp:
            self._load_interpreter()
        self.cpu = Cpu(arch)
        self.memory = UnicornMemory(self.cpu.uc, arch.layout.task_size.bit_length())
        self.cpu.use_page_permissions(self.memory.prot_at, self.memory.region_table)
        self.memory.on_protect = self.cpu.flush_tlb
        self.mem = GuestMemory(self.memory, arch.word_size)
        deterministic = self.options.kernel.deterministic
        self.timer = SliceTimer(self.cpu.uc, self.options.quantum,
                                work_quantum=WORK_QUANTUM if deterministic else None)
        # The TLB hook asks for a stop when the TLB must grow (Cpu.grow_tlb); in a
        # deterministic run that too depends on the guest's work only.
        self.cpu.on_tlb_pressure = self.timer.stopper.request_stop
        self.clock: Clock = Clock()
        if deterministic:
            self.clock = VirtualClock(self.timer.stopper.work, NS_PER_BLOCK)
            fix_machine(self.options.kernel)
            if arch.abi.name == "x86_64":
                self._tsc = VirtualTsc(self.cpu.uc, self.clock)
        elif not self.options.kernel.cpumask_bytes:
            self.options.kernel.cpumask_bytes = host.cpumask_bytes()
        self.kernel = Kernel(arch.abi, self.mem, self.clock, self.options.kernel)
        self.kernel.thread_created = self._thread_created  # type: ignore[method-assign]
        self.kernel.host_child_ended = self._host_child_ended  # type: ignore[method-assign]
        self.kernel.exec_program = self._exec_program
        self.kernel.exec_in_place = self._exec_in_place
        self.kernel.fork_process = self._fork_process
        self.forked = False
        """This elftrace is a fork of the one that ran the guest's parent process."""
        self.before_fork: list[Callable[[], None]] = []
        """Flushes of buffered output (the trace), so the child does not repeat it."""
        self.follow_forks: tuple[Callable[[int], None], Callable[[int], None]] | None = None
        """(in the parent, in the child) calls with the child's pid, for a tracer that
        follows forks (-f); without them a forked child runs untraced."""
        self.exec_request: ExecInPlace | None = None
        self.host_child_exited = False
        self.services = MachineCpuServices(self)
        self.contexts: dict[Task, SyscallContext] = {}
        self.current: Task
        self.ctx: SyscallContext
        self.loaded: Task | None = None
        self.yield_requested = False
        self.host_signal_arrived = False
        self.table = table_for(arch.abi.name)
        self.dispatcher = Dispatcher(self, self.table, self.bus)
        self.cpu.on_syscall = self.dispatcher.on_syscall
        self.process = self._build_process(path, argv)
        self.exit_status: int | None = None
        self.limit_reached: str | None = None
        """Which of elftrace's limits ended the run (``--timeout``), if one did."""
        self.halted = False
        self.slices = 0

    # Set-up ------------------------------------------------------------------------------

    def uses_interpreter(self) -> bool:
        """Whether the program starts in its interpreter (see RunOptions.interpreter)."""
        info, mode = self.info, self.options.interpreter
        if info.interp is None or mode == "never":
            return False
        return mode == "always" or bool(info.dynamic is not None and info.dynamic.needed)

    def _load_interpreter(self) -> None:
        """Map PT_INTERP from the sysroot as load_elf_interp does: an ET_DYN interpreter
        lands where the first mmap would, at the top of the mmap area."""
        info, arch = self.info, self.arch
        assert info.interp is not None
        if isinstance(self.root, ConfinedRoot):
            # Inside a --rootfs the interpreter is the root's own, found like any path.
            self.sysroot, host_path = None, self.root.host(normalize(info.interp))
        else:
            self.sysroot, host_path = find_interpreter(self.options.sysroot, arch.sysroot,
                                                       info.interp, info.path)
        interp = read_elf(host_path)
        if (interp.machine, interp.elf_class) != (info.machine, info.elf_class):
            raise UnsupportedImage(f"{info.path}: interpreter {host_path} is for "
                                   f"{machine_name(interp.machine)}, not {arch.name}")
        base = self._top_of_mmap(interp) if interp.type is ElfType.DYN else None
        self.interp_image = load_image(interp, base=base, dyn_base=arch.layout.dyn_base,
                                       address_limit=arch.layout.task_size, relocate=False)

    def _base(self) -> int | None:
        return image_base(self.info, self.arch, self.options.base)

    def _top_of_mmap(self, info: ElfInfo) -> int:
        return top_of_mmap(info, self.arch)

    def _build_process(self, path: str, argv: list[str]) -> Process:
        arch, image, layout = self.arch, self.image, self.arch.layout
        vm = AddressSpace(self.memory, mmap_base=layout.mmap_base, mmap_min=layout.mmap_min,
                          task_size=layout.task_size)
        exe = self.guest_exe
        st = os.stat(path)
        device = (os.major(st.st_dev), os.minor(st.st_dev))
        # Linux charges a private writable segment (a bss) against the commit limit at
        # exec time too: an image too large for it fails to start.
        vm.commit_limit = self.options.max_memory
        for m in image.mappings:
            try:
                vm.map_fixed(m.start, m.size, m.prot, name=exe, offset=m.file_offset,
                             inode=st.st_ino, device=device, data=bytes(m.data))
            except (OSError, UcError, SyscallError) as exc:
                # Linux fails the exec the same way (vm_brk/elf_map: -ENOMEM) when a
                # segment, typically a huge bss, cannot be backed.
                reason = exc.strerror if isinstance(exc, OSError) else str(exc)
                if isinstance(exc, SyscallError) and exc.note:
                    reason = f"{reason}: {exc.note}"
                raise UnsupportedImage(
                    f"{path}: cannot map the segment at {m.start:#x}+{m.size:#x} "
                    f"({reason})") from None
        if self.interp_image is not None:
            interp = self.interp_image
            interp_path = os.path.realpath(interp.info.path)
            ist = os.stat(interp_path)
            for m in interp.mappings:
                vm.map_fixed(m.start, m.size, m.prot, name=interp_path, offset=m.file_offset,
                             inode=ist.st_ino, device=(os.major(ist.st_dev),
                                                       os.minor(ist.st_dev)),
                             data=bytes(m.data))
        vm.set_brk_start(image.brk_start)
        fds = FdTable(limit=self._nofile_limit())
        self._install_stdio(fds)
        argv_bytes = [os.fsencode(a) for a in argv]
        envp = self.options.env if self.options.env is not None else [
            os.fsencode(k) + b"=" + os.fsencode(v) for k, v in os.environ.items()]
        pid, ppid = (FIXED_PID, FIXED_PID - 1) if self.options.kernel.deterministic else (
            os.getpid(), os.getppid())
        process = Process(pid=pid, ppid=ppid, vm=vm, fds=fds, exe=exe,
                          host_exe=str(Path(path).resolve()), argv=argv_bytes, envp=envp,
                          cwd="/" if isinstance(self.root, ConfinedRoot) else os.getcwd(),
                          root=self.root,
                          comm=Path(path).name[:15])
        if self.options.kernel.deterministic:
            process.pgid = process.sid = pid
            process.proc_passthrough = frozenset()
        if self.sysroot is not None and not isinstance(self.root, ConfinedRoot):
            process.root = SysrootPaths(self.sysroot, read_only=self.root.read_only)
        process.umask = os.umask(0o022)
        os.umask(process.umask)
        self.kernel.attach_process(process)
        arch.map_special_pages(vm, self.mem)
        stack_low = layout.stack_top - layout.stack_size
        gnu_stack = self.info.first(PT.GNU_STACK)
        stack_prot = PROT_READ | PROT_WRITE
        if arch.stack_is_executable(gnu_stack.flags if gnu_stack is not None else None):
            stack_prot |= PROT_EXEC
        try:
            vm.map_fixed(stack_low, layout.stack_size, stack_prot, name="[stack]")
        except SyscallError as exc:
            # exec fails the same way when the stack cannot be committed.
            why = f"{exc.errno.name}: {exc.note}" if exc.note else exc.errno.name
            raise UnsupportedImage(f"{path}: cannot map the {layout.stack_size >> 20} MiB "
                                   f"stack ({why})") from None
        auxv = self._auxv(path)
        stack = build_initial_stack(top=layout.stack_top, word_size=arch.word_size,
                                    argv=argv_bytes, envp=envp, auxv=auxv,
                                    execfn=os.fsencode(self.execfn))
        self.mem.write(stack.sp, stack.data)
        self.initial_stack = stack
        word = "<Q" if arch.word_size == 8 else "<I"
        process.auxv = b"".join(struct.pack(word, t) + struct.pack(word, v)
                                for t, v in stack.auxv)
        main = Task(process.pid, process, comm=process.comm)
        process.tasks[main.tid] = main
        inherited = self.options.inherited
        if inherited is not None:
            for signo in inherited.ignored:
                process.actions[signo] = SigAction(handler=SIG_IGN)
            main.sigmask = inherited.sigmask
        elif not self.options.kernel.deterministic:
            # What execve keeps from elftrace's own start: ignored signals and the mask.
            for signo in inherited_ignored():
                process.actions[signo] = SigAction(handler=SIG_IGN)
            main.sigmask = inherited_mask()
        start = self.interp_image.entry if self.interp_image is not None else image.entry
        arch.initial_registers(self.cpu, start, stack.sp)
        self.contexts[main] = SyscallContext(self.kernel, main, self.services)
        self.current = main
        self.ctx = self.contexts[main]
        self.loaded = main
        self.kernel.scheduler.add(main)
        self.kernel.scheduler.runq.remove(main)
        return process

    def _nofile_limit(self) -> int:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        return soft if soft != resource.RLIM_INFINITY else 1 << 20

    def _install_stdio(self, fds: FdTable) -> None:
        import fcntl

        inherited = self.options.inherited
        pairs = {fd: fd for fd in (0, 1, 2)} if inherited is None else inherited.fds
        for fd, host_fd in pairs.items():
            try:
                host_flags = fcntl.fcntl(host_fd, fcntl.F_GETFL)
                dup = os.dup(host_fd)
            except OSError:
                continue
            if host_fd > 2:
                os.close(host_fd)  # passed for this only
            try:
                path = os.readlink(f"/proc/self/fd/{dup}")
            except OSError:
                path = f"/dev/fd/{fd}"
            # The guest sees the status flags its stdio really has (a pipe has no
            # O_LARGEFILE, a file opened by a 64-bit shell has), in its own numbering.
            flags = host_flags & (O_ACCMODE | O_APPEND | O_NONBLOCK)
            if host_flags & host.O_LARGEFILE:
                flags |= self.arch.abi.open_flags.largefile
            fds.install_at(fd, HostFile(dup, flags, path))

    def _auxv(self, path: str) -> list[tuple[int, AuxValue]]:
        image, info = self.image, self.info
        creds = os.getuid(), os.geteuid(), os.getgid(), os.getegid()
        entries: dict[int, AuxValue] = {
            AT.PAGESZ: PAGE_SIZE, AT.CLKTCK: os.sysconf("SC_CLK_TCK"),
            AT.PHDR: image.phdr_addr, AT.PHENT: info.phentsize, AT.PHNUM: info.phnum,
            AT.BASE: self.interp_image.bias if self.interp_image is not None else 0,
            AT.FLAGS: 0, AT.ENTRY: image.entry, AT.UID: creds[0],
            AT.EUID: creds[1], AT.GID: creds[2], AT.EGID: creds[3], AT.SECURE: 0,
            AT.RANDOM: self.kernel.random_bytes(16), AT.EXECFN: 0,
        }
        for tag, value in self.arch.auxv_extras():
            entries[tag] = value
        return [(tag, entries[tag]) for tag in AUXV_ORDER if tag in entries]

    # Running -----------------------------------------------------------------------------

    def run(self) -> int:
        """Run until the process exits; return its wait status (code << 8, or the signal)."""
        host = HostSignals(self._host_signal, self._host_child)
        self.host_signals = host
        self.timer.watch_fd = host.read_fd
        sched = self.kernel.scheduler
        sched.wakeup_fd = host.read_fd
        sched.external_wakeup = self._expects_host_events
        self.timer.start()
        deadline = self._start_deadline()
        try:
            with host.installed():
                self._loop()
        finally:
            self.timer.stop()
            if deadline is not None:
                deadline.cancel()
            # As exit(2) does: the guest's descriptors (dups of elftrace's stdio among
            # them) are closed, so a Machine run in-process leaves none behind.
            self.process.fds.close_all()
        if self.halted:
            return -1
        status = self.process.exit_status
        assert status is not None
        self.exit_status = status
        self.bus.publish(ProcessExited(status, self.clock.wall()))
        return status

    def _host_signal(self, signo: int) -> None:
        """A host signal for elftrace: the guest process gets it (from outside: SI_USER)."""
        self.kernel.signal_process(SigInfo(signo, SI_USER, pid=0, uid=os.getuid()))
        # The wakeup pipe is drained by the run loop, not here: an idle select interrupted
        # by this signal is retried (PEP 475) and must find the pipe still readable.
        self.host_signal_arrived = True
        self.timer.signal_handled()

    def _host_child(self) -> None:
        """SIGCHLD for elftrace: a child it runs for the guest (exec'd or forked) ended
        (reaped by the run loop, not here: a handler may run in the middle of the kernel
        model)."""
        self.host_child_exited = True
        self.timer.signal_handled()

    def _reap_host_children(self) -> None:
        if self.host_child_exited:
            self.host_child_exited = False
            self.kernel.reap_host_children()

    def _exec_program(self, ctx: SyscallContext, guest_path: str, host_path: str,
                      argv: list[bytes], envp: list[bytes]) -> int:
        from emulator.spawn import spawn_exec

        return spawn_exec(ctx, guest_path, host_path, argv, envp, self.options.exec_options)

    def _exec_in_place(self, ctx: SyscallContext, guest_path: str, host_path: str,
                       argv: list[bytes], envp: list[bytes]) -> None:
        from emulator.spawn import exec_in_place

        self.exec_request = exec_in_place(ctx, guest_path, host_path, argv, envp,
                                          self.options.exec_options)

    def _fork_process(self, ctx: SyscallContext) -> int:
        from syscalls.kernel.files import PipeEnd

        for entry in list(ctx.fds.entries.values()):
            if isinstance(entry.file, PipeEnd):
                entry.file.pipe.ensure_host()  # both processes will hold it
        for flush in (sys.stdout.flush, sys.stderr.flush, *self.before_fork):
            flush()
        # A signal for the child (its parent's kill right after fork returns) must find
        # the child's model and wake-up pipe in place: it waits until they are.
        held = signal.pthread_sigmask(signal.SIG_BLOCK, (*FORWARDED, signal.SIGCHLD))
        try:
            pid = os.fork()
            if pid == 0:
                self._become_child(ctx)
            elif self.follow_forks is not None:
                self.follow_forks[0](pid)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
        return pid

    def _become_child(self, ctx: SyscallContext) -> None:
        """In the forked elftrace: only this thread survived the fork. The model becomes
        the child process; the slice timer and the host-signal pipe are made anew; a
        tracer goes on here only if it follows forks (strace without -f does not)."""
        self.forked = True
        self.kernel.become_forked_child(ctx.task, os.getpid())
        for task in list(self.contexts):
            if task is not ctx.task:
                del self.contexts[task]
        if self.follow_forks is not None:
            self.follow_forks[1](os.getpid())
        else:
            self.bus.clear()
            self.dispatcher.trace((), None)
        host = self.host_signals
        os.close(host.read_fd)
        os.close(host.write_fd)
        host.read_fd, host.write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        with contextlib.suppress(ValueError):
            signal.set_wakeup_fd(host.write_fd, warn_on_full_buffer=False)
        self.kernel.scheduler.wakeup_fd = host.read_fd
        self.timer.after_fork(host.read_fd)

    def _host_child_ended(self, process: Process, status: int) -> None:
        # As for a child of the model, a kill is reported with the exit code 0.
        if self.bus.wants(ThreadExited):
            self.bus.publish(ThreadExited(process.pid, (status >> 8) & 0xFF,
                                          self.clock.wall()))

    def _start_deadline(self) -> threading.Timer | None:
        timeout = self.options.timeout
        if timeout is None:
            return None
        deadline = threading.Timer(timeout, self._time_up, args=(f"--timeout {timeout:g}s",))
        deadline.daemon = True
        deadline.start()
        return deadline

    def _time_up(self, limit: str) -> None:
        """On the deadline thread: end the slice and wake an idle loop; the loop kills."""
        self.limit_reached = limit
        self.timer.stopper.request_stop()
        with contextlib.suppress(OSError):
            os.write(self.host_signals.write_fd, b"\0")

    def _end_by_limit(self) -> bool:
        """Kill the guest with SIGKILL, as a supervisor enforcing a limit would."""
        if self.limit_reached is None:
            return False
        self.kernel.kill_group(Sig.SIGKILL)
        return True

    def _expects_host_events(self) -> bool:
        """A guest waiting for nothing but a signal it handles, or for a program it exec'd,
        is not deadlocked."""
        return bool(self.kernel.host_children) or self._expects_host_signals()

    def _expects_host_signals(self) -> bool:
        """A guest waiting for nothing but a signal it handles is not deadlocked."""
        return any(not self.process.action(s).is_default and not self.process.action(s).is_ignore
                   for s in FORWARDED)

    def add_breakpoint(self, address: int, action: Callable[[int], None]) -> None:
        """Call ``action(pc)`` before the instruction at ``address`` runs: one code hook on
        that address only (Unicorn instruments nothing else)."""
        from unicorn import UC_HOOK_CODE
        from unicorn.unicorn_py3.unicorn import HOOK_CODE_CFUNC

        def on_code(pc: int, _size: int) -> None:
            action(pc)

        self.cpu.add_hook(UC_HOOK_CODE, HOOK_CODE_CFUNC, on_code, address, address)
        # Code already translated would run without the new hook: drop its cached block.
        with self.memory.reshaping():
            self.cpu.uc.ctl_remove_cache(address, address + 1)
        self.cpu.flush_tlb()

    def halt(self) -> None:
        """Stop the whole machine where it stands (from a breakpoint action): run() returns
        with ``halted`` set and no exit status; memory stays readable."""
        self.halted = True
        self.cpu.stop()

    def _finished(self) -> bool:
        if self.halted:
            return True
        return (self.process.exit_status is not None and not self.process.live_tasks()) \
            or self.kernel.exit_group_requested

    def _loop(self) -> None:
        sched = self.kernel.scheduler
        task: Task | None = self.current
        rotate = False
        while not self._finished():
            if self._end_by_limit():
                return
            if self.host_signal_arrived:
                self.host_signal_arrived = False
                self.host_signals.drain()
            self._reap_host_children()
            if task is None or task.state is not TaskState.RUNNABLE or rotate:
                if task is not None and task.state is TaskState.RUNNABLE:
                    sched.runq.append(task)
                sched.expire_timers()
                sched.poll_host()
                task = sched.next()
                while task is None:
                    sched.idle()
                    if self._end_by_limit():
                        return
                    self._reap_host_children()
                    task = sched.next()
                rotate = False
            self._switch_to(task)
            if task.first_run is not None:
                self._start_thread(task)
            if task.blocked is not None and not self._resume_blocked(task):
                task = None
                continue
            self._deliver_signals(task)
            if self._finished():
                break
            budget = self.options.max_slices
            if budget is not None and self.slices >= budget:
                raise SliceBudgetExhausted(self.slices)
            self.slices += 1
            rotate = self._run_slice(task)
            if self.exec_request is not None:
                raise self.exec_request  # the caller replaces elftrace (cli.py)
            if task.state is TaskState.EXITED:
                self._thread_exited(task)
                task = None

    def _switch_to(self, task: Task) -> None:
        self.current = task
        self.ctx = self.contexts[task]
        if self.loaded is task:
            return
        loaded = self.loaded
        if loaded is not None and loaded.state is not TaskState.EXITED:
            if loaded.cpu_state is None:
                loaded.cpu_state = self.cpu.save()
            else:
                self.cpu.uc.context_update(loaded.cpu_state)
        self.cpu.restore(task.cpu_state)
        self.loaded = task

    def _start_thread(self, task: Task) -> None:
        regs = task.first_run or {}
        task.first_run = None
        tls = regs.pop("tls", None)
        self.cpu.set_regs({int(k): v for k, v in regs.items()})
        if tls is not None:
            self.arch.set_tls(self.cpu, tls)

    def _needs_timer(self) -> bool:
        sched = self.kernel.scheduler
        return bool(sched.runq) or sched.next_deadline() is not None or any(
            b.host_fds for b in sched.blocked)

    def _run_slice(self, task: Task) -> bool:
        """Emulate ``task`` until something stops it; True if its turn is over."""
        cpu = self.cpu
        self.yield_requested = False
        begin = self.arch.resume_address(cpu)
        # A bounded run slices even a lone spinning thread, or the bound could never act.
        # With other threads alive, a syscall in this slice may make one runnable (a futex
        # wake): the slice must still end, or a thread that then spins starves it.
        timers = self.kernel.timers
        armed = (self._needs_timer() or self.options.max_slices is not None
                 or (len(self.process.tasks) > 1 and len(self.process.live_tasks()) > 1)
                 or timers.cpu_armed)
        if armed:
            self.timer.arm()
        error: UcError | None = None
        timers.cpu.begin(task)
        try:
            cpu.run(begin)
        except UcError as exc:
            error = exc
        finally:
            # Also after an unarmed slice: a host signal requests a stop whether or not a
            # slice is armed, and a request left standing would end every later slice at
            # its first block.
            self.timer.disarm()
        self.dispatcher.drain_log()
        if cpu.tlb_growth_due:
            cpu.grow_tlb()
        cpu.run_after_stop()
        # A CPU-time timer (SIGPROF for a profiler) that this slice made expire signals the
        # thread that ran it, where it stands: the profile sample must be this thread's.
        profiled = timers.charge() is task and error is None and cpu.trap is None
        if error is not None:
            self._fault(task, error)
            return False
        if cpu.trap is not None:
            self._trap(task, cpu.trap)
            return False
        if not cpu.stop_requested and cpu.pc == self.arch.never_address:
            self._signal_fault(task, SigInfo(Sig.SIGSEGV, SEGV_MAPERR, addr=cpu.pc))
            return False
        if profiled and task.state is TaskState.RUNNABLE and task.blocked is None:
            self._deliver_signals(task)
        return self.timer.fired or self.yield_requested

    # Blocking, restarting ----------------------------------------------------------------

    def _resume_blocked(self, task: Task) -> bool:
        pending = task.blocked
        assert pending is not None
        if pending.reason is WakeReason.INTERRUPTED:
            self._interrupted(task, pending)
            return True
        try:
            result = pending.block.retry(pending.reason)
        except SyscallError as err:
            result = -int(err.errno)
        if not isinstance(result, int):
            pending.block = result
            pending.reason = None
            self.kernel.scheduler.block(task, result)
            return False
        task.blocked = None
        self.cpu.set_return(result)
        self.dispatcher.finish(task.tid, pending, result)
        if task.saved_sigmask is not None:
            task.sigmask, task.saved_sigmask = task.saved_sigmask, None
        return True

    def _interrupted(self, task: Task, pending: PendingSyscall) -> None:
        """A signal interrupted a blocked call: restart it or fail it with EINTR."""
        task.blocked = None
        codes = {Restart.SYS: Errno.ERESTARTSYS, Restart.NOHAND: Errno.ERESTARTNOHAND,
                 Restart.BLOCK: Errno.ERESTART_RESTARTBLOCK, Restart.NEVER: Errno.EINTR}
        code = codes[pending.spec.restart]
        if code == Errno.EINTR:
            self.cpu.set_return(-int(Errno.EINTR))
            self.dispatcher.finish(task.tid, pending, -int(Errno.EINTR))
            return
        signo = self._next_signal(task)
        action = task.process.action(signo) if signo else SigAction()
        handler_runs = not action.is_default and not action.is_ignore
        self.dispatcher.finish(task.tid, pending, -int(code), restarted=True)
        if not handler_runs or (code == Errno.ERESTARTSYS and action.flags & SA_RESTART):
            rewound = self.cpu.pc - self.arch.syscall_insn_size(self.cpu)
            self.cpu.set_reg(self.arch.pc_reg, self.arch.pc_value(self.cpu, rewound))
            return
        self.cpu.set_return(-int(Errno.EINTR))
        with contextlib.suppress(SyscallError):
            write_remaining(self.ctx, pending.block)

    def _next_signal(self, task: Task) -> int:
        """The signal delivery will pick next (the same rule as PendingSignals.take)."""
        ready = task.deliverable()
        pick = ready & SYNCHRONOUS_MASK or ready
        return (pick & -pick).bit_length()

    # Signals -----------------------------------------------------------------------------

    def _deliver_signals(self, task: Task) -> None:
        process = task.process
        while not self._finished():
            info = task.pending.take(task.sigmask) or process.pending.take(task.sigmask)
            if info is None:
                return
            signo = info.signo
            action = process.action(signo)
            if action.is_ignore:
                continue
            if action.is_default:
                kind = default_action(signo)
                if kind in (Default.IGNORE, Default.CONT, Default.STOP):
                    continue
                self._kill(task, info, core=kind is Default.CORE)
                return
            mask = task.saved_sigmask if task.saved_sigmask is not None else task.sigmask
            task.saved_sigmask = None
            try:
                self.arch.setup_signal_frame(self.cpu, self.mem, task, info, action, mask)
            except SyscallError:
                # The frame could not be written: Linux's force_sigsegv kills the process.
                self._kill(task, SigInfo(Sig.SIGSEGV, SI_KERNEL), core=True)
                return
            if self.bus.wants(SignalDelivered):
                self.bus.publish(SignalDelivered(task.tid, info, action.handler, self.clock.wall()))
            blocked = action.mask if action.flags & SA_NODEFER else action.mask | bit(signo)
            task.sigmask = (task.sigmask | blocked) & ~UNBLOCKABLE
            if action.flags & SA_RESETHAND:
                process.actions[signo] = SigAction()

    def _kill(self, task: Task, info: SigInfo, core: bool) -> None:
        if self.bus.wants(GuestKilled):
            self.bus.publish(GuestKilled(task.tid, info, self.cpu.pc, core, self.clock.wall()))
        self.kernel.kill_group(info.signo, core=core, process=task.process)

    def finish_sigreturn(self, task: Task) -> None:
        """rt_sigreturn, after emulation stopped: registers and mask come from the frame."""
        try:
            mask = self.arch.restore_signal_frame(self.cpu, self.mem, task)
        except SyscallError:
            self._signal_fault(task, SigInfo(Sig.SIGSEGV, SI_KERNEL))
            return
        task.sigmask = mask & ~UNBLOCKABLE
        number = self.table.number("rt_sigreturn")
        if number is not None and self.dispatcher.is_traced(number, task.tid):
            bound = self.table.bound[number]
            ret = self.cpu.reg(self.arch.ret_reg)
            self.bus.publish(SyscallExit(task.tid, number, "rt_sigreturn", bound.spec, (mask,),
                                         ret, self.clock.wall()))

    # Faults ------------------------------------------------------------------------------

    def _fault(self, task: Task, error: UcError) -> None:
        fault = self.cpu.exact_fault()
        if fault is not None:
            code = SEGV_ACCERR if self.process.vm.find(fault.address) else SEGV_MAPERR
            trapno, err = self.arch.fault_trapno(fault.write, fault.fetch)
            info = SigInfo(Sig.SIGSEGV, code, addr=fault.address, trapno=trapno,
                           error_code=err)
        elif error.errno == UC_ERR_INSN_INVALID:
            info = SigInfo(Sig.SIGILL, ILL_ILLOPN, addr=self.cpu.pc)
        else:
            info = SigInfo(Sig.SIGSEGV, SI_KERNEL, addr=0)
        self._signal_fault(task, info)

    def _trap(self, task: Task, trap: Trap) -> None:
        kinds = {
            "divide": SigInfo(Sig.SIGFPE, FPE_INTDIV, addr=trap.pc, trapno=trap.address),
            "fpe": SigInfo(Sig.SIGFPE, 0, addr=trap.pc, trapno=trap.address),
            "breakpoint": SigInfo(Sig.SIGTRAP, TRAP_BRKPT, addr=trap.pc, trapno=trap.address),
            "debug": SigInfo(Sig.SIGTRAP, TRAP_BRKPT, addr=trap.pc, trapno=trap.address),
            "illegal": SigInfo(Sig.SIGILL, ILL_ILLOPN, addr=trap.pc, trapno=trap.address),
            "bus": SigInfo(Sig.SIGBUS, 1, addr=trap.pc, trapno=trap.address),
        }
        info = kinds.get(trap.kind, SigInfo(Sig.SIGSEGV, SI_KERNEL, addr=0,
                                             trapno=trap.address))
        self._signal_fault(task, info)

    def _signal_fault(self, task: Task, info: SigInfo) -> None:
        self.kernel.force_signal(task, info)

    # Threads -----------------------------------------------------------------------------

    def _thread_created(self, parent: Task, child: Task) -> None:
        if self.bus.wants(ThreadCreated):
            self.bus.publish(ThreadCreated(parent.tid, child.tid, self.clock.wall()))

    def _thread_exited(self, task: Task) -> None:
        if self.loaded is task:
            self.loaded = None
        task.cpu_state = None
        # Threads ended by exit_group or a fatal signal are reported with the process, an
        # exec'd child when its host process ends (_host_child_ended).
        if (self.bus.wants(ThreadExited) and not self.kernel.exit_group_requested
                and task.process.host_pid is None):
            self.bus.publish(ThreadExited(task.tid, task.exit_code, self.clock.wall()))


def image_base(info: ElfInfo, arch: Arch, requested: int | None) -> int | None:
    """Where the lowest page of an ET_DYN image goes (None: load_image's Linux default,
    ELF_ET_DYN_BASE). A static-pie (no PT_INTERP) gets load_bias 0 from Linux (since
    4.13) and lands where its first mmap does: the top of the mmap area, aligned to its
    largest segment alignment."""
    if requested is not None or info.type is not ElfType.DYN or info.interp:
        return requested
    return top_of_mmap(info, arch)


def top_of_mmap(info: ElfInfo, arch: Arch) -> int:
    """The lowest address of ``info`` mapped where a top-down mmap of its span lands."""
    low = min(p.vaddr for p in info.loads) & ~(PAGE_SIZE - 1)
    high = max(p.vaddr + p.memsz for p in info.loads)
    span = ((high + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)) - low
    return (arch.layout.mmap_base - span) & ~(max_alignment(info) - 1)


def exit_code_of(status: int) -> int:
    """What a shell reports for a wait status: the exit code, or 128 + the signal."""
    if status & 0x7F:
        return 128 + (status & 0x7F)
    return (status >> 8) & 0xFF


def killing_signal(status: int) -> int | None:
    return status & 0x7F or None

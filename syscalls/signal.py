"""Signal syscalls: actions, masks, alternate stacks, sending, sigreturn, waiting.

Delivery itself (choosing the stack, writing the architecture's frame, restoring it)
happens in the emulator at the boundaries of guest execution; these handlers only
change the kernel's signal state.
"""

from __future__ import annotations

from syscalls import abi as A
from syscalls.context import SyscallContext
from syscalls.errno import Errno, SyscallError
from syscalls.kernel.signals import (
    FULL_MASK,
    NSIG,
    SI_TKILL,
    SI_USER,
    UNBLOCKABLE,
    AltStack,
    Sig,
    SigAction,
    SigInfo,
    bit,
)
from syscalls.kernel.wait import Block, WaitQueue, WakeReason
from syscalls.outcome import NO_RETURN, NoReturn
from syscalls.spec import (
    SIGNAL,
    Enum_,
    Int,
    Ptr,
    Restart,
    Ret,
    Signal,
    SigSet,
    Size,
    Struct,
    Support,
    out,
    spec,
)
from syscalls.structs import (
    KernelSigaction,
    pack_sigaction,
    pack_stack_t,
    sigaction_size,
    stack_t_size,
    unpack_sigaction,
    unpack_stack_t,
)

SIGSET_SIZE = 8
MINSIGSTKSZ = 2048
SIG_BLOCK = 0
SIG_UNBLOCK = 1
SIG_SETMASK = 2


def _check_signo(signo: int) -> None:
    if not 1 <= signo <= NSIG:
        raise SyscallError(Errno.EINVAL)


def sys_rt_sigaction(ctx: SyscallContext, signo: int, act: int, oldact: int,
                     sigsetsize: int) -> int:
    if sigsetsize != SIGSET_SIZE:
        raise SyscallError(Errno.EINVAL)
    _check_signo(signo)
    word = ctx.abi.word_size
    new: KernelSigaction | None = None
    if act:
        if signo in (Sig.SIGKILL, Sig.SIGSTOP):
            raise SyscallError(Errno.EINVAL)
        new = unpack_sigaction(ctx.mem.read(act, sigaction_size(word)), word)
    current = ctx.process.action(signo)
    if oldact:
        ctx.mem.write(oldact, pack_sigaction(
            KernelSigaction(current.handler, current.flags, current.restorer, current.mask),
            word))
    if new is not None:
        ctx.process.actions[signo] = SigAction(new.handler, new.flags, new.restorer,
                                               new.mask & ~UNBLOCKABLE)
        if ctx.process.ignores(signo):
            # POSIX: setting a pending signal to be ignored discards it.
            ctx.process.pending.discard(signo)
            for task in ctx.process.live_tasks():
                task.pending.discard(signo)
    return 0


def sys_rt_sigprocmask(ctx: SyscallContext, how: int, set_ptr: int, oldset: int,
                       sigsetsize: int) -> int:
    if sigsetsize != SIGSET_SIZE:
        raise SyscallError(Errno.EINVAL)
    task = ctx.task
    old = task.sigmask
    if set_ptr:
        new = ctx.mem.read_u64(set_ptr)
        if how == SIG_BLOCK:
            mask = old | new
        elif how == SIG_UNBLOCK:
            mask = old & ~new
        elif how == SIG_SETMASK:
            mask = new
        else:
            raise SyscallError(Errno.EINVAL)
        task.sigmask = mask & ~UNBLOCKABLE & FULL_MASK
    if oldset:
        ctx.mem.write_u64(oldset, old)
    return 0


def sys_sigaltstack(ctx: SyscallContext, ss: int, old_ss: int) -> int:
    word = ctx.abi.word_size
    task = ctx.task
    alt = task.altstack
    on_stack = alt.contains(ctx.cpu.stack_pointer())
    if old_ss:
        flags = A.SS_ONSTACK if on_stack else alt.flags & A.SS_DISABLE
        ctx.mem.write(old_ss, pack_stack_t(alt.sp, flags, alt.size, word))
    if ss:
        sp, flags, size = unpack_stack_t(ctx.mem.read(ss, stack_t_size(word)), word)
        if on_stack:
            raise SyscallError(Errno.EPERM)
        mode = flags & ~(1 << 31)  # SS_AUTODISARM is accepted and ignored
        if mode not in (0, A.SS_ONSTACK, A.SS_DISABLE):
            raise SyscallError(Errno.EINVAL)
        if mode == A.SS_DISABLE:
            task.altstack = AltStack()
        else:
            if size < MINSIGSTKSZ:
                raise SyscallError(Errno.ENOMEM)
            task.altstack = AltStack(sp, size, 0)
    return 0


def sys_rt_sigreturn(ctx: SyscallContext) -> NoReturn:
    ctx.cpu.sigreturn(ctx.task)
    return NO_RETURN


def sys_rt_sigpending(ctx: SyscallContext, set_ptr: int, sigsetsize: int) -> int:
    if sigsetsize > SIGSET_SIZE:
        raise SyscallError(Errno.EINVAL)
    pending = (ctx.task.pending.mask | ctx.process.pending.mask) & ctx.task.sigmask
    ctx.mem.write(set_ptr, pending.to_bytes(8, "little")[:sigsetsize])
    return 0


def _send_check(ctx: SyscallContext, signo: int) -> None:
    if not 0 <= signo <= NSIG:
        raise SyscallError(Errno.EINVAL)


def sys_tgkill(ctx: SyscallContext, tgid: int, tid: int, signo: int) -> int:
    _send_check(ctx, signo)
    if tgid <= 0 or tid <= 0:
        raise SyscallError(Errno.EINVAL)
    target = ctx.kernel.task(tid)
    if target is None or tgid != ctx.process.pid:
        raise SyscallError(Errno.ESRCH)
    if signo:
        ctx.kernel.signal_task(target, SigInfo(signo, SI_TKILL, pid=ctx.process.pid,
                                               uid=ctx.process.creds.uid))
    return 0


def sys_tkill(ctx: SyscallContext, tid: int, signo: int) -> int:
    return sys_tgkill(ctx, ctx.process.pid, tid, signo)


def sys_kill(ctx: SyscallContext, pid: int, signo: int) -> int:
    _send_check(ctx, signo)
    p = ctx.process
    if pid in (p.pid, 0, -1) or pid == -(p.pgid or p.pid):
        if signo:
            ctx.kernel.signal_process(SigInfo(signo, SI_USER, pid=p.pid, uid=p.creds.uid))
        return 0
    child = next((c for c in p.children if c.pid == pid), None)
    if child is not None:
        # A child not yet reaped (an exec'd one runs on the host: the signal goes there).
        if signo and child.exit_status is None:
            ctx.kernel.signal_process(SigInfo(signo, SI_USER, pid=p.pid, uid=p.creds.uid),
                                      process=child)
        return 0
    # Only the guest and its children exist for it: it can never signal other processes.
    raise SyscallError(Errno.ESRCH)


def sys_rt_sigsuspend(ctx: SyscallContext, mask_ptr: int, sigsetsize: int) -> Block:
    if sigsetsize != SIGSET_SIZE:
        raise SyscallError(Errno.EINVAL)
    task = ctx.task
    task.saved_sigmask = task.sigmask
    task.sigmask = ctx.mem.read_u64(mask_ptr) & ~UNBLOCKABLE
    return _wait_for_signal()


def sys_pause(ctx: SyscallContext) -> Block:
    return _wait_for_signal()


def _wait_for_signal() -> Block:
    def retry(reason: WakeReason) -> int | Block:
        return Block(retry, queues=(WaitQueue(),))

    # Only a signal ends this wait: the dispatcher turns the interruption into EINTR.
    return Block(retry, queues=(WaitQueue(),), data="signal")


SPECS = (
    spec("rt_sigaction", sys_rt_sigaction, Signal(), Struct(name="sigaction"),
         out(Struct(name="sigaction")), Size(), classes=(SIGNAL,)),
    spec("rt_sigprocmask", sys_rt_sigprocmask, Enum_(table="sigprocmask_how"), SigSet(),
         out(SigSet()), Size(), classes=(SIGNAL,)),
    spec("sigaltstack", sys_sigaltstack, Struct(name="stack_t"), out(Struct(name="stack_t")),
         classes=(SIGNAL,)),
    spec("rt_sigreturn", sys_rt_sigreturn, ret=Ret.INT, classes=(SIGNAL,),
         printer="sigreturn"),
    spec("rt_sigpending", sys_rt_sigpending, out(SigSet()), Size(), classes=(SIGNAL,)),
    spec("tgkill", sys_tgkill, Int(), Int(), Signal(), classes=(SIGNAL, "process")),
    spec("tkill", sys_tkill, Int(), Signal(), classes=(SIGNAL, "process")),
    spec("kill", sys_kill, Int(), Signal(), classes=(SIGNAL, "process"),
         support=Support.PARTIAL,
         note="the guest and its children (an exec'd child's host process too)"),
    spec("rt_sigsuspend", sys_rt_sigsuspend, SigSet(), Size(), restart=Restart.NOHAND,
         classes=(SIGNAL,)),
    spec("pause", sys_pause, restart=Restart.NOHAND, classes=(SIGNAL,)),
)

_ = Ptr
_unused_bit = bit

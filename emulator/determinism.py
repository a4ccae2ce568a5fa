"""--deterministic: what makes two runs of the same program identical, syscall for syscall.

Every input the guest can observe that would differ between runs is replaced:

- time: a :class:`~syscalls.kernel.clock.VirtualClock` driven by the count of executed
  translation blocks (counted by the native block callback of emulator/slicer.py, never
  by Python), jumping to the earliest deadline when every thread waits;
- the thread schedule: a time slice is ``WORK_QUANTUM`` blocks instead of 5 ms;
- randomness: AT_RANDOM and getrandom come from a PRNG seeded with ``--seed``;
- x86-64 RDTSC (Go 1.19 seeds per-thread fastrand from it): the virtual clock's
  nanoseconds, through an instruction hook that runs only when RDTSC executes;
- identity: pid 1000 (ppid 999, its own process group and session), tids from 1001;
- the machine: uname (nodename ``elftrace``, a fixed release and version), 2 CPUs in the
  affinity mask, and no /proc/self entries read from the host (cgroup, mountinfo...).

What is not fixed: the contents and timestamps of host files the guest reads, the
environment (use -E/-U), the time of day printed by ``-tt`` is the virtual clock's in
the host's time zone, and data arriving from outside the process (stdin, sockets to
other processes) arrives when it arrives.
"""

from __future__ import annotations

import ctypes

from unicorn import UC_HOOK_INSN, Uc
from unicorn.unicorn_py3.unicorn import uc_hook_h, uclib
from unicorn.x86_const import (
    UC_X86_INS_RDTSC,
    UC_X86_INS_RDTSCP,
    UC_X86_REG_RAX,
    UC_X86_REG_RCX,
    UC_X86_REG_RDX,
)

from syscalls.kernel.clock import VirtualClock
from syscalls.kernel.core import KernelOptions

FIXED_PID = 1000
NS_PER_BLOCK = 50
"""Virtual nanoseconds per executed translation block (a block is ~5-10 instructions)."""
WORK_QUANTUM = 100_000
"""Translation blocks per time slice (about 5 ms of virtual time)."""
FIXED_UNAME = ("elftrace", "6.1.0-elftrace", "#1 SMP PREEMPT_DYNAMIC Thu Jan  1 00:00:00 UTC 2023")
FIXED_CPUS = 2


def fix_machine(options: KernelOptions) -> None:
    options.hostname, options.release, options.version = FIXED_UNAME
    options.ncpus = FIXED_CPUS
    options.cpumask_bytes = 8


_INSN_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)


class VirtualTsc:
    """RDTSC and RDTSCP return the virtual clock's nanoseconds (a 1 GHz TSC; Go 1.19's
    cputicks uses RDTSCP when the CPU has it).

    Unicorn's Python binding has no hook for them, but the C API does (UC_HOOK_INSN with
    UC_X86_INS_RDTSC/RDTSCP; a non-zero return skips the instruction's own emulation).
    The hook runs only when such an instruction executes."""

    def __init__(self, uc: Uc, clock: VirtualClock) -> None:
        self.uc = uc
        self.clock = clock
        self._callbacks = (_INSN_CALLBACK(self._rdtsc), _INSN_CALLBACK(self._rdtscp))
        for insn, callback in zip((UC_X86_INS_RDTSC, UC_X86_INS_RDTSCP), self._callbacks,
                                  strict=True):
            handle = uc_hook_h()
            status = uclib.uc_hook_add(uc._uch, ctypes.byref(handle), UC_HOOK_INSN,
                                       ctypes.cast(callback, ctypes.c_void_p), None,
                                       ctypes.c_uint64(1), ctypes.c_uint64(0),
                                       ctypes.c_int(insn))
            if status:
                raise RuntimeError(f"cannot hook RDTSC (uc_hook_add: {status})")

    def _rdtsc(self, _uc: int, _user: int) -> int:
        ticks = self.clock.now_ns(1)
        self.uc.reg_write(UC_X86_REG_RAX, ticks & 0xFFFFFFFF)
        self.uc.reg_write(UC_X86_REG_RDX, (ticks >> 32) & 0xFFFFFFFF)
        return 1

    def _rdtscp(self, uc: int, user: int) -> int:
        self.uc.reg_write(UC_X86_REG_RCX, 0)  # IA32_TSC_AUX: CPU 0
        return self._rdtsc(uc, user)

"""The engine's own limit: a guest program on Unicorn with nothing elftrace adds.

``python -m bench.bare [--tlb cpu|virtual] [--fault-hook] [--block-hook] BINARY [ARGS...]``

Runs the program on one Unicorn engine with only the hook a program cannot run without
(the syscall trap: SYSCALL on x86-64, the SVC interrupt on ARM), answered by elftrace's
kernel model, which for a CPU-bound program is a few hundred calls. Left out: the
time-slice block hook and its timer thread, the invalid-memory hook, and host signal
forwarding, so threads switch only when one blocks. That is enough for a program whose
other threads sleep (the ``cpu`` workload) and is not a substitute for elftrace: a guest
thread that spins waiting for another would hang here.

``--fault-hook`` / ``--block-hook`` add elftrace's hooks back one at a time, and ``--tlb``
selects Unicorn's TLB mode, so each engine setting's cost is measured on its own.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from unicorn import UC_TLB_CPU, UC_TLB_VIRTUAL, Uc

TLB_MODES = {"cpu": UC_TLB_CPU, "virtual": UC_TLB_VIRTUAL}


class NoSliceTimer:
    """Stands in for emulator.slicer.SliceTimer: never stops the CPU."""

    fired = False

    def __init__(self, uc: Uc, quantum: float, block_hook: bool = False,
                 work_quantum: int | None = None) -> None:
        self.quantum = quantum
        self.work_quantum = work_quantum
        self.watch_fd: int | None = None
        if block_hook:
            from emulator.slicer import BlockStopper

            self.stopper = BlockStopper(uc)

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def arm(self) -> None: ...

    def disarm(self) -> None: ...

    def signal_handled(self) -> None: ...


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bare",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--tlb", choices=sorted(TLB_MODES), default="cpu")
    parser.add_argument("--fault-hook", action="store_true",
                        help="install elftrace's invalid-memory hook")
    parser.add_argument("--block-hook", action="store_true",
                        help="install elftrace's time-slice block hook (never triggered)")
    parser.add_argument("binary")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)

    from emulator import machine as machine_mod
    from emulator.arch import arm, base, x86_64

    if not args.fault_hook:
        def no_fault_hook(cpu: object) -> None: ...

        for module in (arm, x86_64, base):
            module.install_fault_hook = no_fault_hook  # type: ignore[attr-defined]
    block_hook = args.block_hook
    machine_mod.SliceTimer = (  # type: ignore[misc]
        lambda uc, quantum, work_quantum=None: NoSliceTimer(uc, quantum, block_hook,
                                                            work_quantum))
    tlb = TLB_MODES[args.tlb]
    original_create = machine_mod.Cpu.__init__

    def cpu_init(self: machine_mod.Cpu, arch: object) -> None:
        original_create(self, arch)  # type: ignore[arg-type]
        if tlb != UC_TLB_CPU:
            self.uc.ctl_set_tlb_mode(tlb)

    machine_mod.Cpu.__init__ = cpu_init  # type: ignore[method-assign]
    machine = machine_mod.Machine(args.binary, [args.binary, *args.args])
    status = machine.run()
    sys.stdout.flush()
    return machine_mod.exit_code_of(status)


if __name__ == "__main__":
    sys.exit(main())

"""The engine's own limit: a guest program on Unicorn with nothing elftrace adds.

``python -m bench.bare [--tlb pages|cpu|virtual] [--fault-hook] [--block-hook] BINARY [ARGS...]``

Runs the program on one Unicorn engine with only the hooks a program cannot run without
(the syscall trap: SYSCALL on x86-64, the SVC interrupt on ARM, answered by elftrace's
kernel model, which for a CPU-bound program is a few hundred calls; and the TLB fill
hook that gives pages their permissions, and the TLB's growth, see ``PlainStop``), as
elftrace sets the engine up. Left out: the
time-slice block hook and its timer thread, and host signal forwarding, so threads
switch only when one blocks. That is enough for a program whose other threads sleep
(the ``cpu`` workload) and is not a substitute for elftrace: a guest thread that spins
waiting for another would hang here.

``--tlb`` selects how pages get their permissions: ``pages``, elftrace's TLB fill hook
(the default); ``cpu``, Unicorn's default TLB mode (the guest CPU's MMU, which marks
every page executable); ``virtual``, Unicorn's virtual TLB with no fill hook (a page
gets only the access that filled it). ``--fault-hook`` adds an invalid-memory hook (what
elftrace used before the fill hook), ``--block-hook`` the time-slice block hook, so
each engine setting's cost is measured on its own.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from unicorn import Uc

if TYPE_CHECKING:
    from emulator.slicer import BlockStopper

TLB_MODES = ("pages", "cpu", "virtual")


class PlainStop:
    """Stands in for the block stopper where there is no block hook: the TLB's growth
    (emulator/cpu.py: Cpu.grow_tlb) stops the engine with ``uc_emu_stop``, which may run
    the instruction that filled the page once more (elftrace cannot risk that, see
    emulator/slicer.py; for a measurement the program's own success check tells)."""

    def __init__(self, uc: Uc) -> None:
        self.uc = uc

    def request_stop(self) -> None:
        self.uc.emu_stop()

    def clear(self) -> None: ...


class NoSliceTimer:
    """Stands in for emulator.slicer.SliceTimer: never stops the CPU."""

    fired = False

    def __init__(self, uc: Uc, quantum: float, block_hook: bool = False,
                 work_quantum: int | None = None) -> None:
        self.quantum = quantum
        self.work_quantum = work_quantum
        self.watch_fd: int | None = None
        self.stopper: PlainStop | BlockStopper = PlainStop(uc)
        if block_hook:
            from emulator.slicer import BlockStopper

            self.stopper = BlockStopper(uc)

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def arm(self) -> None: ...

    def disarm(self) -> None:
        self.stopper.clear()  # a stop the TLB's growth asked for (Machine._run_slice)

    def signal_handled(self) -> None: ...


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bare",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--tlb", choices=TLB_MODES, default="pages")
    parser.add_argument("--fault-hook", action="store_true",
                        help="add an invalid-memory hook (forces every store onto the "
                             "slow path)")
    parser.add_argument("--block-hook", action="store_true",
                        help="install elftrace's time-slice block hook (never triggered)")
    parser.add_argument("binary")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)

    from unicorn import UC_HOOK_MEM_INVALID, UC_TLB_VIRTUAL

    from emulator import machine as machine_mod

    block_hook = args.block_hook
    machine_mod.SliceTimer = (  # type: ignore[misc]
        lambda uc, quantum, work_quantum=None: NoSliceTimer(uc, quantum, block_hook,
                                                            work_quantum))
    tlb = args.tlb
    fault_hook = args.fault_hook
    original_pages = machine_mod.Cpu.use_page_permissions

    def use_page_permissions(self: machine_mod.Cpu, prot_at: object,
                             regions: object = None) -> None:
        if tlb == "pages":
            original_pages(self, prot_at, regions)  # type: ignore[arg-type]
        elif tlb == "virtual":
            self.uc.ctl_set_tlb_mode(UC_TLB_VIRTUAL)
            self.uc.ctl_exits_enabled(True)
        if fault_hook:
            self.uc.hook_add(UC_HOOK_MEM_INVALID, lambda *_: False)

    machine_mod.Cpu.use_page_permissions = use_page_permissions  # type: ignore[method-assign]
    machine = machine_mod.Machine(args.binary, [args.binary, *args.args])
    status = machine.run()
    sys.stdout.flush()
    return machine_mod.exit_code_of(status)


if __name__ == "__main__":
    sys.exit(main())

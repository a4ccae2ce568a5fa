"""Start-up cost, phase by phase, in a fresh interpreter.

``python -m bench.startup BINARY`` prints one JSON object with the seconds spent in
each phase of ``elftrace run`` before the first guest instruction, and in the lazy
pclntab parse that ``trace -k`` adds at its first backtrace:

- ``imports_run``: what ``elftrace run`` imports (the CLI and the machine);
- ``imports_trace``: what ``trace`` adds (the strace printer and formatters);
- ``read_elf``: reading and validating the ELF file;
- ``machine``: building the Machine (image mapping, kernel model, stack, hooks);
- ``pclntab``: opening the Go symbol table and looking up one function
  (what the first ``-k`` backtrace pays);
- ``interpreter``: measured by the harness as the run time of ``python -c pass``.
"""

from __future__ import annotations

import json
import sys
import time


def main() -> int:
    binary = sys.argv[1]
    phases: dict[str, float] = {}
    t0 = time.perf_counter()
    import emulator.cli
    from emulator.machine import Machine

    t1 = time.perf_counter()
    phases["imports_run"] = t1 - t0
    import emulator.trace.strace  # noqa: F401

    t2 = time.perf_counter()
    phases["imports_trace"] = t2 - t1
    from loader.elf import read_elf

    info = read_elf(binary)
    t3 = time.perf_counter()
    phases["read_elf"] = t3 - t2
    machine = Machine(binary, [binary])
    t4 = time.perf_counter()
    phases["machine"] = t4 - t3
    from loader.gopclntab import GoSymbols

    symbols = GoSymbols.load(info)
    if symbols is not None:
        symbols.frames_at(machine.image.entry)
    phases["pclntab"] = time.perf_counter() - t4
    json.dump(phases, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Interleaved A/B runs of one elftrace command in two source trees.

``python -m bench.ab OLD_TREE NEW_TREE [--reps N] -- run bins/hello-1.27-amd64-static``
runs ``python -m emulator ARGS`` alternately in each tree (old, new, old, new, ...), with
the working directory set to the tree, and prints the CPU time (user + system of the
child, from ``os.wait4``) and wall time of every run, then min and median per tree.
Interleaving is what makes a comparison on a shared machine meaningful: both trees see
the same load at nearly the same moment.

Bytecode is cached (see :func:`bench.run.child_environment`), in a prefix that mirrors
each tree's absolute path, after one warm-up run per tree.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

from bench.run import child_environment, measure_once


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ab",
                                     usage="%(prog)s OLD NEW [--reps N] -- EMULATOR_ARGS...")
    parser.add_argument("old", help="the baseline source tree")
    parser.add_argument("new", help="the changed source tree")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--expect", default="", help="text every run's stdout must contain")
    argv = sys.argv[1:] if argv is None else argv
    if "--" not in argv:
        parser.error("give the arguments to `python -m emulator` after --")
    split = argv.index("--")
    args = parser.parse_args(argv[:split])
    command = argv[split + 1:]
    trees = {"old": os.path.abspath(args.old), "new": os.path.abspath(args.new)}
    env = child_environment()
    for tree in trees.values():
        subprocess.run([sys.executable, "-m", "emulator", *command], cwd=tree, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
                       timeout=args.timeout)
    cpu: dict[str, list[float]] = {name: [] for name in trees}
    wall: dict[str, list[float]] = {name: [] for name in trees}
    for rep in range(args.reps):
        order = list(trees) if rep % 2 == 0 else list(reversed(trees))
        for name in order:
            w, c, _, failure = measure_once([sys.executable, "-m", "emulator", *command],
                                            args.timeout, args.expect.encode(),
                                            cwd=trees[name], env=env)
            if failure:
                print(f"{name}: run {rep} failed: {failure}", file=sys.stderr)
                return 1
            cpu[name].append(c)
            wall[name].append(w)
            print(f"rep {rep} {name}: cpu {c:.3f} s  wall {w:.3f} s", flush=True)
    for name in trees:
        print(f"{name}: cpu min {min(cpu[name]):.3f} median {statistics.median(cpu[name]):.3f}"
              f" | wall min {min(wall[name]):.3f} median {statistics.median(wall[name]):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

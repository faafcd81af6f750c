"""Run every benchmark in this folder, one process each, and report how each went.

Usage::

    python benchmarks/run_all.py --small     # the CI sizes
    python benchmarks/run_all.py             # full sizes (long: hours on 2 cores)

Each script prints its own figures and ratios against the tools users would
otherwise pick; this runner only adds the wall time of each and fails if any
script fails.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="CI sizes")
    parser.add_argument("only", nargs="*", help="script names to run (default: all)")
    args = parser.parse_args()
    scripts = sorted(p for p in HERE.glob("*.py") if p.name != Path(__file__).name)
    if args.only:
        scripts = [p for p in scripts if p.stem in args.only or p.name in args.only]
    failed = []
    for script in scripts:
        command = [sys.executable, str(script)] + (["--small"] if args.small else [])
        print(f"\n=== {script.name} ===", flush=True)
        started = time.perf_counter()
        done = subprocess.run(command, cwd=HERE.parent)
        seconds = time.perf_counter() - started
        status = "ok" if done.returncode == 0 else f"FAILED (exit {done.returncode})"
        print(f"=== {script.name}: {status} in {seconds:.1f} s", flush=True)
        if done.returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"\nbenchmarks failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m bench NAME [--quick]``: run one benchmark (or ``all``), print its table and
write ``bench/results/NAME.json``.

A benchmark is a module ``bench/NAME.py`` with ``def run(quick: bool) -> list[Row]``.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from pathlib import Path

from bench.harness import print_table, write_results


def available() -> list[str]:
    here = Path(__file__).parent
    return sorted(
        m.name
        for m in pkgutil.iter_modules([str(here)])
        if not m.name.startswith("_") and m.name != "harness"
    )


def main(argv: list[str] | None = None) -> int:
    names = available()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("name", choices=[*names, "all"], help="benchmark to run")
    parser.add_argument("--quick", action="store_true", help="fewer, smaller rounds (smoke run)")
    args = parser.parse_args(argv)
    for name in names if args.name == "all" else [args.name]:
        module = importlib.import_module(f"bench.{name}")
        rows = module.run(quick=args.quick)
        print_table(name, rows)
        path = write_results(name, rows)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Print the requirements of pyproject.toml (base plus the extras named) one per line.

Used by the Makefile to install dependencies, pinned by constraints.txt, before the
project itself is built. Stdlib only: it runs before anything is installed.
"""

import sys
import tomllib
from pathlib import Path


def main(argv: list[str]) -> int:
    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]
    extras = [e for arg in argv for e in arg.split(",") if e]
    reqs = list(project["dependencies"])
    optional = project.get("optional-dependencies", {})
    for extra in extras:
        if extra not in optional:
            print(f"unknown extra {extra!r}; known: {', '.join(sorted(optional))}", file=sys.stderr)
            return 2
        reqs += optional[extra]
    print("\n".join(reqs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

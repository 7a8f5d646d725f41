"""On a gateway install (base dependencies only: no FastAPI, uvicorn or Ray), `dwc` still
works for the agent and says in one line what to install for the coordinator."""

from __future__ import annotations

import subprocess
import sys
import textwrap

BLOCK_COORDINATOR_EXTRA = textwrap.dedent(
    """
    import sys
    from importlib.abc import MetaPathFinder

    class NotInstalled(MetaPathFinder):
        BLOCKED = {"fastapi", "uvicorn", "ray", "sqlalchemy", "starlette"}

        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in self.BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NotInstalled())
    from agent.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCK_COORDINATOR_EXTRA, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_agent_help_works_without_the_coordinator_extra() -> None:
    proc = run("agent", "run", "--help")
    assert proc.returncode == 0, proc.stderr
    assert "--profile" in proc.stdout


def test_coordinator_serve_says_what_to_install() -> None:
    proc = run("coordinator", "serve")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "pip install 'dwc[coordinator]'" in lines[0]

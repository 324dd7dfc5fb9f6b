"""Every module imports on its own in a fresh interpreter: no hidden import-order dependency or cycle.

Starting a whole interpreter per module would spend a minute re-importing the same third-party
libraries, so one child process imports those once and forks a grandchild per Vigil module:
each grandchild starts with no Vigil module loaded, which is what the test is about.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGES = ("schema", "resolvers", "models", "probes", "events", "simulators", "web")
THIRD_PARTY = ("aiohttp", "strawberry", "starlette", "tortoise", "pydantic_settings", "graphql", "uvicorn")

FORK_EACH = """
import importlib, json, os, sys, traceback
for name in {third_party!r}:
    importlib.import_module(name)
failures = []
for name in json.loads(sys.argv[1]):
    pid = os.fork()
    if pid == 0:
        try:
            importlib.import_module(name)
        except BaseException:
            sys.stderr.write(name + ": " + traceback.format_exc().strip().splitlines()[-1] + "\\n")
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        failures.append(name)
print(json.dumps(failures))
"""


def modules() -> list[str]:
    names = ["app", "cli", "config", "demo"]
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


@pytest.mark.skipif(sys.platform == "win32", reason="needs os.fork")
def test_every_module_imports_alone() -> None:
    code = FORK_EACH.format(third_party=THIRD_PARTY)
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(modules())], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    failures = json.loads(done.stdout.strip().splitlines()[-1])
    assert not failures, done.stderr


def test_the_import_check_catches_a_broken_module(tmp_path: pathlib.Path) -> None:
    (tmp_path / "broken_module.py").write_text("import module_that_does_not_exist\n")
    code = FORK_EACH.format(third_party=("json",))
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(["broken_module", "json"])],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == ["broken_module"]


def test_probes_import_nothing_from_the_rest_of_vigil() -> None:
    forbidden = ("schema", "resolvers", "models", "events", "app", "cli", "config", "web", "demo")
    for path in (ROOT / "probes").rglob("*.py"):
        for line in path.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith(("import ", "from ")):
                module = stripped.split()[1]
                assert module.split(".")[0] not in forbidden, f"{path.name}: {stripped}"

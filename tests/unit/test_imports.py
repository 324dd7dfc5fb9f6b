"""Every module imports on its own in a fresh interpreter: no hidden import-order dependency or cycle."""

from __future__ import annotations

import concurrent.futures
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGES = ("schema", "resolvers", "models", "probes", "events", "simulators", "web")


def modules() -> list[str]:
    names = ["app", "cli", "config"]
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _import_alone(name: str) -> str | None:
    done = subprocess.run(
        [sys.executable, "-c", f"import {name}"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    return None if done.returncode == 0 else f"{name}: {done.stderr.strip().splitlines()[-1]}"


def test_every_module_imports_alone() -> None:
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        failures = [failure for failure in pool.map(_import_alone, modules()) if failure]
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("package", ["probes"])
def test_probes_import_nothing_from_the_rest_of_vigil(package: str) -> None:
    forbidden = ("schema", "resolvers", "models", "events", "app", "cli", "config")
    for path in (ROOT / package).rglob("*.py"):
        for line in path.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith(("import ", "from ")):
                module = stripped.split()[1]
                assert module.split(".")[0] not in forbidden, f"{path.name}: {stripped}"

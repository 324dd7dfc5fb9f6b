"""Set-up and entry points for a fresh clone, with nothing but Python 3.11 installed.

    python3 tasks.py demo    # create .venv, install Vigil, run it with simulated services
    python3 tasks.py serve   # the same, without the simulated services
    python3 tasks.py test    # create .venv, install Vigil with its test extras and GA4GH peers, run every test

The virtualenv is made once and re-used; installing again is cheap when nothing changed.
"""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import venv

ROOT = pathlib.Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def ensure_venv(extras: str) -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - this file runs under whatever python3 the user has
        sys.exit(f"Vigil needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    marker = VENV / f".installed-{extras or 'base'}"
    stamp = str((ROOT / "pyproject.toml").stat().st_mtime_ns)
    if marker.exists() and marker.read_text() == stamp:
        return
    target = f".[{extras}]" if extras else "."
    print(f"installing Vigil ({target}) into {VENV}", flush=True)
    subprocess.run(
        [str(BIN / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-e", target],
        cwd=ROOT,
        check=True,
    )
    marker.write_text(stamp)


def run(args: list[str]) -> int:
    """Runs a child in the foreground. Ctrl-C reaches it too (same process group) and it shuts
    down cleanly, so this process only waits for it instead of dying with a traceback."""
    child = subprocess.Popen(args, cwd=ROOT)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return child.wait()
    finally:
        signal.signal(signal.SIGINT, previous)


def main(argv: list[str]) -> int:
    command, rest = (argv[0], argv[1:]) if argv else ("help", [])
    if command in ("demo", "serve"):
        ensure_venv("")
        return run([str(BIN / "vigil"), command, *rest])
    if command == "test":
        ensure_venv("test,ga4gh")
        code = run([str(BIN / "python"), "-m", "pytest", *rest])
        if code == 0 and not rest:
            code = run([str(BIN / "ruff"), "check", "."])
        return code
    print(__doc__)
    return 0 if command == "help" else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

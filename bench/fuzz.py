"""Runs the fuzz targets long enough to matter: the same tests CI runs with a few examples each.

Run it as `python -m bench.fuzz [--minutes M | --examples N] [--target NAME ...] [--chunk N]
[--list]`.

A target is a test decorated with `tests.fuzzing.fuzz_settings` (GraphQL input validation in
tests/unit/schema, the protocol parsers in tests/unit/probes/test_parsers.py); a parametrised
test is one target whose cases share its time. The bench runs pytest in this process on those
tests, with `VIGIL_FUZZ_EXAMPLES` set, so fixtures, backends (SQLite and PostgreSQL for the schema
targets; a skip is printed when PostgreSQL is unreachable) and assertions are exactly CI's.

- `--examples N`: one Hypothesis run of N examples per test case.
- `--minutes M` (default 1): runs of `--chunk` examples each, repeated with fresh random data until
  the target's M minutes are spent; a run that has started finishes, so a target may overrun by
  up to one run.

A failing run is shrunk by Hypothesis as usual; the bench records its minimal falsifying example
and moves on to the next target. Per target it prints the examples run (each one that reached
its property, counted through `tests.fuzzing.outcome`), the time, examples per second, the
failures, and what the examples ended as: error codes for the schema targets, value or
`MalformedResponse` for the parsers. Exit status 1 when any target failed.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import os
import sys
import tempfile
import time
from collections.abc import Sequence

import pytest

TEST_PATHS = ("tests/unit/schema", "tests/unit/probes/test_parsers.py")


@dataclasses.dataclass
class TargetRun:
    """What one target did: the sum over its test cases and runs."""

    name: str
    cases: int = 0
    runs: int = 0
    seconds: float = 0.0
    outcomes: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    failures: list[str] = dataclasses.field(default_factory=list)

    @property
    def examples(self) -> int:
        return sum(self.outcomes.values())


def target_name(item: pytest.Item) -> str:
    """`module::test` without the parameters, so the cases of one test are one target."""
    path, _, function = item.nodeid.partition("::")
    return f"{path.rsplit('/', 1)[-1].removesuffix('.py')}::{function.split('[', 1)[0]}"


class FuzzBench:
    """A pytest plugin: keeps the fuzz targets, then runs each case for its share of the budget.

    tests.fuzzing (and so Hypothesis) is imported only once pytest runs: imported before, pytest
    could not rewrite the asserts of Hypothesis's plugin, and says so with a warning (an error here).
    """

    def __init__(self, selected: Sequence[str], seconds: float | None, examples: int, list_only: bool) -> None:
        self.selected, self.seconds, self.examples, self.list_only = selected, seconds, examples, list_only
        self.targets: dict[str, TargetRun] = {}
        self._share: dict[str, float] = {}
        self._inner = False

    def pytest_configure(self, config: pytest.Config) -> None:
        from tests.fuzzing import EXAMPLES_ENV

        os.environ[EXAMPLES_ENV] = str(self.examples)  # read when the test modules are collected

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        from tests.fuzzing import TARGET_MARK

        def wanted(item: pytest.Item) -> bool:
            return (
                isinstance(item, pytest.Function)
                and getattr(item.function, TARGET_MARK, False)
                and (not self.selected or any(s in f"{item.nodeid} {target_name(item)}" for s in self.selected))
            )

        kept = [i for i in items if wanted(i)]
        deselected = [i for i in items if i not in kept]
        items[:] = [] if self.list_only else kept
        config.hook.pytest_deselected(items=deselected if not self.list_only else deselected + kept)
        cases = collections.Counter(target_name(i) for i in kept)
        for name, count in cases.items():
            self.targets[name] = TargetRun(name, cases=count)
            if self.seconds is not None:
                self._share[name] = self.seconds / count

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> bool | None:
        from tests.fuzzing import take_outcomes

        if self._inner:
            return None  # the default implementation calls the test once
        target = self.targets[target_name(pyfuncitem)]
        deadline = time.monotonic() + self._share.get(target.name, 0.0)
        take_outcomes()
        started = time.monotonic()
        self._inner = True
        try:
            while True:
                target.runs += 1
                try:
                    pyfuncitem.ihook.pytest_pyfunc_call(pyfuncitem=pyfuncitem)
                except (pytest.skip.Exception, KeyboardInterrupt):
                    raise
                except BaseException as exc:  # a falsified property: recorded, then the next target
                    target.failures.append(f"{pyfuncitem.nodeid}\n{describe(exc)}")
                    break
                if self.seconds is None or time.monotonic() >= deadline:
                    break
        finally:
            self._inner = False
            target.seconds += time.monotonic() - started
            target.outcomes.update(take_outcomes())
        report_case(pyfuncitem, target)
        return True


def describe(exc: BaseException) -> str:
    """The error and Hypothesis's notes on it (the minimal falsifying example), for each bug found."""
    errors = list(exc.exceptions) if isinstance(exc, BaseExceptionGroup) else [exc]
    parts = []
    for error in errors:
        notes = "\n".join(getattr(error, "__notes__", []))
        parts.append(f"{type(error).__name__}: {str(error)[:2000]}\n{notes}")
    return "\n".join(parts)


def report_case(item: pytest.Function, target: TargetRun) -> None:
    """A progress line on the terminal (pytest captures what the test itself prints)."""
    rate = target.examples / target.seconds if target.seconds else 0.0
    terminal = item.config.pluginmanager.get_plugin("terminalreporter")
    if terminal is not None:
        terminal.write_line(f"\n{item.nodeid}: {target.examples} examples, {target.seconds:.0f} s, {rate:.0f}/s")


def summary(targets: Sequence[TargetRun]) -> str:
    lines = ["", "target | cases | runs | examples | time | examples/s | failures | outcomes"]
    for t in targets:
        rate = t.examples / t.seconds if t.seconds else 0.0
        outcomes = ", ".join(f"{label} {count}" for label, count in t.outcomes.most_common())
        lines.append(
            f"{t.name} | {t.cases} | {t.runs} | {t.examples} | {t.seconds:.0f} s | {rate:.0f} | "
            f"{len(t.failures)} | {outcomes}"
        )
    for t in targets:
        for failure in t.failures:
            lines += ["", f"FAILED {t.name}", failure]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.fuzz", description=__doc__.splitlines()[0])
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--minutes", type=float, help="time per target (default 1)")
    budget.add_argument("--examples", type=int, help="examples per test case, in one run")
    parser.add_argument(
        "--target", action="append", default=[], help="substring of the test id or target name; repeatable"
    )
    parser.add_argument("--chunk", type=int, default=500, help="examples per run with --minutes (default 500)")
    parser.add_argument("--list", action="store_true", help="list the targets and exit")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # A falsifying example may hold lone surrogates; print them escaped rather than fail on them.
    sys.stdout.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
    seconds = None if args.examples is not None else 60 * (args.minutes or 1.0)
    bench = FuzzBench(args.target, seconds, args.examples or args.chunk, args.list)
    with tempfile.TemporaryDirectory(prefix="vigil-fuzz-") as home:
        # Hypothesis keeps caches (constants, Unicode tables) under .hypothesis/ even without an
        # example database; the bench leaves none in the working tree. Read when it is imported.
        os.environ["HYPOTHESIS_STORAGE_DIRECTORY"] = home
        status = pytest.main(["-q", "-p", "no:cacheprovider", "--no-header", "-rs", *TEST_PATHS], plugins=[bench])
    targets = list(bench.targets.values())
    if args.list:
        print("\n".join(f"{t.name} ({t.cases} cases)" for t in targets))
        return 0
    print(summary(targets))
    failed = any(t.failures for t in targets) or status not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

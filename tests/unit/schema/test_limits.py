"""`expanded_size` agrees with naive inlining, and stays linear where inlining is exponential."""

from __future__ import annotations

import time

from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode, SelectionSetNode, parse
from hypothesis import given
from hypothesis import strategies as st

from schema.limits import expanded_size

# A fragment DAG: fragment n has some own fields and spreads fragments below n (repeats allowed).
fragment_dags = st.lists(
    st.tuples(st.integers(0, 3), st.lists(st.integers(0, 100), max_size=3), st.booleans()),
    min_size=1,
    max_size=8,
)


def document(dag: list[tuple[int, list[int], bool]]) -> str:
    fragments = []
    for n, (fields, spreads, nested) in enumerate(dag):
        own = " ".join(f"f{i}" for i in range(fields))
        inner = " ".join(f"...F{spread % n}" for spread in spreads) if n else ""
        body = f"{own} ... on T {{ {inner} }}" if nested and inner else f"{own} {inner}"
        fragments.append(f"fragment F{n} on T {{ {body or 'x'} }}")
    return f"{{ root {{ ...F{len(dag) - 1} x }} }} " + " ".join(fragments)


def inlined(text: str) -> int:
    parsed = parse(text)
    fragments = {d.name.value: d for d in parsed.definitions if d.kind == "fragment_definition"}

    def count(selection_set: SelectionSetNode) -> int:
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += 1 + (count(selection.selection_set) if selection.selection_set else 0)
            elif isinstance(selection, InlineFragmentNode):
                total += count(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                total += count(fragments[selection.name.value].selection_set)
        return total

    return sum(count(d.selection_set) for d in parsed.definitions if d.kind == "operation_definition")


@given(fragment_dags)
def test_the_expanded_size_is_what_inlining_every_fragment_gives(dag: list[tuple[int, list[int], bool]]) -> None:
    text = document(dag)
    assert expanded_size(parse(text), limit=10**9) == inlined(text)


def test_a_fragment_bomb_is_measured_in_linear_time_and_capped_at_the_limit() -> None:
    fragments = ["fragment F0 on T { x }"] + [
        f"fragment F{n} on T {{ ...F{n - 1} ...F{n - 1} }}" for n in range(1, 300)
    ]
    bomb = parse("{ ...F299 } " + " ".join(fragments))  # 2^299 fields once inlined
    started = time.perf_counter()
    assert expanded_size(bomb, limit=10_000) == 10_001
    assert time.perf_counter() - started < 0.5


def test_unknown_fragments_count_as_nothing_and_a_cycle_still_ends() -> None:
    assert expanded_size(parse("{ a ...Missing }"), limit=100) == 1
    cycle = parse("{ a { ...A } } fragment A on T { b ...B } fragment B on T { c ...A }")
    assert expanded_size(cycle, limit=100) <= 4  # MaxExpandedFields refuses cycles before it asks

"""The committed schema.graphql is what the code builds: clients read the file, not the code."""

from __future__ import annotations

import dataclasses
import pathlib

from graphql import Node, Visitor, parse, print_ast, visit

from config import Settings
from schema.build import build_schema

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_committed_schema_matches_the_code() -> None:
    exported = build_schema(Settings(_env_file=None)).as_str() + "\n"
    committed = (ROOT / "schema.graphql").read_text()
    assert committed == exported, "schema.graphql is stale: run `vigil export-schema > schema.graphql`"


class _DropDescriptions(Visitor):
    def enter(self, node: Node, *_: object) -> Node | None:
        if getattr(node, "description", None) is None:
            return None
        return dataclasses.replace(node, description=None)  # type: ignore[type-var]


def _signatures(sdl: str) -> str:
    """The SDL without descriptions: an argument's description would put each argument on its own line."""
    return print_ast(visit(parse(sdl), _DropDescriptions()))


def test_contract_root_fields_keep_their_names() -> None:
    schema = build_schema(Settings(_env_file=None))
    sdl = _signatures(schema.as_str())
    for field in (
        "services(filter: ServiceFilter = null, first: Int! = 50, after: String = null): ServiceConnection!",
        "service(id: ID!): Service",
        "registerService(input: RegisterServiceInput!): ServicePayload!",
        "statusChanged(serviceIds: [ID!] = null): StatusChange!",
    ):
        assert field in sdl, field

"""Every type, field, input field and enum value says what it is: docs/reference.md is built from these."""

from __future__ import annotations

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    is_introspection_type,
    is_specified_scalar_type,
)

from config import Settings
from schema.build import build_schema


def undescribed(schema: GraphQLSchema) -> list[str]:
    """Paths without a description: `Type`, `Type.field` or `Enum.VALUE`. Arguments are not required."""
    missing: list[str] = []
    for name, named in sorted(schema.type_map.items()):
        if is_introspection_type(named) or is_specified_scalar_type(named):
            continue
        if not (named.description or "").strip():
            missing.append(name)
        missing.extend(f"{name}.{member}" for member, text in _members(named) if not (text or "").strip())
    return missing


def _members(named: GraphQLNamedType) -> list[tuple[str, str | None]]:
    if isinstance(named, (GraphQLObjectType, GraphQLInterfaceType, GraphQLInputObjectType)):
        return [(field_name, field.description) for field_name, field in named.fields.items()]
    if isinstance(named, GraphQLEnumType):
        return [(value_name, value.description) for value_name, value in named.values.items()]
    return []


def test_every_type_field_input_field_and_enum_value_has_a_description() -> None:
    missing = undescribed(build_schema(Settings(_env_file=None))._schema)
    assert not missing, "add description= to: " + ", ".join(missing)


def test_the_check_reports_what_lacks_a_description() -> None:
    from graphql import build_schema as parse_sdl

    schema = parse_sdl(
        """
        "Described" type Query { "ok" a: Int, b: Kind, c(arg: Int): Int }
        enum Kind { "fine" ONE TWO }
        input Filter { x: Int }
        """
    )
    assert undescribed(schema) == ["Filter", "Filter.x", "Kind", "Kind.TWO", "Query.b", "Query.c"]

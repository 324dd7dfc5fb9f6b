"""docs/reference.md, rendered from the schema's descriptions (`vigil export-schema --markdown`).

The reference says only what the schema says, so it is as current as the code: a test fails when
the committed file drifts. Root fields come first, in schema order; then every named type, by kind
and by name. Introspection types and the built-in scalars are left out.
"""

from __future__ import annotations

from graphql import (
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLType,
    GraphQLUnionType,
    get_named_type,
    is_introspection_type,
    is_list_type,
    is_non_null_type,
    is_specified_scalar_type,
    print_ast,
)
from graphql.utilities import get_default_value_ast

HEADER = """# API reference

Generated from the schema's descriptions by `vigil export-schema --markdown > docs/reference.md`:
edit the `description=` in `schema/`, not this file (a test fails when the two differ). The SDL is
[`schema.graphql`](../schema.graphql); roles, errors and examples are in [api.md](api.md).
"""


def render_reference(schema: GraphQLSchema) -> str:
    """The whole reference as Markdown, ending in one newline."""
    roots = [t for t in (schema.query_type, schema.mutation_type, schema.subscription_type) if t is not None]
    named = [
        t
        for name, t in sorted(schema.type_map.items())
        if t not in roots and not is_introspection_type(t) and not is_specified_scalar_type(t)
    ]
    sections = [HEADER, _contents(roots, named)]
    sections += [_root(t) for t in roots]
    for title, kind in (
        ("Object types", GraphQLObjectType),
        ("Interfaces", GraphQLInterfaceType),
        ("Unions", GraphQLUnionType),
        ("Input types", GraphQLInputObjectType),
        ("Enums", GraphQLEnumType),
        ("Scalars", GraphQLScalarType),
    ):
        members = [t for t in named if isinstance(t, kind)]
        if members:
            sections.append(f"## {title}\n\n" + "\n".join(_named(t) for t in members))
    return "\n".join(s.rstrip("\n") + "\n" for s in sections)


def _contents(roots: list[GraphQLObjectType], named: list[GraphQLNamedType]) -> str:
    lines = ["## Contents", ""]
    lines += [f"- [{t.name}](#{_anchor(t.name)}): " + ", ".join(f"`{f}`" for f in t.fields) for t in roots]
    lines += ["- Types: " + ", ".join(_link(t) for t in named)]
    return "\n".join(lines) + "\n"


def _root(root: GraphQLObjectType) -> str:
    parts = [f"## {root.name}\n", _text(root.description) + "\n"]
    for name, field in root.fields.items():
        parts.append(f"### `{root.name}.{name}`\n")
        parts.append(f"`{_signature(name, field)}`\n")
        parts.append(_text(field.description) + _deprecation(field.deprecation_reason) + "\n")
        parts.append(f"Returns {_type(field.type)}.\n")
        if field.args:
            parts.append(
                _table(("Argument", "Type", "Default", "Description"), [_arg(n, a) for n, a in field.args.items()])
            )
    return "\n".join(parts)


def _named(named: GraphQLNamedType) -> str:
    parts = [f"### {named.name}\n", _text(named.description) + "\n"]
    if isinstance(named, (GraphQLObjectType, GraphQLInterfaceType)):
        if named.interfaces:
            parts.append("Implements " + ", ".join(_link(i) for i in named.interfaces) + ".\n")
        rows = [(f"`{n}`", _type(f.type), _field_text(f)) for n, f in named.fields.items()]
        parts.append(_table(("Field", "Type", "Description"), rows))
    elif isinstance(named, GraphQLUnionType):
        parts.append("One of " + ", ".join(_link(t) for t in named.types) + ".\n")
    elif isinstance(named, GraphQLInputObjectType):
        parts.append(_table(("Field", "Type", "Default", "Description"), [_arg(n, f) for n, f in named.fields.items()]))
    elif isinstance(named, GraphQLEnumType):
        rows = [(f"`{n}`", _text(v.description) + _deprecation(v.deprecation_reason)) for n, v in named.values.items()]
        parts.append(_table(("Value", "Description"), rows))
    return "\n".join(parts)


def _field_text(field: GraphQLField) -> str:
    text = _text(field.description) + _deprecation(field.deprecation_reason)
    for name, arg in field.args.items():
        default = _default(arg)
        shown = f"`{name}: {arg.type}" + (f" = {default}" if default else "") + "`"
        text += f"<br>Argument {shown}: {_text(arg.description)}"
    return text


def _arg(name: str, arg: GraphQLArgument | GraphQLInputField) -> tuple[str, ...]:
    default = _default(arg)
    return f"`{name}`", _type(arg.type), f"`{default}`" if default else "", _text(arg.description)


def _signature(name: str, field: GraphQLField) -> str:
    args = [f"{n}: {a.type}" + (f" = {d}" if (d := _default(a)) else "") for n, a in field.args.items()]
    return f"{name}({', '.join(args)}): {field.type}" if args else f"{name}: {field.type}"


def _default(arg: GraphQLArgument | GraphQLInputField) -> str:
    """As the SDL printer shows it (graphql-core 3.3 keeps SDL defaults as literals, strawberry's as values)."""
    node = get_default_value_ast(arg)
    return "" if node is None else print_ast(node)


def _type(of: GraphQLType) -> str:
    """`[Service!]!` with the named type linked."""
    if is_non_null_type(of):
        return _type(of.of_type) + "!"  # type: ignore[attr-defined]
    if is_list_type(of):
        return "\\[" + _type(of.of_type) + "\\]"  # type: ignore[attr-defined]
    return _link(get_named_type(of))


def _link(named: GraphQLNamedType) -> str:
    if is_specified_scalar_type(named):
        return named.name
    return f"[{named.name}](#{_anchor(named.name)})"


def _anchor(title: str) -> str:
    """GitHub's heading anchor for a plain identifier heading."""
    return title.lower()


def _text(description: str | None) -> str:
    return " ".join((description or "").split()).replace("|", "\\|")


def _deprecation(reason: str | None) -> str:
    return "" if reason is None else f" **Deprecated:** {_text(reason)}"


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"

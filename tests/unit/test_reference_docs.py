"""The committed docs/reference.md is what the schema's descriptions render to, so it cannot go stale."""

from __future__ import annotations

import pathlib

from click.testing import CliRunner
from graphql import build_schema as parse_sdl

from cli import main
from config import Settings
from schema.build import build_schema
from schema.reference import render_reference

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_committed_reference_matches_the_schema() -> None:
    rendered = render_reference(build_schema(Settings(_env_file=None))._schema)
    committed = (ROOT / "docs" / "reference.md").read_text()
    assert committed == rendered, "docs/reference.md is stale: run `vigil export-schema --markdown > docs/reference.md`"


def test_export_schema_markdown_prints_the_committed_reference() -> None:
    result = CliRunner().invoke(main, ["export-schema", "--markdown"])
    assert result.exit_code == 0, result.output
    assert result.output == (ROOT / "docs" / "reference.md").read_text()


def test_reference_lists_root_fields_with_arguments_then_types_by_kind() -> None:
    schema = parse_sdl(
        """
        "Reads" type Query { "One thing" thing("Its id" id: ID!, "How many" first: Int = 5): Thing }
        "A thing" type Thing { "Its kind" kind: Kind! }
        "A kind" enum Kind { "The first" ONE }
        """
    )
    text = render_reference(schema)
    assert text.index("## Query") < text.index("## Object types") < text.index("## Enums")
    assert "`thing(id: ID!, first: Int = 5): Thing`" in text
    assert "| `first` | Int | `5` | How many |" in text
    assert "| `kind` | [Kind](#kind)! | Its kind |" in text
    assert "| `ONE` | The first |" in text

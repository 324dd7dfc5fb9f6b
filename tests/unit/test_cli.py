"""The `vigil` command on a SQLite file: settings errors, migrations, tokens, export and import."""

from __future__ import annotations

import json
import pathlib

import pytest
from click.testing import CliRunner

from cli import main


@pytest.fixture
def env(tmp_path: pathlib.Path) -> dict[str, str]:
    return {"VIGIL_DATABASE_URL": f"sqlite://{tmp_path / 'cli.db'}", "VIGIL_SECRET_KEY_FILE": str(tmp_path / "k")}


def test_a_bad_setting_stops_with_a_message_naming_the_variable(env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["migrate"], env={**env, "VIGIL_PORT": "not-a-port"})
    assert result.exit_code != 0
    assert "VIGIL_PORT" in result.output
    result = CliRunner().invoke(main, ["migrate"], env={**env, "VIGIL_DATABASE_URL": "mysql://x"})
    assert "VIGIL_DATABASE_URL" in result.output


def test_serve_help_lists_the_variables() -> None:
    result = CliRunner().invoke(main, ["serve", "--help"])
    assert result.exit_code == 0
    assert "VIGIL_DATABASE_URL" in result.output and "VIGIL_ANONYMOUS_READ" in result.output


def test_migrate_down_and_up(env: dict[str, str]) -> None:
    runner = CliRunner()
    assert "up to date" in runner.invoke(main, ["migrate"], env=env).output
    down = runner.invoke(main, ["migrate", "--to", "zero"], env=env)
    assert "pending: models.0001_initial" in down.output
    assert "up to date" in runner.invoke(main, ["migrate"], env=env).output


def test_token_export_and_import_round_trip(env: dict[str, str], tmp_path: pathlib.Path) -> None:
    runner = CliRunner()
    made = runner.invoke(main, ["token", "create", "--name", "ops", "--role", "ADMIN"], env=env)
    assert made.exit_code == 0 and made.output.startswith("vgl_")
    document = {
        "format": "vigil.services/v1",
        "services": [
            {"name": "MIS", "type": "MICHIGAN", "apiType": "CLOUDGENE", "baseUrl": "https://mis.example"},
            {
                "name": "WES",
                "type": "GA4GH",
                "apiType": "GA4GH_WES",
                "baseUrl": "https://wes.example/ga4gh/wes/v1",
                "dependsOn": [{"name": "MIS", "required": True}],
            },
        ],
    }
    source = tmp_path / "in.json"
    source.write_text(json.dumps(document))
    first = json.loads(runner.invoke(main, ["import", str(source)], env=env).output)
    assert sorted(first["created"]) == ["MIS", "WES"] and first["dependenciesSet"] == 1
    again = json.loads(runner.invoke(main, ["import", str(source)], env=env).output)
    assert again["created"] == [] and sorted(again["unchanged"]) == ["MIS", "WES"]
    exported = json.loads(runner.invoke(main, ["export"], env=env).output)
    assert [s["name"] for s in exported["services"]] == ["MIS", "WES"]
    assert exported["services"][1]["dependsOn"] == [{"name": "MIS", "required": True}]
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "vigil.services/v1", "services": [{"name": "X"}]}')
    refused = runner.invoke(main, ["import", str(bad)], env=env)
    assert refused.exit_code != 0 and "BAD_USER_INPUT" in refused.output

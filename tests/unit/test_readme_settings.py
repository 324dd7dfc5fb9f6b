"""The README's settings table lists every setting `config.Settings` reads, and nothing else."""

from __future__ import annotations

import pathlib
import re

from config import Settings

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_has_a_row_in_the_readme_table_and_every_row_is_a_setting() -> None:
    rows = set(re.findall(r"^\| `(VIGIL_[A-Z0-9_]+)` \|", README.read_text(), flags=re.MULTILINE))
    settings = {f"VIGIL_{name.upper()}" for name in Settings.model_fields}
    assert sorted(settings - rows) == [], "settings missing from the README table"
    assert sorted(rows - settings) == [], "README rows naming no setting"

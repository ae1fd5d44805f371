"""docs/tables.md is the page generated from the schema code, and covers every table and column."""

from __future__ import annotations

from collections_engine.schema import TABLES
from collections_engine.tables_doc import tables_markdown
from tests.pipeline_helpers import ROOT


def test_committed_page_is_the_generated_one() -> None:
    committed = (ROOT / "docs" / "tables.md").read_text(encoding="utf-8")
    assert committed == tables_markdown(), (
        "docs/tables.md is stale: run `python -m collections_engine.tables_doc docs/tables.md`")


def test_every_table_and_column_is_documented() -> None:
    page = tables_markdown()
    for name, spec in TABLES.items():
        assert f"## `{name}`" in page and spec.without and spec.doc
        for col in {**spec.columns, **spec.optional_columns}:
            assert f"| `{col}` |" in page


def test_readme_links_the_page() -> None:
    assert "(docs/tables.md)" in (ROOT / "README.md").read_text()

"""The Athena named queries of the stack are rendered from etl/sql/athena and kept in sync."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from etl.analytics.named_queries import (
    NamedQuery,
    NamedQueryError,
    load_named_queries,
    parse_named_query,
)

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "render_named_queries.py"

REQUIRED = {
    "top_products_by_units",
    "top_products_by_reorder_rate",
    "department_daily_share",
    "daily_revenue_moving_average",
    "customer_segments",
    "repeat_purchase_rate",
    "basket_size_distribution",
    "weekly_cohort_retention",
}


@pytest.fixture(scope="module")
def render() -> ModuleType:
    spec = importlib.util.spec_from_file_location("render_named_queries", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_every_required_question_has_a_file() -> None:
    assert not REQUIRED - {q.name for q in load_named_queries()}


def test_template_is_in_sync_with_the_sql_files(render: ModuleType) -> None:
    template = render.TEMPLATE.read_text(encoding="utf-8")
    assert render.render_template(template, load_named_queries()) == template, (
        "run `uv run python scripts/render_named_queries.py`"
    )


def test_each_file_is_one_named_query_with_the_stack_databases(render: ModuleType) -> None:
    from tests.infrastructure.support import load_template

    resources = load_template()["Resources"]
    named = {
        r["Properties"]["Name"]: r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::Athena::NamedQuery"
    }
    queries = {q.name: q for q in load_named_queries()}
    assert set(named) == set(queries)
    for name, props in named.items():
        sql = props["QueryString"]["Fn::Sub"]
        assert "${GoldDatabase}." in sql or "${SilverDatabase}." in sql
        local = sql.replace("${GoldDatabase}.", "gold.").replace("${SilverDatabase}.", "silver.")
        assert local.strip() == queries[name].sql
        assert props["Description"] == queries[name].description
        assert props["Database"] == {"Ref": "GoldDatabase"}


def test_check_mode_reports_a_stale_template(render: ModuleType, tmp_path: Path) -> None:
    stale = tmp_path / "lakehouse.yaml"
    stale.write_text(
        render.TEMPLATE.read_text(encoding="utf-8").replace("LIMIT 20", "LIMIT 21"),
        encoding="utf-8",
    )
    assert render.main(["--check", "--template", str(stale)]) == 1
    assert render.main(["--template", str(stale)]) == 0
    assert render.main(["--check", "--template", str(stale)]) == 0


def test_a_schema_prefix_outside_a_table_name_is_refused(
    render: ModuleType, tmp_path: Path
) -> None:
    query = NamedQuery(
        name="x",
        description="x",
        sql="SELECT 'see gold.daily_sales' AS note FROM gold.daily_sales",
        path=tmp_path / "x.sql",
    )
    with pytest.raises(ValueError, match="table names"):
        render.substitute_databases(query)


@pytest.mark.parametrize(
    "text",
    [
        "SELECT 1\n",
        "-- name: other\n-- description: d\nSELECT 1\n",
        "-- name: q\nSELECT 1\n",
        "-- name: q\n-- description: d\n",
        "-- name: q\n-- oops\n-- description: d\nSELECT 1\n",
    ],
)
def test_malformed_headers_are_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "q.sql"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(NamedQueryError):
        parse_named_query(path)


def test_description_continues_on_comment_lines(tmp_path: Path) -> None:
    path = tmp_path / "q.sql"
    path.write_text("-- name: q\n-- description: one\n-- two\nSELECT 1\n", encoding="utf-8")
    query = parse_named_query(path)
    assert (query.description, query.sql) == ("one two", "SELECT 1")

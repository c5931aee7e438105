"""One registry: a gold table added there alone is run, validated, maintained, queried and
registered in the state machine, with nothing else edited."""

from __future__ import annotations

import importlib.util
import json
from decimal import Decimal
from pathlib import Path
from types import ModuleType

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from etl import maintenance, registry
from etl.analytics.engine import known_tables, run_query
from etl.cli import new_context
from etl.gold.job import GoldJob, GoldTable, Tables
from etl.pipeline import run_pipeline
from etl.quality.expectations import between
from etl.settings import Settings
from tests.conftest import REPO
from tests.helpers import write_sources


def build(tables: Tables) -> DataFrame:
    """Spend per customer, for customers who spent over 15."""
    spend = tables["orders"].groupBy("user_id").agg(F.sum("total_amount").alias("spend"))
    return spend.where("spend > 15").select("user_id", F.col("spend").cast("decimal(18,2)"))


THROWAWAY = GoldJob(
    GoldTable(
        name="big_customers",
        key=("user_id",),
        reads=("orders",),
        build=build,
        checks=(between("spend", 15, None),),
        zorder_by=("user_id",),
        description="customers who spent over 15",
    )
)


def render_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "render_state_machines", REPO / "scripts" / "render_state_machines.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_gold_table_added_to_the_registry_alone_is_picked_up_everywhere(
    spark: SparkSession, tmp_path: Path
) -> None:
    source, lakehouse = write_sources(tmp_path / "source"), tmp_path / "lakehouse"
    settings = Settings(source_dir=str(source), lakehouse_dir=str(lakehouse))
    with registry.extended(THROWAWAY):
        ctx = new_context(settings, spark)
        results = {r.job: r for r in run_pipeline(ctx)}

        # the pipeline ran it: users 1001 (10.50 + 30.25) and 1002 (20.00)
        assert results["gold.big_customers"].inserted == 2
        rows = ctx.store.read(ctx.path("gold/big_customers")).collect()
        assert sorted((r["user_id"], r["spend"]) for r in rows) == [
            (1001, Decimal("40.75")),
            (1002, Decimal("20.00")),
        ]
        # validation ran its suite
        checked = ctx.store.read_rows(ctx.path("_audit/dq_results"))
        mine = {r["description"] for r in checked if r["table_name"] == "gold.big_customers"}
        assert mine == {
            "table has rows",
            "user_id is unique",
            "user_id is not null",
            "spend within [15, None]",
        }
        # maintenance keeps it, Z-ordered
        assert ("gold/big_customers", "gold.big_customers", ("user_id",), ()) in (
            maintenance.maintained_tables()
        )
        maintenance.maintain(ctx, 168, vacuum=False)
        history = ctx.store.history(ctx.path("gold/big_customers"))
        assert history[0].operation == "OPTIMIZE"
        # the query engine knows it
        assert "gold.big_customers" in known_tables()
        counted = run_query("SELECT count(*) AS n FROM gold.big_customers", settings)
        assert counted.column("n") == [2]
        # the rendered state machine registers it in the catalog and checks it has rows
        render = render_script()
        rendered = json.loads(render.render(render.PIPELINE))
        items = rendered["States"]["RegisterTables"]["Items"]
        assert any("${GoldDatabase}.big_customers " in ddl for ddl in items)
        assert "big_customers" in rendered["States"]["CheckGold"]["Arguments"]["QueryString"]
    assert "gold.big_customers" not in known_tables()

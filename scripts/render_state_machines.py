"""Write the parts of infrastructure/statemachine/pipeline.asl.json that follow from etl.registry.

- `RegisterTables.Items`: one `CREATE EXTERNAL TABLE IF NOT EXISTS` per table of
  `etl.registry.catalog_tables()` (every silver and gold output), in the stack's silver or gold
  database, `table_type=DELTA`.
- `CheckGold`'s query: one row counting every gold table, and `GoldHasRows`, which requires a
  count for each of them and every count above zero.

So a table added to the registry is registered and (for gold) checked by the state machine on
the next render, and a test fails until it is rendered. Both ASL files are written in one
canonical JSON layout (two-space indent, UTF-8), which this script also enforces.

Usage:
    uv run python scripts/render_state_machines.py          # rewrite the generated parts
    uv run python scripts/render_state_machines.py --check  # exit 1 if a file is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from etl.registry import catalog_tables

REPO = Path(__file__).resolve().parents[1]
STATEMACHINE_DIR = REPO / "infrastructure" / "statemachine"
PIPELINE = STATEMACHINE_DIR / "pipeline.asl.json"
DEFINITIONS = (PIPELINE, STATEMACHINE_DIR / "maintenance.asl.json")
# The stack's Glue database of each registered layer (DefinitionSubstitutions of the template).
DATABASES = {"silver": "${SilverDatabase}", "gold": "${GoldDatabase}"}


def ddl_statements() -> list[str]:
    return [
        f"CREATE EXTERNAL TABLE IF NOT EXISTS {DATABASES[layer]}.{name} "
        f"LOCATION 's3://${{LakehouseBucket}}/{layer}/{name}/' "
        "TBLPROPERTIES ('table_type'='DELTA')"
        for layer, name in catalog_tables()
    ]


def gold_tables() -> list[str]:
    return [name for layer, name in catalog_tables() if layer == "gold"]


def gold_check_query() -> str:
    counts = ", ".join(
        f"(SELECT count(*) FROM {DATABASES['gold']}.{name}) AS {name}" for name in gold_tables()
    )
    return (
        "{% '/* gold check for batch ' & $replace($batch_id, /[^A-Za-z0-9_.:-]/, '_') & "
        f"' */ SELECT {counts}' %}}"
    )


def gold_has_rows_condition() -> str:
    return (
        f"{{% $count($keys($gold_counts)) = {len(gold_tables())} and "
        "$min($each($gold_counts, function($n) { $n })) > 0 %}"
    )


def render_pipeline(asl: dict[str, Any]) -> dict[str, Any]:
    states = asl["States"]
    states["RegisterTables"]["Items"] = ddl_statements()
    states["CheckGold"]["Arguments"]["QueryString"] = gold_check_query()
    [rule] = states["GoldHasRows"]["Choices"]
    rule["Condition"] = gold_has_rows_condition()
    return asl


def dump(asl: dict[str, Any]) -> str:
    return json.dumps(asl, indent=2, ensure_ascii=False) + "\n"


def render(path: Path) -> str:
    asl = json.loads(path.read_text(encoding="utf-8"))
    if path == PIPELINE:
        asl = render_pipeline(asl)
    return dump(asl)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only check, exit 1 when stale")
    args = parser.parse_args(argv)
    stale = []
    for path in DEFINITIONS:
        current = path.read_text(encoding="utf-8")
        rendered = render(path)
        if rendered == current:
            continue
        stale.append(path)
        if not args.check:
            path.write_text(rendered, encoding="utf-8")
            print(f"{path}: rewritten from etl.registry")
    if args.check and stale:
        for path in stale:
            print(
                f"{path}: differs from etl.registry; "
                "run `uv run python scripts/render_state_machines.py`",
                file=sys.stderr,
            )
        return 1
    if not stale:
        print("state machines up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

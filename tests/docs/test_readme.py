"""The README starts with the two commands, and everything it names exists."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from tests.conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def test_readme_starts_with_the_run_and_the_test_command() -> None:
    blocks = re.findall(r"```bash\n(.*?)```", README, re.DOTALL)
    assert blocks[:2] == [
        "pip install uv && uv run python -m etl.pipeline\n",
        "pip install uv && bash scripts/test.sh\n",
    ]
    assert "bash scripts/test.sh" in (REPO / ".ci" / "run").read_text()


def test_every_module_and_link_in_the_readme_exists() -> None:
    modules = set(re.findall(r"python -m (etl(?:\.\w+)+)", README))
    assert {"etl.pipeline", "etl.query", "etl.report", "etl.maintenance"} <= modules
    assert all(importlib.util.find_spec(m) is not None for m in modules), modules
    links = re.findall(r"\]\(([^)#]+)\)", README)
    assert links and all((REPO / link).exists() for link in links), links


def test_analytics_section_is_the_docs_snippet() -> None:
    doc = (REPO / "docs" / "analytics.md").read_text(encoding="utf-8")
    start = doc.index("## Analytics")
    snippet = doc[start : doc.index("\n---\n", start)].strip()
    assert snippet in README
    assert Path(REPO / "scripts" / "generate_sample_data.py").is_file()

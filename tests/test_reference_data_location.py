"""The tests over the real April 2025 files find them where ETL_REFERENCE_DATA points, and when
the files are missing their skip says where they looked and how to point them elsewhere."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REFERENCE_DATA, REPO

TEST = "tests/scripts/test_generate_sample_data.py::test_format_matches_the_real_files"


def run_test(reference: Path) -> str:
    env = {**os.environ, "ETL_REFERENCE_DATA": str(reference)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", TEST, "-q", "-rs", "-p", "no:cacheprovider"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def test_a_missing_folder_is_named_in_the_skip(tmp_path: Path) -> None:
    nowhere = tmp_path / "nowhere"
    out = run_test(nowhere)
    assert "1 skipped" in out
    assert (
        f"reference data not found at {nowhere} (from ETL_REFERENCE_DATA): set "
        "ETL_REFERENCE_DATA to the folder holding products.csv" in " ".join(out.split())
    )


@pytest.mark.skipif(not REFERENCE_DATA.is_dir(), reason="needs the reference files to copy")
def test_the_files_are_found_where_the_variable_points(tmp_path: Path) -> None:
    elsewhere = Path(shutil.copytree(REFERENCE_DATA, tmp_path / "april"))
    assert "1 passed" in run_test(elsewhere)

"""One conformance suite for both Delta backends: merge, dedup, tombstones, change data feed,
commit labels, time travel, restore, Z-order and vacuum. Every test runs on delta-rs and on
delta-spark, and a few check that what one backend writes the other reads."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from etl.settings import BACKENDS, Backend
from etl.storage import (
    Commit,
    MergeSpec,
    TableStore,
    changed_predicate,
    delta_log,
    get_table_store,
)
from tests.helpers import assert_rows_equal

SCHEMA = T.StructType(
    [
        T.StructField("id", T.LongType()),
        T.StructField("ts", T.TimestampType()),
        T.StructField("day", T.DateType()),
        T.StructField("amount", T.DecimalType(12, 2)),
        T.StructField("tags", T.ArrayType(T.StringType())),
    ]
)
LABEL = Commit("test.job", "run-1", {"kind": "data", "state": {"sources": {"bronze/x": 3}}})


def rows(spark: SparkSession, *values: tuple[object, ...]) -> DataFrame:
    return spark.createDataFrame(list(values), SCHEMA)


def r(i: int, hour: int, amount: str, day: int = 1) -> tuple[object, ...]:
    return (
        i,
        dt.datetime(2025, 4, day, hour, 0, 0, 123456),
        dt.date(2025, 4, day),
        Decimal(amount),
        ["x"],
    )


@pytest.fixture
def store(backend: Backend, spark: SparkSession) -> TableStore:
    return get_table_store(spark, backend)


def other(backend: Backend, spark: SparkSession) -> TableStore:
    return get_table_store(spark, next(b for b in BACKENDS if b != backend))


def test_a_table_exists_only_at_a_root_whose_log_holds_a_commit(
    store: TableStore, spark: SparkSession, tmp_path: Path
) -> None:
    """No folder, Parquet files without a log, a log folder without a commit (a first write
    killed before it committed) and a folder inside a table are not tables; a written one is."""
    path = tmp_path / "t"
    assert not store.exists(str(path))
    rows(spark, r(1, 10, "1.00")).write.parquet(str(path))
    assert not store.exists(str(path))
    (path / "_delta_log").mkdir()
    assert not store.exists(str(path))
    table = str(tmp_path / "table")
    store.merge(
        rows(spark, r(1, 10, "1.00", day=2)),
        table,
        MergeSpec(keys=("id",), partition_by=("day",)),
        LABEL,
    )
    assert store.exists(table)
    assert not store.exists(f"{table}/day=2025-04-02")


def test_merge_inserts_then_updates_only_newer_rows(
    store: TableStore, spark: SparkSession, tmp_path: Path
) -> None:
    path = str(tmp_path / "t")
    spec = MergeSpec(keys=("id",), update_when="s.ts > t.ts", partition_by=("day",))
    first = store.merge(rows(spark, r(1, 10, "1.00"), r(2, 10, "2.00")), path, spec, LABEL)
    second = store.merge(
        rows(spark, r(1, 12, "1.50"), r(2, 8, "9.99"), r(3, 9, "3.00")), path, spec, LABEL
    )

    assert (first.inserted, first.updated, first.committed) == (2, 0, True)
    assert (second.inserted, second.updated, second.source_rows) == (1, 1, 3)
    expected = rows(spark, r(1, 12, "1.50"), r(2, 10, "2.00"), r(3, 9, "3.00"))
    assert_rows_equal(store.read(path), expected)


def test_a_merge_that_changes_nothing_makes_no_commit(
    store: TableStore, spark: SparkSession, tmp_path: Path
) -> None:
    path = str(tmp_path / "t")
    spec = MergeSpec(keys=("id",), update_when="false")
    batch = rows(spark, r(1, 10, "1.00"), r(2, 10, "2.00"))
    store.merge(batch, path, spec, LABEL)
    version = store.version(path)
    again = store.merge(batch, path, spec, LABEL)
    assert (again.inserted, again.updated, again.committed) == (0, 0, False)
    assert store.version(path) == version
    assert_rows_equal(store.read(path), batch)


def test_change_detecting_merge_deletes_vanished_keys(
    store: TableStore, spark: SparkSession, tmp_path: Path
) -> None:
    path = str(tmp_path / "t")
    spec = MergeSpec(
        keys=("id",),
        update_when=changed_predicate(["ts", "day", "amount", "tags"]),
        delete_unmatched_when="true",
    )
    store.merge(rows(spark, r(1, 10, "1.00"), r(2, 10, "2.00")), path, spec, LABEL)
    result = store.merge(rows(spark, r(1, 10, "1.00"), r(3, 10, "3.00")), path, spec, LABEL)
    assert (result.inserted, result.updated, result.deleted) == (1, 0, 1)
    assert_rows_equal(store.read(path), rows(spark, r(1, 10, "1.00"), r(3, 10, "3.00")))


def test_tombstones_delete_their_rows_in_the_same_commit(
    store: TableStore, spark: SparkSession, tmp_path: Path
) -> None:
    path = str(tmp_path / "t")
    spec = MergeSpec(keys=("id",), update_when=changed_predicate(["amount"]), op_column="_op")
    batch = rows(spark, r(1, 10, "1.00"), r(2, 10, "2.00")).withColumn("_op", F.lit("upsert"))
    first = store.merge(batch.union(batch.limit(0)), path, spec, LABEL)
    version = store.version(path)
    upserts = rows(spark, r(1, 10, "1.50"), r(3, 10, "3.00")).withColumn("_op", F.lit("upsert"))
    deletes = rows(spark, r(2, 0, "0"), r(9, 0, "0")).withColumn("_op", F.lit("delete"))
    result = store.merge(upserts.unionByName(deletes), path, spec, LABEL)

    assert first.inserted == 2
    assert (result.inserted, result.updated, result.deleted) == (1, 1, 1)
    assert store.version(path) == version + 1
    expected = rows(spark, r(1, 10, "1.50"), r(3, 10, "3.00"))
    assert_rows_equal(store.read(path), expected)


def test_partition_filtered_merge_rewrites_only_those_partitions(
    store: TableStore, spark: SparkSession, tmp_path: Path
) -> None:
    from deltalake import DeltaTable

    path = str(tmp_path / "t")
    spec = MergeSpec(keys=("id",), partition_by=("day",))
    store.merge(rows(spark, r(1, 10, "1.00", day=1), r(2, 10, "2.00", day=2)), path, spec, LABEL)
    before = set(DeltaTable(path).file_uris())
    pruned = MergeSpec(keys=("id",), target_filter="t.day IN ('2025-04-02')", partition_by=("day",))
    batch = rows(spark, r(2, 11, "2.50", day=2), r(3, 9, "3.00", day=2))
    result = store.merge(batch, path, pruned, LABEL)

    assert (result.inserted, result.updated) == (1, 1)
    after = set(DeltaTable(path).file_uris())
    day1 = {f for f in before if "day=2025-04-01" in f}
    assert day1 and day1 <= after, "the day outside the filter was rewritten"
    expected = rows(spark, r(1, 10, "1.00", day=1), r(2, 11, "2.50", day=2), r(3, 9, "3.00", day=2))
    assert_rows_equal(store.read(path), expected)


def test_change_data_feed_gives_every_image_of_a_version_range(
    store: TableStore, spark: SparkSession, tmp_path: Path, backend: Backend
) -> None:
    path = str(tmp_path / "t")
    spec = MergeSpec(keys=("id",), update_when="s.ts > t.ts", partition_by=("day",))
    v0 = store.merge(rows(spark, r(1, 10, "1.00"), r(2, 10, "2.00")), path, spec, LABEL).version
    v1 = store.merge(rows(spark, r(2, 12, "2.50"), r(3, 9, "3.00")), path, spec, LABEL).version

    for reader in (store, other(backend, spark)):
        changes = reader.read_changes(path, v1, v1).select("id", "amount", "_change_type")
        expected = spark.createDataFrame(
            [
                (2, Decimal("2.00"), "update_preimage"),
                (2, Decimal("2.50"), "update_postimage"),
                (3, Decimal("3.00"), "insert"),
            ],
            changes.schema,
        )
        assert_rows_equal(changes, expected, ignore_nullable=True)
        first = reader.read_changes(path, v0, v0).select("id", "_commit_version")
        assert sorted(tuple(x) for x in first.collect()) == [(1, v0), (2, v0)]


def test_commit_labels_are_read_back_by_both_backends(
    store: TableStore, spark: SparkSession, tmp_path: Path, backend: Backend
) -> None:
    path = str(tmp_path / "t")
    store.merge(rows(spark, r(1, 10, "1.00")), path, MergeSpec(keys=("id",)), LABEL)
    mark = Commit("test.job", "run-2", {"kind": "mark", "state": {"sources": {"bronze/x": 5}}})
    version = store.mark(path, mark)

    assert_df_equality(store.read(path), rows(spark, r(1, 10, "1.00")))
    for reader in (store, other(backend, spark)):
        history = reader.history(path)
        assert [h.version for h in history] == [version, version - 1]
        assert [h.commit for h in history] == [mark, LABEL]


def test_rows_merged_from_python_and_read_back_without_spark(
    store: TableStore, spark: SparkSession, tmp_path: Path
) -> None:
    path = str(tmp_path / "t")
    schema = T.StructType(
        [T.StructField("k", T.StringType()), T.StructField("at", T.TimestampType())]
    )
    at = dt.datetime(2025, 4, 1, 10, 30, 0, 5)
    spec = MergeSpec(keys=("k",), update_when="false")
    store.merge_rows([("a", at), ("b", None)], schema, path, spec, LABEL)
    again = store.merge_rows([("a", at), ("c", at)], schema, path, spec, LABEL)

    assert again.inserted == 1
    assert sorted(store.read_rows(path), key=lambda x: x["k"]) == [
        {"k": "a", "at": at},
        {"k": "b", "at": None},
        {"k": "c", "at": at},
    ]
    assert store.count(path) == 3


def test_python_rows_of_every_audit_type_merge_exactly(
    store: TableStore, spark: SparkSession, tmp_path: Path
) -> None:
    """The audit tables' Python rows (strings, longs beyond 2**53, doubles with NaN, booleans,
    timestamps, nulls in each) are written exactly, whether a merge only inserts (new keys)
    or also updates (a key already there), and each commit keeps its label."""
    path = str(tmp_path / "t")
    schema = T.StructType(
        [
            T.StructField("k", T.StringType()),
            T.StructField("n", T.LongType()),
            T.StructField("x", T.DoubleType()),
            T.StructField("ok", T.BooleanType()),
            T.StructField("at", T.TimestampType()),
        ]
    )
    at = dt.datetime(2025, 4, 1, 10, 30, 0, 123456)
    big = 2**62 + 1
    spec = MergeSpec(keys=("k",))
    store.merge_rows([("a", big, 1.5, True, at)], schema, path, spec, LABEL)
    inserted = store.merge_rows(
        [("b", None, None, None, None), ("c", -1, 0.25, False, at)], schema, path, spec, LABEL
    )
    mark = LABEL.as_kind("audit")
    updated = store.merge_rows(
        [("a", 7, float("nan"), False, None), ("d", 0, -2.0, True, at)], schema, path, spec, mark
    )

    assert (inserted.inserted, inserted.updated) == (2, 0)
    assert (updated.inserted, updated.updated) == (1, 1)
    got = sorted(store.read_rows(path), key=lambda row: row["k"])
    assert [row["x"] != row["x"] for row in got] == [True, False, False, False]  # NaN kept
    assert [{**row, "x": None} if row["k"] == "a" else row for row in got] == [
        {"k": "a", "n": 7, "x": None, "ok": False, "at": None},
        {"k": "b", "n": None, "x": None, "ok": None, "at": None},
        {"k": "c", "n": -1, "x": 0.25, "ok": False, "at": at},
        {"k": "d", "n": 0, "x": -2.0, "ok": True, "at": at},
    ]
    assert [h.commit for h in store.history(path, 2)] == [mark, LABEL]


def test_the_log_rules_out_only_keys_a_scan_does_not_find(
    store: TableStore, spark: SparkSession, tmp_path: Path
) -> None:
    """`delta_log.may_hold_keys` (the live files' key statistics) says False only for keys that
    no row holds, and at least for keys outside every file's range: checked against a scan for
    present and absent keys, long strings whose statistics a writer cuts short, integers, a
    null, and rows removed by a later merge; and a long key merged again updates its row
    instead of adding a second."""
    path = str(tmp_path / "t")
    schema = T.StructType([T.StructField("k", T.StringType()), T.StructField("n", T.LongType())])
    spec = MergeSpec(keys=("k", "n"))
    long = "x" * 32 + "é" * 8  # beyond what a writer keeps of a string statistic
    store.merge_rows([("b", 1), ("d", 3), (long + "z", 5)], schema, path, spec, LABEL)
    store.merge_rows([("m", 10), ("p", 12)], schema, path, spec, LABEL)
    gone = spark.createDataFrame([("p", 12, "delete")], "k string, n long, _op string")
    store.merge(gone, path, MergeSpec(keys=("k", "n"), op_column="_op"), LABEL)
    present_keys = [("b", 1), ("d", 3), ("m", 10), (long + "z", 5)]
    absent_keys = [("c", 2), ("a", 11), ("z", 11), ("b", 99), ("n", 11), ("p", 12), (long, 5)]
    candidates = [*present_keys, *absent_keys, (None, 1)]
    present = {(row["k"], row["n"]) for row in store.read_rows(path)}
    assert present == set(present_keys)

    verdicts = {
        key: delta_log.may_hold_keys(path, ("k", "n"), [{"k": key[0], "n": key[1]}])
        for key in candidates
    }
    again = store.merge_rows([(long + "z", 5)], schema, path, spec, LABEL)

    assert all(verdicts[key] for key in present)
    ruled_out = {key for key, maybe in verdicts.items() if not maybe}
    # Outside every file's ranges whatever the layout (one file per row or per commit): a string
    # below or above the only file whose numbers hold 11, and a number above every file's.
    assert {("a", 11), ("z", 11), ("b", 99)} <= ruled_out <= set(candidates) - present
    assert (again.inserted, again.updated) == (0, 1)
    assert store.count(path) == 4


def test_statistics_unlike_the_protocol_rule_out_nothing(tmp_path: Path) -> None:
    """A statistic that is not JSON, or a file without one, leaves the answer to a query."""
    log = tmp_path / "t" / "_delta_log"
    log.mkdir(parents=True)
    add = {"path": "a.parquet", "size": 1, "dataChange": True, "modificationTime": 0}
    bounds = '{"numRecords":1,"minValues":{"k":"b"},"maxValues":{"k":"b"}}'
    cases = {"bad": {**add, "stats": "{not json"}, "none": add, "good": {**add, "stats": bounds}}
    verdicts = {}
    for name, action in cases.items():
        (log / f"{0:020d}.json").write_text(json.dumps({"add": action}) + "\n")
        verdicts[name] = delta_log.may_hold_keys(str(tmp_path / "t"), ("k",), [{"k": "z"}])

    assert verdicts == {"bad": True, "none": True, "good": False}


def test_the_log_counts_rows_as_a_scan_does(
    store: TableStore, spark: SparkSession, tmp_path: Path
) -> None:
    """`delta_log.row_count` (the live files' statistics, from the checkpoint and the commits
    after it) equals a scan's count through inserts, updates, deletes and a compaction."""
    from deltalake import DeltaTable

    path = str(tmp_path / "t")
    upsert = MergeSpec(keys=("id",), partition_by=("day",))
    tombstones = MergeSpec(keys=("id",), op_column="_op")
    counts = []
    for i in range(4):
        batch = rows(spark, r(i + 1, 10, "1.00", 1 + i % 3), r(0, 11 + i, "2.00"))
        store.merge(batch, path, upsert, LABEL)
        if i == 2:
            counts.append((delta_log.row_count(path), store.read(path).count()))
            DeltaTable(path).create_checkpoint()  # the next commits replay on top of it
    gone = spark.createDataFrame([(2, "delete"), (3, "delete")], "id long, _op string")
    store.merge(gone, path, tombstones, LABEL)
    store.optimize(path, LABEL)
    counts.append((delta_log.row_count(path), store.read(path).count()))

    assert (tmp_path / "t" / "_delta_log" / "_last_checkpoint").exists()
    assert counts == [(4, 4), (3, 3)]
    assert store.count(path) == 3


def test_a_log_without_row_statistics_is_counted_by_a_scan(
    spark: SparkSession, tmp_path: Path
) -> None:
    path = str(tmp_path / "t")
    spark.conf.set("spark.databricks.delta.stats.collect", "false")
    try:
        rows(spark, r(1, 10, "1.00"), r(2, 10, "2.00")).write.format("delta").save(path)
    finally:
        spark.conf.unset("spark.databricks.delta.stats.collect")

    assert delta_log.row_count(path) is None
    assert get_table_store(spark, "delta-spark").count(path) == 2


def test_time_travel_and_restore(store: TableStore, spark: SparkSession, tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    v0 = store.overwrite(rows(spark, r(1, 10, "1.00")), path, LABEL)
    store.merge(rows(spark, r(1, 11, "5.00")), path, MergeSpec(keys=("id",)), LABEL)
    assert_df_equality(store.read(path, version=v0), rows(spark, r(1, 10, "1.00")))
    assert_df_equality(store.read(path), rows(spark, r(1, 11, "5.00")))

    back = Commit("etl.restore", "run-3", {"kind": "restore", "to_version": v0})
    restored = store.restore(path, v0, back)
    assert restored == v0 + 2
    assert_df_equality(store.read(path), rows(spark, r(1, 10, "1.00")))
    assert store.history(path, 1)[0].commit == back


def test_zorder_optimize_keeps_rows_and_compacts_files(
    store: TableStore, spark: SparkSession, tmp_path: Path
) -> None:
    path = str(tmp_path / "t")
    spec = MergeSpec(keys=("id",))
    for start in range(0, 40, 10):  # four commits, four or more small files
        batch = rows(spark, *[r(i, 10, f"{i}.00") for i in range(start, start + 10)])
        store.merge(batch, path, spec, LABEL)
    from deltalake import DeltaTable

    before = store.read(path)
    version = store.version(path)
    files = len(DeltaTable(path).file_uris())
    maintenance = Commit("maintenance", "run-4", {"kind": "maintenance"})
    metrics = store.optimize(path, maintenance, ("id",))
    assert store.version(path) == version + 1
    assert store.history(path, 1)[0].commit == maintenance
    assert_rows_equal(store.read(path), before)
    # Z-order rewrites every file; the maintenance command logs these two counts.
    after = len(DeltaTable(path).file_uris())
    assert (metrics["numFilesRemoved"], metrics["numFilesAdded"]) == (files, after)
    assert files >= 4 > after


def test_timestamps_survive_spark_arrow_delta_round_trip_exactly(
    store: TableStore, spark: SparkSession, tmp_path: Path
) -> None:
    path = str(tmp_path / "t")
    instants = [
        dt.datetime(2025, 3, 30, 1, 59, 59, 999999),  # around a European DST switch
        dt.datetime(2025, 3, 30, 2, 30, 0, 1),
        dt.datetime(1999, 12, 31, 23, 59, 59, 500000),
        dt.datetime(2025, 4, 15, 3, 39, 0),
    ]
    source = rows(spark, *[(i, t, t.date(), Decimal("0.01"), None) for i, t in enumerate(instants)])
    store.overwrite(source, path, LABEL)
    back = store.read(path)
    assert_rows_equal(back, source)
    assert sorted(row["ts"] for row in back.collect()) == sorted(instants)
    assert sorted(back.toPandas()["ts"].dt.to_pydatetime().tolist()) == sorted(instants)


def parquet_files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*.parquet") if "_delta_log" not in p.parts}


def test_vacuum_keeps_current_files(store: TableStore, spark: SparkSession, tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    store.overwrite(rows(spark, r(1, 10, "1.00")), path, LABEL)
    store.overwrite(rows(spark, r(2, 10, "2.00")), path, LABEL)
    files = parquet_files(tmp_path / "t")
    removed = store.vacuum(path, 168, Commit("maintenance", "run-5", {"kind": "maintenance"}))
    assert_df_equality(store.read(path), rows(spark, r(2, 10, "2.00")))
    assert (removed, parquet_files(tmp_path / "t")) == (0, files)  # nothing a week old


def test_vacuum_deletes_and_counts_the_files_past_the_table_s_retention(
    store: TableStore, spark: SparkSession, tmp_path: Path
) -> None:
    """With the table's own retention at zero hours, VACUUM deletes every data file the
    table's current version does not reference (what the second overwrite replaced, and any
    file a write left unreferenced), and says how many files that was."""
    from deltalake import DeltaTable

    path = str(tmp_path / "t")
    store.overwrite(rows(spark, r(1, 10, "1.00"), r(3, 10, "3.00")), path, LABEL)
    store.overwrite(rows(spark, r(2, 10, "2.00")), path, LABEL)
    retention = {"delta.deletedFileRetentionDuration": "interval 0 hours"}
    DeltaTable(path).alter.set_table_properties(retention)
    current = {Path(uri.removeprefix("file://")) for uri in DeltaTable(path).file_uris()}
    unreferenced = parquet_files(tmp_path / "t") - current
    assert current and unreferenced  # at least the first overwrite's files

    removed = store.vacuum(path, 0, Commit("maintenance", "run-6", {"kind": "maintenance"}))

    assert (removed, parquet_files(tmp_path / "t")) == (len(unreferenced), current)
    assert_df_equality(store.read(path), rows(spark, r(2, 10, "2.00")))

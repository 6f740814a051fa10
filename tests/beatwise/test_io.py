"""The atomic writers: whole files or none, parent folders created, strict and stable JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from beatwise.io import (
    atomic_path,
    read_json,
    read_parquet,
    write_json,
    write_parquet,
    write_table,
    write_table_chunks,
    write_text,
)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    write_text(target, "old\n")
    with pytest.raises(RuntimeError, match="disk on fire"), atomic_path(target) as tmp:
        tmp.write_text("half a fi", encoding="utf-8")
        raise RuntimeError("disk on fire")
    assert target.read_text(encoding="utf-8") == "old\n"
    assert _leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_failed_json_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "meta.json"
    write_json(target, {"a": 1})
    with pytest.raises(TypeError):
        write_json(target, {"a": object()})  # not JSON: refused before the file is touched
    assert read_json(target) == {"a": 1}
    assert _leftovers(tmp_path) == []


def test_failed_first_write_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "new.parquet"
    with pytest.raises(RuntimeError), atomic_path(target):
        raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == []


def test_parent_folders_are_created(tmp_path: Path) -> None:
    write_text(tmp_path / "a" / "b" / "c.txt", "x")
    write_json(tmp_path / "d" / "e.json", {})
    write_table(tmp_path / "f" / "g.parquet", pa.table({"x": [1]}))
    write_parquet(tmp_path / "h" / "i.parquet", pd.DataFrame({"x": [1]}))
    schema = pa.schema([("x", pa.int64())])
    write_table_chunks(tmp_path / "j" / "k.parquet", schema, [pa.table({"x": [1]}, schema=schema)])
    for rel in ("a/b/c.txt", "d/e.json", "f/g.parquet", "h/i.parquet", "j/k.parquet"):
        assert (tmp_path / rel).is_file(), rel


def test_json_is_strict_sorted_and_ends_with_a_newline(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    payload = {
        "b": float("nan"),
        "a": [1.5, float("inf"), -math.inf, np.float64(2.0), np.int64(3)],
        "c": {"z": (1, 2), "y": None},
    }
    write_json(path, payload)
    text = path.read_text(encoding="utf-8")
    assert text == (
        '{\n  "a": [\n    1.5,\n    null,\n    null,\n    2.0,\n    3\n  ],\n'
        '  "b": null,\n  "c": {\n    "y": null,\n    "z": [\n      1,\n      2\n    ]\n  }\n}\n'
    )
    assert "NaN" not in text and "Infinity" not in text
    json.loads(text)  # strict JSON for other tools


def test_finite_json_is_exactly_json_dumps(tmp_path: Path) -> None:
    """Without NaN or inf the writer adds nothing: the bytes of json.dumps(indent=2, sorted)."""
    payload = {"types": ["b", "a"], "alpha": [0.1, 0.30000000000000004], "n": 3, "o": "2022-01-03"}
    write_json(tmp_path / "m.json", payload)
    expected = json.dumps(payload, indent=2, sort_keys=True) + "\n"
    assert (tmp_path / "m.json").read_text(encoding="utf-8") == expected


def test_table_writers_give_the_same_bytes_for_the_same_table(tmp_path: Path) -> None:
    table = pa.table({"x": np.arange(10, dtype=np.int32), "y": np.linspace(0, 1, 10)})
    write_table(tmp_path / "a.parquet", table)
    write_table(tmp_path / "b.parquet", table)
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    assert pq.read_table(tmp_path / "a.parquet").equals(table)
    chunks = [table.slice(0, 4), table.slice(4)]
    write_table_chunks(tmp_path / "c.parquet", table.schema, chunks)
    assert pq.read_table(tmp_path / "c.parquet").equals(table)
    assert pq.ParquetFile(tmp_path / "c.parquet").metadata.num_row_groups == 2


def test_read_json_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.json"):
        read_json(tmp_path / "nope.json")


def test_read_json_names_a_file_that_is_not_json(tmp_path: Path) -> None:
    (tmp_path / "cut.json").write_text('{"a": 1,', encoding="utf-8")
    with pytest.raises(ValueError, match=r"cut\.json is not valid JSON: .* at line 1, column 9"):
        read_json(tmp_path / "cut.json")
    (tmp_path / "latin.json").write_bytes(b'{"a": "\xe9"}')
    with pytest.raises(ValueError, match=r"latin\.json is not UTF-8 text"):
        read_json(tmp_path / "latin.json")


def test_read_parquet_names_the_columns_a_file_of_the_wrong_kind_lacks(tmp_path: Path) -> None:
    path = tmp_path / "cells.parquet"
    pd.DataFrame({"h3_cell": ["a"], "lat": [51.5]}).to_parquet(path)
    assert read_parquet(path, required=["h3_cell"]).columns.tolist() == ["h3_cell", "lat"]
    assert read_parquet(path, columns=["lat"]).columns.tolist() == ["lat"]
    with pytest.raises(
        ValueError,
        match=r"cells\.parquet lacks 2 column\(s\) this stage reads, e.g. \['latitude', "
        r"'timestamp'\]; it has 2, e.g. \['h3_cell', 'lat'\]",
    ):
        read_parquet(path, required=["latitude"], columns=["timestamp"])
    with pytest.raises(FileNotFoundError, match=r"Expected the Parquet file .*nope\.parquet"):
        read_parquet(tmp_path / "nope.parquet")


def _panel_like(n_periods: int = 5, n_cells: int = 3) -> pd.DataFrame:
    starts = pd.date_range("2024-01-01", periods=n_periods, freq="7D")
    return pd.DataFrame(
        {
            "h3_cell": pd.array(np.tile([f"c{i}" for i in range(n_cells)], n_periods), dtype="str"),
            "period_start": np.repeat(starts.to_numpy(), n_cells),
            "x": np.arange(n_periods * n_cells, dtype=np.float32),
        }
    )


def test_row_groups_are_written_as_asked_and_read_back_whole(tmp_path: Path) -> None:
    frame = _panel_like()
    path = tmp_path / "panel.parquet"
    write_parquet(path, frame, row_groups=[6, 6, 3])
    meta = pq.ParquetFile(path).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [6, 6, 3]
    pd.testing.assert_frame_equal(pd.read_parquet(path), frame)
    first = path.read_bytes()
    write_parquet(path, frame, row_groups=[6, 6, 3])
    assert path.read_bytes() == first


@pytest.mark.parametrize("groups", [[6, 6], [6, 0, 9], []])
def test_row_groups_that_do_not_add_up_are_refused(tmp_path: Path, groups: list[int]) -> None:
    with pytest.raises(ValueError, match=r"add up to the 15 rows written to .*panel\.parquet"):
        write_parquet(tmp_path / "panel.parquet", _panel_like(), row_groups=groups)
    assert not (tmp_path / "panel.parquet").exists()


def test_reading_some_periods_reads_only_their_rows(tmp_path: Path) -> None:
    frame = _panel_like()
    path = tmp_path / "panel.parquet"
    write_parquet(path, frame, row_groups=[12, 3])
    last = frame["period_start"].max()
    got = read_parquet(path, where=("period_start", [last]))
    pd.testing.assert_frame_equal(got, frame[frame["period_start"] == last].reset_index(drop=True))
    # the group of the earlier periods is skipped by its statistics, not read and filtered
    fragment = next(iter(ds.dataset(path).get_fragments()))
    kept = fragment.split_by_row_group(ds.field("period_start") == pa.scalar(last))
    assert [g.row_groups[0].id for g in kept] == [1]
    with pytest.raises(ValueError, match="has no column 'week' to select rows by"):
        read_parquet(path, where=("week", [last]))

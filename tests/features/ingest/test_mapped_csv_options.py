"""Mapping options for a new city: compressed files, one offence, deliberate exclusion, no id."""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pydantic import ValidationError

from features.ingest.mapped_csv import ColumnMapping, read_mapped_csv
from features.ingest.validation import ValidatedEvents, validate_events

AS_OF = pd.Timestamp("2024-12-31 23:59:59")
HEADER = ["Id", "When", "Offence", "Lat", "Lon"]
ROWS = [
    ["1", "2024-03-04 10:00", "Burglary", "38.62", "-90.19"],
    ["2", "2024-03-05 11:00", "Theft from vehicle", "38.63", "-90.20"],
    ["3", "2024-03-06 12:00", "Loitering", "38.61", "-90.21"],
    ["4", "2024-03-07 13:00", "Loitering", "38.60", "-90.18"],
    ["5", "2024-03-08 14:00", "Burglary", "", ""],
    ["6", "2024-03-09 15:00", "", "38.62", "-90.19"],
]
BASE: dict[str, Any] = {
    "time_column": "When",
    "time_format": "%Y-%m-%d %H:%M",
    "latitude_column": "Lat",
    "longitude_column": "Lon",
    "id_columns": ["Id"],
}
MAPPED = ColumnMapping.model_validate(
    {
        **BASE,
        "category_column": "Offence",
        "category_map": {"Burglary": "burglary", "Theft from vehicle": "vehicle_crime"},
    }
)


def csv_bytes(rows: list[list[str]], *, header: list[str] = HEADER, bom: bool = False) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows(rows)
    return (b"\xef\xbb\xbf" if bom else b"") + text.getvalue().encode("utf-8")


def validate(raw: pd.DataFrame) -> ValidatedEvents:
    result = validate_events(raw, areas=None, as_of=AS_OF, time_format="%Y-%m-%d %H:%M")
    assert len(result.accepted) + len(result.quarantine) == len(raw) == result.rows_read
    return result


def by_row(result: ValidatedEvents) -> dict[int, str]:
    q = result.quarantine
    return dict(zip(q["source_row"], q["reason"], strict=True))


# --- compressed files ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["gzip", "bz2", "zip"])
def test_a_compressed_csv_reads_as_the_plain_csv(tmp_path: Path, kind: str) -> None:
    # headers spelt otherwise and a BOM: header matching and BOM skipping work inside the archive
    content = csv_bytes(ROWS, header=["ID", "when", "offence", "LAT", "lon"], bom=True)
    plain = tmp_path / "plain" / "city.csv"
    plain.parent.mkdir()
    plain.write_bytes(content)
    packed = (
        tmp_path / "packed" / {"gzip": "city.csv.gz", "bz2": "city.csv.bz2"}.get(kind, "city.zip")
    )
    packed.parent.mkdir()
    if kind == "gzip":
        packed.write_bytes(gzip.compress(content))
    elif kind == "bz2":
        packed.write_bytes(bz2.compress(content))
    else:
        with zipfile.ZipFile(packed, "w") as archive:
            archive.writestr("city.csv", content)
    expected = read_mapped_csv([plain], mapping=MAPPED).events
    got = read_mapped_csv([packed], mapping=MAPPED).events
    assert (got["source_file"] == packed.name).all()
    pd.testing.assert_frame_equal(
        got.drop(columns="source_file"), expected.drop(columns="source_file")
    )
    assert got["crime_type"].tolist()[:2] == ["burglary", "vehicle_crime"]


def test_a_folder_of_gzipped_files_and_a_header_only_one(tmp_path: Path) -> None:
    folder = tmp_path / "raw"
    folder.mkdir()
    (folder / "a.csv.gz").write_bytes(gzip.compress(csv_bytes(ROWS[:2])))
    (folder / "b.csv.gz").write_bytes(gzip.compress(csv_bytes(ROWS[2:])))
    (folder / "c.csv.gz").write_bytes(gzip.compress(csv_bytes([])))
    source = read_mapped_csv(sorted(folder.glob("*.csv.gz")), mapping=MAPPED, root=folder)
    assert source.events["source_file"].value_counts().to_dict() == {"a.csv.gz": 2, "b.csv.gz": 4}
    assert source.empty_files == {"c.csv.gz": "header_only"}


def test_a_corrupt_gzip_is_named_as_such_not_as_an_encoding_problem(tmp_path: Path) -> None:
    cut = tmp_path / "city.csv.gz"
    cut.write_bytes(gzip.compress(csv_bytes(ROWS * 50))[:60])  # a download cut short
    with pytest.raises(ValueError, match=r"city\.csv\.gz: not valid gzip") as caught:
        read_mapped_csv([cut], mapping=MAPPED)
    assert "encoding" not in str(caught.value)
    damaged = tmp_path / "damaged.csv.gz"
    packed = bytearray(gzip.compress(csv_bytes(ROWS * 50)))
    packed[20:40] = bytes(20)
    damaged.write_bytes(bytes(packed))
    with pytest.raises(ValueError, match=r"damaged\.csv\.gz: not valid gzip"):
        read_mapped_csv([damaged], mapping=MAPPED)
    named = tmp_path / "named.csv.gz"  # plain text behind a .gz name
    named.write_bytes(csv_bytes(ROWS))
    with pytest.raises(ValueError, match=r"named\.csv\.gz: not valid gzip: its name ends in"):
        read_mapped_csv([named], mapping=MAPPED)


def test_a_zip_must_hold_one_file(tmp_path: Path) -> None:
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as archive:
        archive.writestr("a.csv", csv_bytes(ROWS))
        archive.writestr("b.csv", csv_bytes(ROWS))
    with pytest.raises(ValueError, match=r"two\.zip: a zip archive must hold exactly one CSV"):
        read_mapped_csv([two], mapping=MAPPED)


# --- a file of one offence -----------------------------------------------------------------------


def test_a_constant_category_types_every_row(tmp_path: Path) -> None:
    path = tmp_path / "burglaries.csv"
    path.write_bytes(csv_bytes([r[:2] + r[3:] for r in ROWS], header=["Id", "When", "Lat", "Lon"]))
    mapping = ColumnMapping.model_validate({**BASE, "category": "burglary"})
    raw = read_mapped_csv([path], mapping=mapping).events
    assert raw["crime_type"].tolist() == raw["source_category"].tolist() == ["burglary"] * 6
    result = validate(raw)
    assert set(result.accepted["crime_type"]) == {"burglary"}
    assert by_row(result) == {5: "missing_coordinates"}


def test_a_constant_category_is_checked_and_exclusive() -> None:
    with pytest.raises(ValidationError, match="'category' lists crime type 'burglaries'"):
        ColumnMapping.model_validate({**BASE, "category": "burglaries"})
    with pytest.raises(ValidationError, match="exactly one of 'category_column'"):
        ColumnMapping.model_validate({**BASE, "category": "burglary", "category_column": "X"})
    with pytest.raises(ValidationError, match="exactly one of 'category_column'"):
        ColumnMapping.model_validate(BASE)
    with pytest.raises(ValidationError, match=r"'category_map'.* must be left out"):
        ColumnMapping.model_validate(
            {**BASE, "category": "burglary", "category_map": {"x": "burglary"}}
        )


# --- deliberate exclusion ------------------------------------------------------------------------


def test_unmapped_categories_exclude_is_its_own_reason_and_counts_add_up(tmp_path: Path) -> None:
    path = tmp_path / "city.csv"
    path.write_bytes(csv_bytes(ROWS))
    quarantined = validate(read_mapped_csv([path], mapping=MAPPED).events)
    assert by_row(quarantined) == {
        3: "unknown_category",
        4: "unknown_category",
        5: "missing_coordinates",
        6: "unknown_category",
    }
    excluding = MAPPED.model_copy(update={"unmapped_categories": "exclude"})
    raw = read_mapped_csv([path], mapping=excluding).events
    assert raw["excluded"].tolist() == [False, False, True, True, False, False]
    result = validate(raw)
    # a listed value is kept; an unlisted one is out of scope; a blank one is still a problem
    assert by_row(result) == {
        3: "excluded_category",
        4: "excluded_category",
        5: "missing_coordinates",
        6: "unknown_category",
    }
    assert len(result.accepted) == 2
    detail = result.quarantine.set_index("source_row")["detail"]
    assert detail[3] == "category Loitering is not in the mapping's category_map " + (
        "(unmapped_categories: exclude)"
    )


def test_exclusion_needs_a_map() -> None:
    with pytest.raises(ValidationError, match="'unmapped_categories: exclude' needs"):
        ColumnMapping.model_validate(
            {**BASE, "category_column": "Offence", "unmapped_categories": "exclude"}
        )


# --- no id column --------------------------------------------------------------------------------


@pytest.mark.parametrize("no_id", [[], None])
def test_without_id_columns_repeated_rows_are_all_kept(tmp_path: Path, no_id: Any) -> None:
    # three victims of one incident: the same row three times, and a real id like a row id
    victim = ["x", "2024-03-04 10:00", "Burglary", "38.62", "-90.19"]
    path = tmp_path / "victims.csv"
    path.write_bytes(csv_bytes([victim, victim, victim]))
    mapping = ColumnMapping.model_validate({**MAPPED.model_dump(), "id_columns": no_id})
    assert mapping.id_columns == ()
    raw = read_mapped_csv([path], mapping=mapping).events
    assert raw["event_id"].isna().all()
    result = validate(raw)
    assert result.quarantine.empty
    assert len(result.accepted) == 3
    assert result.accepted["event_id"].is_unique
    # with the id column, the same rows are duplicates
    with_id = validate(read_mapped_csv([path], mapping=MAPPED).events)
    assert by_row(with_id) == {2: "duplicate_id", 3: "duplicate_id"}


def test_row_ids_never_equal_a_real_id() -> None:
    # one source where a real id is spelt like the row id of another row: both are kept
    raw = pd.DataFrame(
        {
            "source_file": ["victims.csv", "victims.csv"],
            "source_row": [1, 2],
            "event_id": [pd.NA, "~row:victims.csv:1"],
            "timestamp": ["2024-03-04 10:00"] * 2,
            "crime_type": ["burglary"] * 2,
            "latitude": ["38.62"] * 2,
            "longitude": ["-90.19"] * 2,
        }
    )
    result = validate(raw)
    assert result.quarantine.empty
    assert sorted(result.accepted["event_id"]) == ["~row:victims.csv:1", "~~row:victims.csv:1"]

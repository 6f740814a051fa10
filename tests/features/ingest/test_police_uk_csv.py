"""data.police.uk street CSV archives: raw canonical frames that validate_events judges."""

from __future__ import annotations

import csv
import logging
import re
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from police_uk_checks import reasons, validate

from features.ingest.police_uk_csv import load_police_uk_street_csv, read_police_uk_street_csv
from features.ingest.validation import QUARANTINE_REASONS, REQUIRED_RAW_COLUMNS

HEADER = [
    "Crime ID",
    "Month",
    "Reported by",
    "Falls within",
    "Longitude",
    "Latitude",
    "Location",
    "LSOA code",
    "LSOA name",
    "Crime type",
    "Last outcome category",
    "Context",
]


def street_row(
    crime_id: str = "c1",
    month: str = "2016-01",
    lon: str = "-0.150000",
    lat: str = "51.450000",
    lsoa: str = "E01000001",
    crime_type: str = "Burglary",
) -> list[str]:
    force = "Metropolitan Police Service"
    return [
        crime_id,
        month,
        force,
        force,
        lon,
        lat,
        "On or near X",
        lsoa,
        "Y 001A",
        crime_type,
        "",
        "",
    ]


def write_csv(
    path: Path, rows: list[list[str]], *, header: list[str] = HEADER, bom: bool = False
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


# --- street CSV: the monthly archive -------------------------------------------------------------

JAN = "2016-01/2016-01-metropolitan-street.csv"
FEB = "2016-02/2016-02-city-of-london-street.csv"


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    write_csv(
        tmp_path / JAN,
        [
            street_row("c1"),
            street_row("", crime_type="Anti-social behaviour"),  # ASB has no Crime ID
            street_row("c3", lon="", lat="", lsoa="", crime_type="Robbery"),
            street_row("c4", crime_type="Alien abduction"),
            street_row("c5", month="2016-13"),
            street_row("c1", crime_type="Drugs"),  # repeats c1
        ],
        bom=True,
    )
    write_csv(tmp_path / FEB, [street_row("c7", month="2016-02", crime_type="Bicycle theft")])
    # other files of the archive layout are not street crimes and must be ignored
    write_csv(tmp_path / "2016-01" / "2016-01-metropolitan-outcomes.csv", [["x"] * 12])
    return tmp_path


def test_street_csv_is_a_raw_canonical_frame(archive: Path) -> None:
    raw = load_police_uk_street_csv(archive)
    assert set(REQUIRED_RAW_COLUMNS) <= set(raw.columns)
    assert "area_code" in raw.columns
    assert raw["source_file"].tolist() == [JAN] * 6 + [FEB]
    assert raw["source_row"].tolist() == [1, 2, 3, 4, 5, 6, 1]
    assert raw["timestamp"].tolist()[:5] == ["2016-01-01"] * 4 + ["2016-13"]
    assert pd.isna(raw.loc[1, "event_id"])
    assert pd.isna(raw.loc[2, "latitude"]) and pd.isna(raw.loc[2, "longitude"])
    assert raw.loc[0, "latitude"] == "51.450000"  # text as read, not coerced
    assert raw.loc[0, "area_code"] == "E01000001"


def test_street_csv_validates_with_exact_reasons(archive: Path) -> None:
    accepted, quarantine = validate(load_police_uk_street_csv(archive))
    assert reasons(quarantine) == [
        (JAN, 3, "missing_coordinates"),
        (JAN, 4, "unknown_category"),
        (JAN, 5, "unparseable_date"),
        (JAN, 6, "duplicate_id"),
    ]
    assert "timestamp 2016-13 does not parse" in quarantine.loc[2, "detail"]
    assert sorted(accepted["event_id"]) == sorted(["c1", f"~row:{JAN}:2", "c7"])
    assert sorted(accepted["crime_type"]) == ["anti_social_behaviour", "bicycle_theft", "burglary"]
    assert set(accepted["timestamp"]) == {pd.Timestamp("2016-01-01"), pd.Timestamp("2016-02-01")}
    assert set(accepted["area_code"]) == {"E01000001"}


def test_street_csv_tolerates_some_empty_files(archive: Path) -> None:
    write_csv(archive / "2016-03" / "2016-03-metropolitan-street.csv", [])
    (archive / "2016-04").mkdir()
    (archive / "2016-04" / "2016-04-metropolitan-street.csv").write_bytes(b"")
    assert len(load_police_uk_street_csv(archive)) == 7


def test_street_csv_refuses_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"No data\.police\.uk archive folder at .*nowhere"):
        load_police_uk_street_csv(tmp_path / "nowhere")


def test_street_csv_refuses_folder_without_street_files(tmp_path: Path) -> None:
    write_csv(tmp_path / "2016-01" / "2016-01-metropolitan-outcomes.csv", [])
    with pytest.raises(
        FileNotFoundError,
        match=re.escape(f"No files matching YYYY-MM/YYYY-MM-<force>-street.csv under {tmp_path}"),
    ):
        load_police_uk_street_csv(tmp_path)


def test_street_csv_refuses_all_empty_input(tmp_path: Path) -> None:
    write_csv(tmp_path / JAN, [])
    (tmp_path / FEB).parent.mkdir()
    (tmp_path / FEB).write_bytes(b"")
    with pytest.raises(
        ValueError, match=r"Empty input: the 2 street CSV file\(s\) under .* no data"
    ):
        load_police_uk_street_csv(tmp_path)


def test_street_csv_refuses_missing_column_with_closest_name(tmp_path: Path) -> None:
    header = [("Crime_ID" if c == "Crime ID" else c) for c in HEADER]
    write_csv(tmp_path / JAN, [street_row()], header=header)
    with pytest.raises(ValueError) as info:
        load_police_uk_street_csv(tmp_path)
    message = str(info.value)
    assert JAN in message
    assert "missing required column(s) ['Crime ID']" in message
    assert "Did you mean: 'Crime ID' (closest: 'Crime_ID')?" in message


def test_street_csv_refuses_malformed_csv(tmp_path: Path) -> None:
    write_csv(tmp_path / JAN, [street_row(), [*street_row(), "extra", "fields"]])
    with pytest.raises(ValueError, match=r"2016-01-metropolitan-street\.csv: cannot be read"):
        load_police_uk_street_csv(tmp_path)


# --- hostile and odd files -----------------------------------------------------------------------

MAR = "2016-03/2016-03-metropolitan-street.csv"
APR = "2016-04/2016-04-metropolitan-street.csv"


def test_street_csv_names_empty_files_and_warns(
    archive: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_csv(archive / MAR, [])  # a header alone
    (archive / APR).parent.mkdir()
    (archive / APR).write_bytes(b"")  # an interrupted download
    may = archive / "2016-05" / "2016-05-metropolitan-street.csv"
    may.parent.mkdir()
    may.write_bytes(b"\n\n")
    with caplog.at_level(logging.WARNING, logger="features.ingest.police_uk_csv"):
        source = read_police_uk_street_csv(archive)
    assert source.empty_files == {
        MAR: "header_only",
        APR: "zero_bytes",
        "2016-05/2016-05-metropolitan-street.csv": "no_header",
    }
    assert len(source.events) == 7  # the files with rows, as before
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert f"{APR} holds no rows (zero bytes, as an interrupted download" in warnings[1]
    assert f"{MAR} holds no rows (a header but no data rows)" in warnings[0]
    assert load_police_uk_street_csv(archive).equals(source.events)


def test_street_csv_extra_field_in_first_row_shifts_nothing(tmp_path: Path) -> None:
    # pandas would take the first column as an index: Month under Crime ID, and so on.
    write_csv(tmp_path / JAN, [[*street_row("c1"), "stray"], street_row("c2")])
    with pytest.raises(
        ValueError,
        match=r"2016-01-metropolitan-street\.csv: cannot be read as a UTF-8 data\.police\.uk "
        r"street CSV \(the first data row has 13 fields but the header has 12",
    ):
        load_police_uk_street_csv(tmp_path)


def test_street_csv_short_first_row_keeps_its_columns(tmp_path: Path) -> None:
    write_csv(tmp_path / JAN, [street_row("c1")[:6], street_row("c2")])
    raw = load_police_uk_street_csv(tmp_path)
    assert raw["event_id"].tolist() == ["c1", "c2"]
    assert raw["latitude"].tolist() == ["51.450000"] * 2
    assert raw["crime_type"].isna().tolist() == [True, False]  # missing field: blank, not moved


def test_street_csv_refuses_a_folder_named_like_a_street_csv(archive: Path) -> None:
    (archive / MAR).mkdir(parents=True)
    with pytest.raises(ValueError, match=rf"{re.escape(MAR)} is a folder, not a data\.police"):
        load_police_uk_street_csv(archive)


def test_street_csv_refuses_a_link_loop_or_dangling_link(archive: Path) -> None:
    loop = archive / MAR
    loop.parent.mkdir()
    loop.symlink_to(loop.name)  # points at itself
    with pytest.raises(ValueError, match=rf"{re.escape(MAR)} is a symbolic link that loops"):
        load_police_uk_street_csv(archive)
    loop.unlink()
    loop.symlink_to("gone.csv")
    with pytest.raises(ValueError, match=r"symbolic link to 'gone\.csv', which does not exist"):
        load_police_uk_street_csv(archive)


# --- property tests: nothing malformed crashes, every row is accounted for ----------------------

FIELD = st.one_of(
    st.just(""),
    st.sampled_from(
        [
            "2016-01",
            "2016-13",
            "2016",
            "Burglary",
            "violent-crime",
            "51.5",
            "-0.1",
            "0",
            "nan",
            "inf",
            "1e400",
            " ",
            "E01000001",
            "-91",
            "181",
        ]
    ),
    st.text(
        alphabet=st.one_of(
            st.characters(blacklist_categories=("Cs", "Cc")), st.sampled_from(',"\n\t;-.')
        ),
        max_size=12,
    ),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(st.lists(FIELD, min_size=12, max_size=12), min_size=1, max_size=8))
def test_street_csv_property_every_row_accounted(rows: list[list[str]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        write_csv(Path(folder) / JAN, rows)
        raw = load_police_uk_street_csv(Path(folder))
        assert len(raw) == len(rows)
        accepted, quarantine = validate(raw)
    assert set(quarantine["reason"]) <= set(QUARANTINE_REASONS)
    assert accepted["event_id"].is_unique


# --- fuzz: ragged rows, empty months, ids that look like row ids ---------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    months=st.lists(
        st.lists(
            st.tuples(
                st.sampled_from(["c1", "c2", "", f"~row:{JAN}:1", f"{JAN}:1", "~c"]),
                st.integers(min_value=-2, max_value=2),  # fields missing (-) or extra (+)
            ),
            max_size=5,
        ),
        min_size=1,
        max_size=3,
    )
)
def test_fuzz_street_csv_never_shifts_a_column(months: list[list[tuple[str, int]]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        names = []
        for m, rows in enumerate(months, start=1):
            name = f"2016-{m:02d}/2016-{m:02d}-metropolitan-street.csv"
            names.append(name)
            body = [street_row(crime_id, month=f"2016-{m:02d}") for crime_id, _ in rows]
            body = [
                row[: len(row) + extra] if extra < 0 else [*row, *["x"] * extra]
                for row, (_, extra) in zip(body, rows, strict=True)
            ]
            write_csv(folder / name, body)
        long_rows = [
            (n, i)
            for n, rows in zip(names, months, strict=True)
            for i, r in enumerate(rows)
            if r[1] > 0
        ]
        if long_rows:
            # a row with extra fields, the first included, refuses its file by name
            with pytest.raises(ValueError, match=re.escape(long_rows[0][0]) + ": cannot be read"):
                read_police_uk_street_csv(folder)
            return
        if not any(months):
            with pytest.raises(ValueError, match="Empty input"):
                read_police_uk_street_csv(folder)
            return
        source = read_police_uk_street_csv(folder)
    assert source.empty_files == {
        n: "header_only" for n, rows in zip(names, months, strict=True) if not rows
    }
    raw = source.events
    expected_ids = [crime_id for rows in months for crime_id, _ in rows]
    # every row in its own columns: the id and the month where the file put them
    assert raw["event_id"].fillna("").tolist() == expected_ids
    assert raw["timestamp"].str.startswith("2016-").all()
    accepted, quarantine = validate(raw)
    assert accepted["event_id"].is_unique
    real = [i for i in expected_ids if i]
    assert (quarantine["reason"] == "duplicate_id").sum() == len(real) - len(set(real))

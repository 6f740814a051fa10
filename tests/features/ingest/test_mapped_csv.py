"""CSV files read through a ColumnMapping (St. Louis style), and reversal rows in the validator."""

from __future__ import annotations

import csv
import itertools
import logging
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyproj
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from beatwise.presets import preset_value
from features.ingest.mapped_csv import (
    ColumnMapping,
    join_id_columns,
    load_mapped_csv,
    read_mapped_csv,
)
from features.ingest.parsing import normalise_header
from features.ingest.validation import QUARANTINE_REASONS, ValidatedEvents, validate_events

STL_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "stl-slmpd-2015-2019"
AS_OF = pd.Timestamp("2020-01-01")
#: the St. Louis preset's mapping as it is (presets/st_louis.yaml owns it)
STL_PRESET = ColumnMapping.model_validate(preset_value("st_louis", "ingest.mapping"))
#: the preset's mapping with the complaint alone as the id, and unmapped codes quarantined as
#: unknown_category: these tests make reversals and repeats by complaint number, any code
STL = ColumnMapping.model_validate(
    {
        **preset_value("st_louis", "ingest.mapping"),
        "id_columns": ["Complaint"],
        "unmapped_categories": "quarantine",
    }
)
HEADER = ["Complaint", "CodedMonth", "DateOccur", "Count", "Crime", "XCoord", "YCoord"]
MAY_HEADER = ["Complaint", "Coded Month", "Date Occur", "Count", "Crime", "X-Coord", "Y-Coord"]
ARCH_LAT, ARCH_LON = 38.6247, -90.1848  # the Gateway Arch
_TO_STATE_PLANE = pyproj.Transformer.from_crs("EPSG:4326", "ESRI:102696", always_xy=True)
ARCH_X, ARCH_Y = (f"{v:.1f}" for v in _TO_STATE_PLANE.transform(ARCH_LON, ARCH_LAT))


def stl_row(
    complaint: str,
    *,
    count: str = "1",
    crime: str = "31111",
    when: str = "04/02/2017 13:30",
    x: str = ARCH_X,
    y: str = ARCH_Y,
) -> list[str]:
    return [complaint, "2017-04", when, count, crime, x, y]


def write_csv(path: Path, header: list[str], rows: list[list[str]], *, bom: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8-sig" if bom else "utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def validate(raw: pd.DataFrame) -> ValidatedEvents:
    result = validate_events(raw, areas=None, as_of=AS_OF, time_format=STL.time_format)
    assert len(result.accepted) + len(result.quarantine) == len(raw) == result.rows_read
    assert set(result.quarantine["reason"]) <= set(QUARANTINE_REASONS)
    return result


def reasons(result: ValidatedEvents) -> dict[tuple[str, int], str]:
    q = result.quarantine
    return dict(zip(zip(q["source_file"], q["source_row"], strict=True), q["reason"], strict=True))


# --- the mapping ---------------------------------------------------------------------------------


def test_normalise_header_matches_may_2017_spellings() -> None:
    assert normalise_header("\ufeffDate Occur") == normalise_header("DateOccur") == "dateoccur"
    assert normalise_header("X-Coord") == normalise_header("XCoord") == normalise_header("x_coord")


def test_mapping_needs_exactly_one_coordinate_pair() -> None:
    base = {
        "time_column": "t",
        "time_format": "%Y",
        "category_column": "c",
        "id_columns": ("id",),
    }
    with pytest.raises(ValidationError, match="exactly one coordinate pair"):
        ColumnMapping(**base)
    with pytest.raises(ValidationError, match="exactly one coordinate pair"):
        ColumnMapping(**base, latitude_column="lat", longitude_column="lon", x_column="x")
    with pytest.raises(ValidationError, match="exactly one coordinate pair"):
        ColumnMapping(**base, x_column="x", y_column="y")  # no crs
    with pytest.raises(ValidationError, match="'crs' must be a CRS pyproj knows"):
        ColumnMapping(**base, x_column="x", y_column="y", crs="EPSG:nonsense")
    with pytest.raises(ValidationError, match="not a canonical Beatwise type"):
        ColumnMapping(**base, latitude_column="a", longitude_column="b", category_map={"3": "rob"})
    with pytest.raises(ValidationError, match="'count_column' \\('n'\\) needs 'id_columns'"):
        ColumnMapping(
            **{**base, "id_columns": ()},
            latitude_column="a",
            longitude_column="b",
            count_column="n",
        )
    with pytest.raises(ValidationError, match="IANA zone"):
        ColumnMapping(**base, latitude_column="a", longitude_column="b", time_zone="Mars/Olympus")
    with pytest.raises(ValidationError, match="'encoding' must be a Python codec"):
        ColumnMapping(**base, latitude_column="a", longitude_column="b", encoding="klingon")
    with pytest.raises(ValidationError, match="Extra inputs"):
        ColumnMapping(**base, latitude_column="a", longitude_column="b", colour="red")  # type: ignore[call-arg]


def test_mapping_reads_yaml_int_keys_as_text() -> None:
    mapping = STL.model_copy(update={"category_map": None})
    again = ColumnMapping.model_validate({**mapping.model_dump(), "category_map": {3: "robbery"}})
    assert again.category_map == {"3": "robbery"}


# --- the loader ----------------------------------------------------------------------------------


def test_loader_reads_bom_and_renamed_headers_and_reprojects(tmp_path: Path) -> None:
    april = write_csv(
        tmp_path / "raw" / "2017" / "april2017.csv",
        HEADER,
        [stl_row("17-001"), stl_row("17-002", crime="61111", x="0", y="0")],
        bom=True,
    )
    may = write_csv(
        tmp_path / "raw" / "2017" / "may2017.csv",
        MAY_HEADER,
        [stl_row("17-003", crime="71111", when="5/10/2017 13:30"), stl_row("17-004", x="abc")],
    )
    raw = load_mapped_csv([april, may], mapping=STL, root=tmp_path)
    assert list(raw["source_file"]) == ["raw/2017/april2017.csv"] * 2 + ["raw/2017/may2017.csv"] * 2
    assert list(raw["source_row"]) == [1, 2, 1, 2]
    assert list(raw["event_id"]) == ["17-001", "17-002", "17-003", "17-004"]
    assert list(raw["crime_type"]) == ["robbery", "other_theft", "vehicle_crime", "robbery"]
    assert list(raw["record_count"]) == [1, 1, 1, 1]
    lat = pd.to_numeric(raw["latitude"], errors="coerce").to_numpy()
    lon = pd.to_numeric(raw["longitude"], errors="coerce").to_numpy()
    assert lat[0] == pytest.approx(ARCH_LAT, abs=0.01)
    assert lon[0] == pytest.approx(ARCH_LON, abs=0.01)
    assert lat[2] == pytest.approx(38.62, abs=0.01)
    assert lon[2] == pytest.approx(-90.19, abs=0.01)
    assert (lat[1], lon[1]) == (0, 0)  # not geocoded: the validator calls it invalid
    assert np.isnan(lat[3])
    result = validate(raw)
    assert reasons(result) == {
        ("raw/2017/april2017.csv", 2): "invalid_coordinates",
        ("raw/2017/may2017.csv", 2): "invalid_coordinates",
    }
    assert list(result.accepted["crime_type"]) == ["robbery", "vehicle_crime"]
    assert result.accepted["timestamp"].iloc[1] == pd.Timestamp("2017-05-10 13:30")


def test_loader_with_lat_lon_and_several_id_columns(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "events.csv",
        ["Ref", "Part", "When", "Lat", "Lon", "Type"],
        [
            ["A", "1", "2019-01-02", "51.5", "-0.1", "Burglary"],
            ["A", "2", "2019-01-03", " ", "-0.1", "Robbery"],
            ["", "", "2019-01-04", "51.5", "-0.1", "Robbery"],
        ],
    )
    mapping = ColumnMapping(
        time_column="when",
        time_format="%Y-%m-%d",
        latitude_column="LAT",
        longitude_column="lon",
        category_column="Type",
        id_columns=("Ref", "Part"),
    )
    raw = load_mapped_csv([path], mapping=mapping)
    assert raw["event_id"].tolist()[:2] == ["A:1", "A:2"]
    assert pd.isna(raw["event_id"].iloc[2])
    assert raw["record_count"].tolist() == [1, 1, 1]
    result = validate_events(raw, areas=None, as_of=AS_OF, time_format="%Y-%m-%d")
    assert reasons(result) == {("events.csv", 2): "missing_coordinates"}
    assert result.accepted["event_id"].tolist() == ["A:1", "~row:events.csv:3"]


def test_loader_refuses_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="No CSV files given"):
        load_mapped_csv([], mapping=STL)
    with pytest.raises(FileNotFoundError, match=r"No CSV file at .*absent\.csv"):
        load_mapped_csv([tmp_path / "absent.csv"], mapping=STL)
    odd = write_csv(tmp_path / "odd.csv", [*HEADER[:5], "XCoords", "YCoord"], [stl_row("1")])
    with pytest.raises(ValueError, match=r"odd.csv: missing required column\(s\) \['XCoord'\]"):
        load_mapped_csv([odd], mapping=STL)
    with pytest.raises(ValueError, match="closest: 'XCoords'"):
        load_mapped_csv([odd], mapping=STL)
    empty = write_csv(tmp_path / "empty.csv", HEADER, [])
    blank = tmp_path / "blank.csv"
    blank.write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match=r"Empty input: the 2 CSV file\(s\)"):
        load_mapped_csv([empty, blank], mapping=STL)
    twin = write_csv(tmp_path / "sub" / "empty.csv", HEADER, [stl_row("1")])
    with pytest.raises(ValueError, match="distinct source names"):
        load_mapped_csv([empty, twin], mapping=STL)
    with pytest.raises(ValueError, match="not inside the root folder"):
        load_mapped_csv([empty], mapping=STL, root=tmp_path / "sub")
    ambiguous = write_csv(tmp_path / "amb.csv", [*HEADER, "X-Coord"], [[*stl_row("1"), "2"]])
    with pytest.raises(ValueError, match=r"amb\.csv: headers .* are ambiguous"):
        load_mapped_csv([ambiguous], mapping=STL)
    latin = tmp_path / "latin.csv"
    latin.write_bytes(",".join(HEADER).encode() + b"\n\xe9,,,,,,\n")
    utf8 = STL.model_copy(update={"encoding": "utf-8"})
    with pytest.raises(ValueError, match=r"latin\.csv: cannot be read as a utf-8 CSV.*'cp1252'"):
        load_mapped_csv([latin], mapping=utf8)
    assert load_mapped_csv([latin], mapping=STL)["event_id"].tolist() == ["\u00e9"]


def test_cp1252_bytes_behind_a_utf8_bom_are_read(tmp_path: Path) -> None:
    path = tmp_path / "january2017.csv"
    body = ",".join(HEADER) + "\r\n" + ",".join(stl_row("O\u2019BRIEN")) + "\r\n"
    path.write_bytes(b"\xef\xbb\xbf" + body.encode("cp1252"))
    raw = load_mapped_csv([path], mapping=STL)
    assert raw["event_id"].tolist() == ["O\u2019BRIEN"]
    assert raw["timestamp"].tolist() == ["04/02/2017 13:30"]


# --- reversals -----------------------------------------------------------------------------------


def test_reversal_reclassification_orphan_and_invalid_count(tmp_path: Path) -> None:
    rows = [
        stl_row("R1"),  # 1: cancelled by row 3
        stl_row("R1", count="1", crime="51111"),  # 2: different code, survives
        stl_row("R1", count="-1"),  # 3: reversal of row 1
        stl_row("C1", crime="31111"),  # 4: old code, cancelled by row 5
        stl_row("C1", count="-1", crime="31111"),  # 5: reclassified...
        stl_row("C1", count="1", crime="41111"),  # 6: ...to a new code, kept
        stl_row("O1", count="-1"),  # 7: orphan: nothing earlier
        stl_row("O2", count="-1", x="0", y="0"),  # 8: reversal before its record: orphan
        stl_row("O2"),  # 9: kept
        stl_row("B1", count="2"),  # 10
        stl_row("B2", count="0"),  # 11
        stl_row("B3", count="many"),  # 12
        stl_row("B4", count=""),  # 13
    ]
    path = write_csv(tmp_path / "april2017.csv", HEADER, rows, bom=True)
    raw = load_mapped_csv([path], mapping=STL)
    result = validate(raw)
    by_row = {row: reason for (_, row), reason in reasons(result).items()}
    assert by_row == {
        1: "cancelled_by_reversal",
        3: "reversal_row",
        4: "cancelled_by_reversal",
        5: "reversal_row",
        7: "reversal_row",
        8: "reversal_row",
        10: "invalid_count",
        11: "invalid_count",
        12: "invalid_count",
        13: "invalid_count",
    }
    accepted = result.accepted.set_index("event_id")["crime_type"].astype(str).to_dict()
    assert accepted == {"C1": "violence_sexual", "O2": "robbery", "R1": "burglary"}
    detail = dict(zip(result.quarantine["source_row"], result.quarantine["detail"], strict=True))
    assert detail[1] == "cancelled by the reversal at april2017.csv row 3"
    assert detail[3] == "cancels the record at april2017.csv row 1"
    assert detail[4] == "cancelled by the reversal at april2017.csv row 5"
    assert detail[7] == detail[8] == "no earlier record to cancel"
    assert detail[10] == "record count 2 is not 1 (a record) or -1 (a reversal)"
    assert detail[12] == "record count <empty> is not 1 (a record) or -1 (a reversal)"


def test_two_reversals_cancel_the_two_earliest_records_in_order() -> None:
    raw = pd.DataFrame(
        {
            "source_file": "f.csv",
            "source_row": range(1, 7),
            "event_id": ["A"] * 6,
            "timestamp": ["2019-01-01"] * 6,
            "crime_type": ["Burglary"] * 6,
            "latitude": ["51.5"] * 6,
            "longitude": ["-0.1"] * 6,
            "record_count": [1, -1, -1, -1, 1, 1],
        }
    )
    result = validate_events(raw, areas=None, as_of=AS_OF)
    by_row = dict(zip(result.quarantine["source_row"], result.quarantine["reason"], strict=True))
    assert by_row == {
        1: "cancelled_by_reversal",
        2: "reversal_row",
        3: "reversal_row",
        4: "reversal_row",
        6: "duplicate_id",
    }
    detail = dict(zip(result.quarantine["source_row"], result.quarantine["detail"], strict=True))
    assert detail[3] == detail[4] == "no earlier record to cancel"


def reference_reversals(keys: list[str], counts: list[int]) -> dict[int, str]:
    """The rule written as a plain loop: each -1 cancels the earliest kept earlier +1 of its key."""
    out: dict[int, str] = {}
    for i, (key, count) in enumerate(zip(keys, counts, strict=True)):
        if count not in (1, -1):
            out[i] = "invalid_count"
        elif count == -1:
            out[i] = "reversal_row"
            for j in range(i):
                if keys[j] == key and counts[j] == 1 and j not in out:
                    out[j] = "cancelled_by_reversal"
                    break
    return out


ROW = st.tuples(
    st.sampled_from(["A", "B", "C", ""]),  # complaint
    st.sampled_from(["1", "-1", "-1", "0", "2", "x", ""]),  # count
    st.sampled_from(["31111", "41111", "91000", "abc", ""]),  # crime code
    st.sampled_from([(ARCH_X, ARCH_Y), ("0", "0"), ("", "")]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files=st.lists(st.lists(ROW, max_size=8), min_size=1, max_size=2))
def test_property_every_row_accounted_and_reversals_match_reference(
    files: list[list[tuple[str, str, str, tuple[str, str]]]],
) -> None:
    if not any(files):
        return  # all-empty input is refused; covered by its own test
    with tempfile.TemporaryDirectory() as folder:
        paths = [
            write_csv(
                Path(folder) / f"month{i}.csv",
                MAY_HEADER if i % 2 else HEADER,
                [stl_row(c, count=n, crime=code, x=xy[0], y=xy[1]) for c, n, code, xy in rows],
                bom=i == 0,
            )
            for i, rows in enumerate(files)
        ]
        raw = load_mapped_csv(paths, mapping=STL)
    assert len(raw) == sum(len(rows) for rows in files)
    result = validate(raw)
    q = result.quarantine
    assert (q["reason"] == "cancelled_by_reversal").sum() <= (q["reason"] == "reversal_row").sum()
    assert result.accepted["event_id"].is_unique
    event_id = raw["event_id"].fillna(raw["source_file"] + ":" + raw["source_row"].astype(str))
    keys = (event_id + "|" + raw["source_category"].fillna("")).tolist()
    counts = [int(v) if pd.notna(v) else 99 for v in raw["record_count"]]
    expected = reference_reversals(keys, counts)
    got = {
        i: r
        for i, r in enumerate(
            raw[["source_file", "source_row"]].merge(
                q, how="left", on=["source_file", "source_row"]
            )["reason"]
        )
        if r in ("invalid_count", "reversal_row", "cancelled_by_reversal")
    }
    assert got == expected


# --- real data -----------------------------------------------------------------------------------


@pytest.mark.realdata
def test_reads_real_st_louis_months_including_may_2017() -> None:
    if not STL_DATA.exists():
        pytest.skip(f"real data not present at {STL_DATA}")
    paths = [STL_DATA / "raw" / "2017" / "april2017.csv", STL_DATA / "raw" / "2017" / "may2017.csv"]
    raw = load_mapped_csv(paths, mapping=STL_PRESET, root=STL_DATA)
    lines = sum(len(p.read_text(encoding="utf-8-sig").splitlines()) - 1 for p in paths)
    assert len(raw) == lines
    assert set(raw["source_file"]) == {"raw/2017/april2017.csv", "raw/2017/may2017.csv"}
    result = validate(raw)
    reasons_seen = set(result.quarantine["reason"])
    # Part II offences are out of scope on purpose: excluded, never unknown
    assert {"reversal_row", "cancelled_by_reversal", "excluded_category"} <= reasons_seen
    assert "unknown_category" not in reasons_seen
    assert "unparseable_date" not in reasons_seen
    geocoded = (pd.to_numeric(raw["source_x"]) != 0) & (pd.to_numeric(raw["source_y"]) != 0)
    lat = pd.to_numeric(raw["latitude"][geocoded])
    lon = pd.to_numeric(raw["longitude"][geocoded])
    inside = lat.between(38.5, 38.8) & lon.between(-90.4, -90.1)
    assert inside.mean() > 0.95
    assert not result.accepted.empty
    assert result.accepted["latitude"].between(38.5, 38.8).mean() > 0.95


# --- files Arrow's reader refuses are read as pandas reads them ----------------------------------


def test_short_rows_and_repeated_headers_are_read_as_pandas_reads_them(tmp_path: Path) -> None:
    short = tmp_path / "short.csv"
    body = [",".join(HEADER), ",".join(stl_row("S1")), "S2,2017-04,04/02/2017 13:30,1,31111"]
    short.write_text("\n".join(body) + "\n", encoding="utf-8")
    raw = load_mapped_csv([short], mapping=STL)
    assert raw["event_id"].tolist() == ["S1", "S2"]
    assert raw["source_x"].isna().tolist() == [False, True]  # the missing fields are blank
    assert reasons(validate(raw)) == {("short.csv", 2): "missing_coordinates"}
    repeated = write_csv(tmp_path / "twice.csv", [*HEADER, "Crime"], [[*stl_row("T1"), "x"]])
    assert load_mapped_csv([repeated], mapping=STL)["source_category"].tolist() == ["31111"]


# --- hostile and odd files -----------------------------------------------------------------------


def test_empty_files_are_named_with_why_and_warned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = write_csv(tmp_path / "jan.csv", HEADER, [stl_row("1")])
    header_only = write_csv(tmp_path / "feb.csv", HEADER, [])
    zero = tmp_path / "mar.csv"
    zero.write_bytes(b"")
    bom_only = tmp_path / "apr.csv"
    bom_only.write_bytes(b"\xef\xbb\xbf\r\n")
    with caplog.at_level(logging.WARNING, logger="features.ingest.mapped_csv"):
        source = read_mapped_csv([good, header_only, zero, bom_only], mapping=STL)
    assert source.empty_files == {
        "feb.csv": "header_only",
        "mar.csv": "zero_bytes",
        "apr.csv": "no_header",
    }
    assert source.events["source_file"].tolist() == ["jan.csv"]
    for name in source.empty_files:
        assert f"{name} holds no rows" in caplog.text


def test_extra_field_in_first_row_is_refused_not_shifted(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "extra.csv", HEADER, [[*stl_row("E1"), "stray"], stl_row("E2")])
    with pytest.raises(
        ValueError,
        match=r"extra\.csv: not well-formed CSV \(the first data row has 8 fields but the "
        r"header has 7",
    ):
        load_mapped_csv([path], mapping=STL)
    later = write_csv(tmp_path / "later.csv", HEADER, [stl_row("E1"), [*stl_row("E2"), "stray"]])
    with pytest.raises(ValueError, match=r"later\.csv: not well-formed CSV \(.*Expected 7 fields"):
        load_mapped_csv([later], mapping=STL)


def test_refuses_a_folder_or_link_loop_named_like_a_csv(tmp_path: Path) -> None:
    folder = tmp_path / "june.csv"
    folder.mkdir()
    with pytest.raises(ValueError, match=r"june\.csv is a folder, not a CSV file"):
        load_mapped_csv([folder], mapping=STL)
    loop = tmp_path / "july.csv"
    loop.symlink_to(loop.name)
    with pytest.raises(ValueError, match=r"july\.csv is a symbolic link that loops back"):
        load_mapped_csv([loop], mapping=STL)


TWO_IDS = STL.model_copy(update={"id_columns": ("Complaint", "Crime"), "category_map": None})


def test_multi_column_ids_cannot_collide(tmp_path: Path) -> None:
    # Joined plainly with ":", both rows would read "a:b:c" and the second be a duplicate.
    rows = [stl_row("a:b", crime="c"), stl_row("a", crime="b:c"), stl_row("a\\", crime="b")]
    path = write_csv(tmp_path / "ids.csv", HEADER, rows)
    raw = load_mapped_csv([path], mapping=TWO_IDS)
    assert raw["event_id"].tolist() == ["a\\:b:c", "a:b\\:c", "a\\\\:b"]
    assert raw["event_id"].is_unique
    plain = write_csv(tmp_path / "plain.csv", HEADER, [stl_row("15-000123", crime="31111")])
    assert load_mapped_csv([plain], mapping=TWO_IDS)["event_id"].tolist() == ["15-000123:31111"]


ID_PART = st.one_of(st.none(), st.text(alphabet="ab:\\", min_size=1, max_size=4))


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.tuples(ID_PART, ID_PART, ID_PART), min_size=1, max_size=12))
def test_property_joined_ids_are_equal_only_for_equal_parts(
    rows: list[tuple[str | None, str | None, str | None]],
) -> None:
    columns = [pd.Series([r[i] for r in rows], dtype="string") for i in range(3)]
    joined = join_id_columns(columns).tolist()
    for (i, a), (j, b) in itertools.combinations(enumerate(rows), 2):
        if pd.isna(joined[i]) or pd.isna(joined[j]):
            assert pd.isna(joined[i]) == all(v is None for v in a)
            continue
        # a null part reads as blank, as it always has
        assert (joined[i] == joined[j]) == ([v or "" for v in a] == [v or "" for v in b])


# --- fuzz: ragged rows and empty files through both readers -------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    files=st.lists(
        st.lists(
            st.tuples(
                st.sampled_from(["A", "B:1", "", "~x", "a\\"]),
                st.integers(min_value=-3, max_value=2),  # fields missing (-) or extra (+)
            ),
            max_size=5,
        ),
        min_size=1,
        max_size=3,
    ),
    bom=st.booleans(),
)
def test_fuzz_ragged_rows_never_shift_a_column(
    files: list[list[tuple[str, int]]], bom: bool
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, rows in enumerate(files):
            body = [stl_row(c) for c, _ in rows]
            body = [
                row[: len(row) + extra] if extra < 0 else [*row, *["9"] * extra]
                for row, (_, extra) in zip(body, rows, strict=True)
            ]
            paths.append(write_csv(Path(tmp) / f"m{i}.csv", HEADER, body, bom=bom))
        long_file = next(
            (f"m{i}.csv" for i, r in enumerate(files) if any(e > 0 for _, e in r)), None
        )
        if long_file is not None:
            with pytest.raises(ValueError, match=rf"{long_file}: not well-formed CSV"):
                read_mapped_csv(paths, mapping=STL)
            return
        if not any(files):
            with pytest.raises(ValueError, match="Empty input"):
                read_mapped_csv(paths, mapping=STL)
            return
        source = read_mapped_csv(paths, mapping=STL)
    assert source.empty_files == {f"m{i}.csv": "header_only" for i, r in enumerate(files) if not r}
    raw = source.events
    # each value in its own column: the complaint is the id, the date where the file put it
    assert raw["event_id"].fillna("").tolist() == [c for rows in files for c, _ in rows]
    assert raw["timestamp"].eq("04/02/2017 13:30").all()
    result = validate(raw)
    assert result.accepted["event_id"].is_unique


# --- the mapping's time zone and the study period ------------------------------------------------


def test_mapping_time_zone_turns_offsets_into_local_time(tmp_path: Path) -> None:
    mapping = STL.model_copy(update={"time_format": "%Y-%m-%dT%H:%M:%S%z"})
    rows = [
        stl_row("Z1", when="2019-03-10T07:30:00Z"),
        stl_row("Z2", when="2019-03-10T08:30:00+00:00"),
        stl_row("Z3", when="2019-11-03T06:30:00-0000"),
        stl_row("Z4", when="2019-11-03T01:30:00-0600"),
    ]
    raw = load_mapped_csv([write_csv(tmp_path / "zoned.csv", HEADER, rows)], mapping=mapping)
    result = validate_events(
        raw,
        areas=None,
        as_of=AS_OF,
        time_format=mapping.time_format,
        time_zone=mapping.time_zone,
    )
    got = result.accepted.set_index("event_id")["timestamp"].to_dict()
    assert got == {
        "Z1": pd.Timestamp("2019-03-10 01:30"),
        "Z2": pd.Timestamp("2019-03-10 03:30"),
        "Z3": pd.Timestamp("2019-11-03 01:30"),
        "Z4": pd.Timestamp("2019-11-03 01:30"),
    }


@pytest.mark.realdata
def test_real_st_louis_2015_holds_crimes_from_before_the_study_period() -> None:
    if not STL_DATA.exists():
        pytest.skip(f"real data not present at {STL_DATA}")
    paths = sorted((STL_DATA / "raw" / "2015").glob("*.csv"))
    raw = load_mapped_csv(paths, mapping=STL, root=STL_DATA)
    result = validate_events(
        raw,
        areas=None,
        as_of=AS_OF,
        time_format=STL.time_format,
        time_zone=STL.time_zone,
        not_before=pd.Timestamp("2015-01-01"),
    )
    early = result.quarantine[result.quarantine["reason"] == "before_start"]
    assert len(early) > 100
    assert (
        early["detail"].str.endswith("is before the study period starts (2015-01-01 00:00)").all()
    )
    years = raw.set_index(["source_file", "source_row"]).loc[
        list(zip(early["source_file"], early["source_row"], strict=True)), "timestamp"
    ]
    assert pd.to_datetime(years, format=STL.time_format).dt.year.min() < 2000
    assert result.accepted["timestamp"].min() >= pd.Timestamp("2015-01-01")

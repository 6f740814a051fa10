"""data.police.uk crimes-street API responses (files, folders, archives) and refused inputs."""

from __future__ import annotations

import io
import json
import logging
import re
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from police_uk_checks import reasons, validate

from features.ingest.police_uk_api import load_police_uk_api_json, read_police_uk_api_json
from features.ingest.validation import QUARANTINE_REASONS

SHARED_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
API_ARCHIVE = (
    SHARED_DATA
    / "london-police-api-2016-2018"
    / "ward-level-crime-data_london_month_2016-01_2018-06.tar.xz"
)


# --- API JSON: crimes-street responses -----------------------------------------------------------


def api_record(
    crime_id: Any = 1,
    category: Any = "burglary",
    month: Any = "2016-01",
    latitude: Any = "51.428812",
    longitude: Any = "-0.309403",
) -> dict[str, Any]:
    return {
        "category": category,
        "location_type": "Force",
        "location": {
            "latitude": latitude,
            "street": {"id": 938076, "name": "On or near Manston Grove"},
            "longitude": longitude,
        },
        "context": "",
        "outcome_status": None,
        "persistent_id": "",
        "id": crime_id,
        "location_subtype": "",
        "month": month,
    }


def write_json(path: Path, payload: object) -> Path:
    path.write_text(json.dumps(payload), encoding="utf-8")
    return path


def test_api_json_validates_with_exact_reasons(tmp_path: Path) -> None:
    first = write_json(
        tmp_path / "ward_a.json",
        [
            api_record(1),
            api_record(2, category="anti-social-behaviour"),
            api_record(3, latitude=None, longitude=None),
        ],
    )
    second = write_json(
        tmp_path / "ward_b.json",
        [
            api_record(2, category="anti-social-behaviour"),  # the polygons overlap
            api_record(4, category="alien-abduction"),
            api_record(5, category="violent-crime", month="2016-02"),
        ],
    )
    raw = load_police_uk_api_json([first, second])
    assert raw["event_id"].tolist() == ["1", "2", "3", "2", "4", "5"]
    assert raw["timestamp"].tolist()[-1] == "2016-02-01"
    assert raw["area_code"].isna().all()
    accepted, quarantine = validate(raw)
    assert reasons(quarantine) == [
        ("ward_a.json", 3, "missing_coordinates"),
        ("ward_b.json", 1, "duplicate_id"),
        ("ward_b.json", 2, "unknown_category"),
    ]
    assert sorted(accepted["event_id"]) == ["1", "2", "5"]
    assert sorted(accepted["crime_type"]) == [
        "anti_social_behaviour",
        "burglary",
        "violence_sexual",
    ]


def test_api_json_refuses_no_paths() -> None:
    with pytest.raises(ValueError, match=r"No data\.police\.uk API response files given"):
        load_police_uk_api_json([])


def test_api_json_refuses_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"No data\.police\.uk API response file at .*gone"):
        load_police_uk_api_json([tmp_path / "gone.json"])


def test_api_json_refuses_bad_json(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('[{"id": 1,\n "category": }]', encoding="utf-8")
    with pytest.raises(
        ValueError,
        match=r"bad\.json: not valid JSON \(Expecting value at line 2, column 14, char 24\)",
    ):
        load_police_uk_api_json([bad])


def test_api_json_refuses_non_list(tmp_path: Path) -> None:
    path = write_json(tmp_path / "obj.json", {"crimes": []})
    with pytest.raises(
        ValueError, match=r"obj\.json: the top level must be a JSON list .*got dict"
    ):
        load_police_uk_api_json([path])


def test_api_json_refuses_missing_keys(tmp_path: Path) -> None:
    record = api_record(2)
    del record["location"], record["month"]
    path = write_json(tmp_path / "keys.json", [api_record(1), record])
    with pytest.raises(
        ValueError,
        match=re.escape("keys.json: record 1 lacks required key(s) ['month', 'location']"),
    ):
        load_police_uk_api_json([path])


def test_api_json_refuses_missing_location_keys(tmp_path: Path) -> None:
    record = api_record(1)
    del record["location"]["longitude"]
    path = write_json(tmp_path / "loc.json", [record])
    with pytest.raises(
        ValueError, match=re.escape("record 0 lacks required key(s) ['location.longitude']")
    ):
        load_police_uk_api_json([path])


def test_api_json_refuses_non_object_record(tmp_path: Path) -> None:
    path = write_json(tmp_path / "num.json", [api_record(1), 7])
    with pytest.raises(ValueError, match=r"record 1 must be a JSON object .*got int"):
        load_police_uk_api_json([path])


def test_api_json_refuses_all_empty_and_clashing_names(tmp_path: Path) -> None:
    empty = write_json(tmp_path / "empty.json", [])
    with pytest.raises(
        ValueError, match=r"Empty input: the 1 API response file\(s\) hold no records"
    ):
        load_police_uk_api_json([empty])
    (tmp_path / "other").mkdir()
    twin = write_json(tmp_path / "other" / "empty.json", [api_record()])
    with pytest.raises(ValueError, match=r"distinct names.*\['empty\.json'\]"):
        load_police_uk_api_json([empty, twin])


# --- property test: nothing malformed crashes, every row is accounted for --------------------

JSON_SCALAR = st.one_of(
    st.none(),
    st.text(max_size=10),
    st.sampled_from(["2016-01", "2016-1", "burglary", "drugs", "51.5", "-0.1", "", "0"]),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
)
JSON_VALUE = st.one_of(
    JSON_SCALAR,
    st.lists(JSON_SCALAR, max_size=2),
    st.dictionaries(st.text(max_size=3), JSON_SCALAR, max_size=2),
)
LOCATION = st.one_of(
    JSON_SCALAR,
    st.fixed_dictionaries(
        {"latitude": JSON_VALUE, "longitude": JSON_VALUE},
        optional={"street": st.dictionaries(st.text(max_size=3), JSON_SCALAR, max_size=2)},
    ),
)
RECORD = st.fixed_dictionaries(
    {
        "id": st.one_of(st.integers(min_value=0, max_value=5), JSON_VALUE),
        "category": JSON_VALUE,
        "month": JSON_VALUE,
        "location": LOCATION,
    },
    optional={"context": JSON_VALUE, "outcome_status": JSON_VALUE, "persistent_id": JSON_VALUE},
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files=st.lists(st.lists(RECORD, max_size=6), min_size=1, max_size=3))
def test_api_json_property_every_row_accounted(files: list[list[dict[str, Any]]]) -> None:
    if not any(files):
        return  # all-empty input is refused; covered by its own test
    with tempfile.TemporaryDirectory() as folder:
        paths = [write_json(Path(folder) / f"ward_{i}.json", recs) for i, recs in enumerate(files)]
        raw = load_police_uk_api_json(paths)
        assert len(raw) == sum(len(recs) for recs in files)
        accepted, quarantine = validate(raw)
    assert set(quarantine["reason"]) <= set(QUARANTINE_REASONS)
    assert accepted["event_id"].is_unique


# --- real data: the first API responses of the London archive ------------------------------------


@pytest.mark.realdata
def test_api_json_reads_real_london_responses(tmp_path: Path) -> None:
    if not API_ARCHIVE.exists():
        pytest.skip(f"real data not present at {API_ARCHIVE}")
    paths: list[Path] = []
    # xz decompresses sequentially, so stream and take the first members only
    with tarfile.open(API_ARCHIVE, mode="r|xz") as archive:
        for member in archive:
            if not (member.isfile() and member.name.endswith(".json")):
                continue
            handle = archive.extractfile(member)
            assert handle is not None
            paths.append(tmp_path / Path(member.name).name)
            paths[-1].write_bytes(handle.read())
            if len(paths) == 5:
                break
    assert len(paths) == 5
    records = sum(len(json.loads(p.read_text(encoding="utf-8"))) for p in paths)
    raw = load_police_uk_api_json(paths)
    assert len(raw) == records
    accepted, quarantine = validate(raw)
    assert "unknown_category" not in set(quarantine["reason"])
    assert not accepted.empty
    assert set(quarantine["reason"]) <= {"duplicate_id", "missing_coordinates"}


# --- API responses in folders and archives -------------------------------------------------------

ARCHIVE_KINDS = (".tar", ".tar.gz", ".tar.xz", ".zip")


def json_bytes(records: list[dict[str, Any]]) -> bytes:
    return json.dumps(records).encode("utf-8")


def write_archive(path: Path, members: dict[str, bytes], *, folders: tuple[str, ...] = ()) -> Path:
    """An archive holding ``members`` in the order given (folder entries first)."""
    if path.name.endswith(".zip"):
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for folder in folders:
                archive.writestr(folder.rstrip("/") + "/", b"")
            for name, data in members.items():
                archive.writestr(name, data)
        return path
    mode = {".tar": "w", ".tar.gz": "w:gz", ".tar.xz": "w:xz"}[
        next(k for k in (".tar.gz", ".tar.xz", ".tar") if path.name.endswith(k))
    ]
    with tarfile.open(path, mode) as archive:  # type: ignore[call-overload]
        for folder in folders:
            info = tarfile.TarInfo(folder.rstrip("/"))
            info.type = tarfile.DIRTYPE
            archive.addfile(info)
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


# Members out of name order, under one wrapper folder, with a file that is not a response.
WARD_MEMBERS = {
    "dump/2016_02/ward_a.json": json_bytes([api_record(5, month="2016-02")]),
    "dump/2016_01/ward_b.json": json_bytes([api_record(3), api_record(4, latitude=None)]),
    "dump/2016_01/ward_a.json": json_bytes([api_record(1), api_record(2)]),
    "dump/ward_ids.csv": b"ward\nE05000001\n",
}
WARD_NAMES = ["2016_01/ward_a.json"] * 2 + ["2016_01/ward_b.json"] * 2 + ["2016_02/ward_a.json"]


@pytest.mark.parametrize("suffix", ARCHIVE_KINDS)
def test_api_archive_members_in_name_order_without_the_wrapper_folder(
    tmp_path: Path, suffix: str, caplog: pytest.LogCaptureFixture
) -> None:
    archive = write_archive(
        tmp_path / f"wards{suffix}", WARD_MEMBERS, folders=("dump", "dump/2016_01")
    )
    with caplog.at_level(logging.INFO, logger="features.ingest.police_uk_api"):
        raw = load_police_uk_api_json(archive)
    assert raw["source_file"].tolist() == WARD_NAMES
    assert raw["source_row"].tolist() == [1, 2, 1, 2, 1]
    assert raw["event_id"].tolist() == ["1", "2", "3", "4", "5"]
    assert raw["timestamp"].tolist()[-1] == "2016-02-01"
    assert pd.isna(raw.loc[3, "latitude"])
    assert "ignored 1 member(s)" in caplog.text and "dump/ward_ids.csv" in caplog.text
    accepted, quarantine = validate(raw)
    assert reasons(quarantine) == [("2016_01/ward_b.json", 2, "missing_coordinates")]
    assert len(accepted) == 4


def test_api_folder_and_its_archive_give_the_same_frame(tmp_path: Path) -> None:
    folder = tmp_path / "dump"
    for name, data in WARD_MEMBERS.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    archive = write_archive(tmp_path / "dump.tar.gz", WARD_MEMBERS)
    from_folder = load_police_uk_api_json(folder)
    assert from_folder["source_file"].tolist() == WARD_NAMES
    pd.testing.assert_frame_equal(from_folder, load_police_uk_api_json([archive]))


def test_api_inputs_mix_in_the_order_given(tmp_path: Path) -> None:
    single = write_json(tmp_path / "extra.json", [api_record(9)])
    archive = write_archive(tmp_path / "one.zip", {"x/ward.json": json_bytes([api_record(8)])})
    raw = load_police_uk_api_json([single, archive])
    assert raw["source_file"].tolist() == ["extra.json", "ward.json"]  # lone member: its name
    assert raw["event_id"].tolist() == ["9", "8"]
    twin = write_json(tmp_path / "ward.json", [api_record(7)])
    with pytest.raises(ValueError, match=r"distinct names.*\['ward\.json'\]"):
        load_police_uk_api_json([archive, twin])


def test_api_archive_skips_macos_resource_forks(tmp_path: Path) -> None:
    members = {
        "a/ward.json": json_bytes([api_record(1)]),
        "__MACOSX/a/._ward.json": b"\x00\x05\x16\x07 binary",
        "a/._ward.json": b"\x00\x05\x16\x07 binary",
    }
    raw = load_police_uk_api_json(write_archive(tmp_path / "mac.zip", members))
    assert raw["source_file"].tolist() == ["ward.json"]


def test_api_zero_byte_response_is_empty_and_warned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    members = {
        "d/ward_a.json": b"",
        "d/ward_b.json": json_bytes([api_record(1)]),
        "d/ward_c.json": b"[]",  # a complete answer: no crime there that month
    }
    with caplog.at_level(logging.WARNING, logger="features.ingest.police_uk_api"):
        source = read_police_uk_api_json(write_archive(tmp_path / "w.tar.xz", members))
    assert source.events["source_file"].tolist() == ["ward_b.json"]
    assert source.empty_files == {"ward_a.json": "zero_bytes"}
    assert "ward_a.json holds no rows (zero bytes, as an interrupted download" in caplog.text
    assert "ward_c.json" not in caplog.text


@pytest.mark.parametrize("suffix", ARCHIVE_KINDS)
def test_api_corrupt_archive_names_it(tmp_path: Path, suffix: str) -> None:
    whole = write_archive(
        tmp_path / f"whole{suffix}", {"d/a.json": json_bytes([api_record()] * 50)}
    )
    broken = tmp_path / f"broken{suffix}"
    broken.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(ValueError, match=rf"broken{re.escape(suffix)}: cannot be read as a"):
        load_police_uk_api_json(broken)


def test_api_junk_and_zero_byte_archives_are_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"this is not an archive " * 40)
    with pytest.raises(ValueError, match=r"junk\.tar\.gz: cannot be read as a tar archive"):
        load_police_uk_api_json(junk)
    nothing = tmp_path / "nothing.zip"
    nothing.write_bytes(b"")
    with pytest.raises(ValueError, match=r"nothing\.zip: cannot be read as a zip archive"):
        load_police_uk_api_json(nothing)


@pytest.mark.parametrize("suffix", ARCHIVE_KINDS)
def test_api_archive_without_responses_is_refused(tmp_path: Path, suffix: str) -> None:
    empty = write_archive(tmp_path / f"empty{suffix}", {"d/readme.txt": b"hello"}, folders=("d",))
    with pytest.raises(
        ValueError,
        match=rf"empty{re.escape(suffix)}: the archive holds no \*\.json members "
        r"\(1 other member\(s\) ignored\)",
    ):
        load_police_uk_api_json(empty)


def test_api_bad_member_error_names_archive_and_member(tmp_path: Path) -> None:
    members = {"d/good.json": json_bytes([api_record()]), "d/bad.json": b'[{"id": 1,'}
    with pytest.raises(ValueError, match=r"w\.tar member d/bad\.json: not valid JSON \(Expecting"):
        load_police_uk_api_json(write_archive(tmp_path / "w.tar", members))


def test_api_folder_without_responses_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no responses here", encoding="utf-8")
    with pytest.raises(FileNotFoundError, match=r"No \*\.json files under .*; expected"):
        load_police_uk_api_json(tmp_path)


MEMBER_NAME = st.from_regex(r"[a-z]{1,6}(/[a-z0-9_]{1,6}){0,2}", fullmatch=True)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    members=st.dictionaries(MEMBER_NAME, st.lists(RECORD, max_size=5), min_size=1, max_size=5),
    suffix=st.sampled_from(ARCHIVE_KINDS),
)
def test_api_archive_property_no_row_is_lost(
    members: dict[str, list[dict[str, Any]]], suffix: str
) -> None:
    named = {f"{name}.json": records for name, records in members.items()}
    if not any(named.values()):
        return  # all-empty input is refused; covered by its own test
    with tempfile.TemporaryDirectory() as folder:
        archive = write_archive(
            Path(folder) / f"prop{suffix}", {n: json_bytes(r) for n, r in named.items()}
        )
        raw = load_police_uk_api_json(archive)
        accepted, quarantine = validate(raw)
        assert accepted["event_id"].is_unique
    assert len(raw) == sum(len(records) for records in named.values())
    assert not raw[["source_file", "source_row"]].duplicated().any()
    per_member = raw.groupby("source_file")["source_row"].agg(["size", "max"])
    assert (per_member["size"] == per_member["max"]).all()  # rows 1..n, none skipped
    assert raw["source_file"].is_monotonic_increasing  # members in name order
    assert set(quarantine["reason"]) <= set(QUARANTINE_REASONS)


@pytest.mark.realdata
def test_api_reads_the_whole_real_london_archive() -> None:
    if not API_ARCHIVE.exists():
        pytest.skip(f"real data not present at {API_ARCHIVE}")
    raw = load_police_uk_api_json(API_ARCHIVE)
    # counts from the data set's PROVENANCE.md
    assert len(raw) == 1_922_589
    assert raw["event_id"].nunique() == 1_830_104
    assert raw["source_file"].str.startswith("london_month_").all()
    # 14,425 responses, of which 290 are an empty list and one is an empty (zero-byte) file
    assert raw["source_file"].nunique() == 14_425 - 290 - 1


def test_api_lone_surrogate_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "odd.json"
    path.write_text(
        '[{"id": "\\ud800", "category": "drugs", "month": "2016-01", "location": null}]'
    )
    with pytest.raises(ValueError, match=r"odd\.json: a record holds text that is not valid"):
        load_police_uk_api_json([path])


# --- hostile and odd inputs ----------------------------------------------------------------------

DEEP = 100_000  # far past Python's recursion limit


@pytest.mark.parametrize(
    "body",
    [
        "[" * DEEP + "]" * DEEP,  # the whole response
        '[{"id": ' + "[" * DEEP + "]" * DEEP + ', "category": "drugs", "month": "2016-01", '
        '"location": null}]',  # one value
    ],
    ids=["response", "value"],
)
def test_api_deeply_nested_json_is_a_clear_error_naming_the_file(tmp_path: Path, body: str) -> None:
    path = tmp_path / "deep.json"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ValueError, match=r"deep\.json: JSON nested too deeply to read"):
        load_police_uk_api_json([path])
    archive = write_archive(tmp_path / "deep.tar.xz", {"d/ward.json": body.encode()})
    with pytest.raises(ValueError, match=r"deep\.tar\.xz member d/ward\.json: JSON nested too"):
        load_police_uk_api_json(archive)


def test_api_refuses_a_folder_or_link_loop_named_like_a_response(tmp_path: Path) -> None:
    write_json(tmp_path / "ward_a.json", [api_record(1)])
    (tmp_path / "ward_b.json").mkdir()
    with pytest.raises(ValueError, match=r"ward_b\.json is a folder, not a data\.police\.uk API"):
        load_police_uk_api_json(tmp_path)
    (tmp_path / "ward_b.json").rmdir()
    (tmp_path / "ward_b.json").symlink_to("ward_b.json")
    with pytest.raises(ValueError, match=r"ward_b\.json is a symbolic link that loops back"):
        load_police_uk_api_json(tmp_path)
    with pytest.raises(ValueError, match=r"ward_b\.json is a symbolic link that loops back"):
        load_police_uk_api_json([tmp_path / "ward_b.json"])


# --- fuzz: nesting at any depth is read or refused by name, never a RecursionError ---------------


@settings(max_examples=30, deadline=None)
@given(depth=st.integers(min_value=0, max_value=3000), where=st.sampled_from(["id", "location"]))
def test_fuzz_nesting_depth_is_read_or_refused_by_name(depth: int, where: str) -> None:
    nested = "[" * depth + "1" + "]" * depth
    record = {"id": 7, "category": "drugs", "month": "2016-01", "location": None}
    body = json.dumps([record]).replace(
        f'"{where}": {json.dumps(record[where])}', f'"{where}": {nested}'
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ward.json"
        path.write_text(body, encoding="utf-8")
        try:
            raw = load_police_uk_api_json([path])
        except ValueError as err:
            message = str(err)
            assert message.startswith(f"{path}: ")
            assert "nested too deeply" in message or "record 0" in message
        else:
            assert len(raw) == 1

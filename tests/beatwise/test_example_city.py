"""The example city: a made-up city's open-data files, the same on every machine."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import yaml
from readme_example import ROOT, worked_example

from beatwise.cli import main
from beatwise.example_city import CODE_BASE, write_example_city


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_example_city(tmp_path_factory.mktemp("city"), weeks=60)


def test_the_files_look_like_an_open_data_portal_s(city: dict[str, Path]) -> None:
    with gzip.open(city["events"], "rt", encoding="utf-8") as handle:
        events = pd.read_csv(handle, dtype=str, keep_default_na=False)
    assert list(events.columns) == ["Occurred", "Offense", "Longitude", "Latitude", "Victims"]
    assert set(events["Offense"]) == {"RESIDENTIAL BURGLARY"}
    assert events.duplicated().sum() > 0  # several victims of one incident, as published
    assert (events["Longitude"] == "").sum() > 0 and (events["Occurred"] == "UNKNOWN").sum() > 0
    tracts = gpd.read_file(city["tracts"])
    # the code is a number field: read back as 29999000100.0, as shapefiles store them
    assert tracts["GEOID"].dtype.kind == "f" and tracts["GEOID"].iloc[0] == CODE_BASE + 100
    census = pd.read_csv(city["census"], dtype=str)
    assert census["GEOID"].iloc[0] == str(CODE_BASE + 100)
    assert {"total_pop", "pct_minority", "pct_poverty"} <= set(census.columns)
    assert (census["total_pop"] == "0").sum() == 1  # a tract where nobody lives


def test_the_same_seed_writes_the_same_events(city: dict[str, Path], tmp_path: Path) -> None:
    again = write_example_city(tmp_path, weeks=60)
    assert again["events"].read_bytes() == city["events"].read_bytes()
    assert again["census"].read_bytes() == city["census"].read_bytes()
    other = write_example_city(tmp_path / "other", weeks=60, seed=8)
    assert other["events"].read_bytes() != city["events"].read_bytes()


def test_the_command_writes_and_refuses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["example-city", str(tmp_path / "c"), "--weeks", "10"]) == 0
    out = capsys.readouterr().out
    assert "city_crimes.csv.gz" in out and (tmp_path / "c" / "tracts.shp").is_file()
    with pytest.raises(SystemExit):
        main(["example-city", str(tmp_path / "c"), "--weeks", "0"])
    assert "must be a whole number, 1 or more" in capsys.readouterr().err


def test_a_bad_start_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="start must be a date"):
        write_example_city(tmp_path, start="soon")


def test_check_source_reads_the_example_with_the_readme_s_preset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name, preset, _ = worked_example()
    data = yaml.safe_load(preset)
    write_example_city(tmp_path / "riverton")
    data["ingest"]["data_dir"] = "riverton"  # beside the params file, as the README's is
    (tmp_path / name).write_text(yaml.safe_dump(data), encoding="utf-8")
    (tmp_path / "params.yaml").write_text(
        (ROOT / "params.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    code = main(
        [
            "check-source",
            "--params",
            str(tmp_path / "params.yaml"),
            "--preset",
            str(tmp_path / name),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "crime types   burglary" in out and "duplicate_id" not in out
    outside = re.search(r"(\d+) events fall outside them \(kept, in cells with no residents", out)
    assert outside and int(outside.group(1)) > 0, out
    # read + quarantined + accepted add up on the printed figures
    read, accepted, quarantined = (
        int(re.search(rf"{word}\s+([\d,]+) rows", out).group(1).replace(",", ""))  # type: ignore[union-attr]
        for word in ("read", "accepted", "quarantined")
    )
    assert accepted + quarantined == read

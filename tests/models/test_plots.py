"""The backtest plots: written atomically, into new folders, byte-identical for the same input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models import metrics as m
from models import plots as p

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _toy() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    lam = rng.gamma(0.5, 1.0, size=50)
    y = rng.poisson(np.tile(lam, (8, 1))).astype(np.float64)
    ids = np.arange(50, dtype=np.uint64)
    return y, np.tile(lam, (8, 1)), np.ones(50), ids


def _assert_png(path: Path) -> bytes:
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert b"Software" not in data  # no version-dependent metadata
    assert not [f for f in path.parent.iterdir() if f.name.endswith(".tmp")]
    return data


def test_capture_curves_png_is_deterministic(tmp_path: Path) -> None:
    y, s, areas, ids = _toy()
    grid = np.linspace(0, 1, 101)
    arrays = {"model": s, "last_week": np.roll(y, 1, axis=0), "oracle": y, "truth": s}
    kw = {"areas_km2": areas, "cell_ids": ids, "coverages": grid}
    curves = {name: m.capture_curve(y, v, **kw).hit_rate for name, v in arrays.items()}
    first = tmp_path / "new" / "folder" / "capture.png"
    second = tmp_path / "capture_again.png"
    p.plot_capture_curves(grid, curves, first)
    p.plot_capture_curves(grid, curves, second)
    assert _assert_png(first) == _assert_png(second)


def test_the_capture_curves_name_the_operational_coverage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    y, s, areas, ids = _toy()
    grid = np.linspace(0, 1, 101)
    curve = m.capture_curve(y, s, areas_km2=areas, cell_ids=ids, coverages=grid).hit_rate
    drawn: list[object] = []
    monkeypatch.setattr(p, "_save", lambda fig, path: drawn.append(fig) or path)
    p.plot_capture_curves(grid, {"model": curve}, tmp_path / "c.png", headline_coverage=0.1)
    labels = [t.get_text() for t in drawn[0].axes[0].get_legend().get_texts()]  # type: ignore[attr-defined]
    assert "operational coverage (10% of the area)" in labels


def test_calibration_png_handles_empty_deciles(tmp_path: Path) -> None:
    y, s, _, _ = _toy()
    s = s.copy()
    s[:, :30] = 0.0  # many ties: some deciles are empty
    table = m.calibration_by_decile(y, s)
    assert (table.n == 0).any()
    out = p.plot_calibration_by_decile(table, tmp_path / "plots" / "calibration.png")
    again = p.plot_calibration_by_decile(table, tmp_path / "calibration2.png")
    assert _assert_png(out) == _assert_png(again)


def test_period_pai_png_with_dates_and_gaps(tmp_path: Path) -> None:
    y, s, areas, ids = _toy()
    y[3] = 0  # a week without events: a gap in both lines
    weeks = np.datetime64("2024-01-01") + np.arange(8) * np.timedelta64(7, "D")
    kw = {"areas_km2": areas, "cell_ids": ids, "coverage": 0.05}
    model = m.pai(y, s, **kw).weekly
    base = m.pai(y, np.roll(y, 1, axis=0), **kw).weekly
    out = p.plot_period_pai(weeks, model, base, tmp_path / "pai.png", baseline_name="last_week")
    again = p.plot_period_pai(weeks, model, base, tmp_path / "pai2.png", baseline_name="last_week")
    assert _assert_png(out) == _assert_png(again)
    overwritten = p.plot_period_pai(weeks, model, base, out, baseline_name="last_week")
    assert _assert_png(overwritten) == _assert_png(again)
    months = np.datetime64("2024-01", "M") + np.arange(8)
    monthly = p.plot_period_pai(
        months, model, base, tmp_path / "pai_m.png", baseline_name="last_month", period="month"
    )
    assert _assert_png(monthly) != _assert_png(out)  # other dates and title


def test_plot_refusals(tmp_path: Path) -> None:
    grid = np.linspace(0, 1, 5)
    with pytest.raises(ValueError, match=r"curves\['model'\] must have 5 values.*Got 4"):
        p.plot_capture_curves(grid, {"model": np.zeros(4)}, tmp_path / "x.png")
    with pytest.raises(ValueError, match="at least one named curve"):
        p.plot_capture_curves(grid, {}, tmp_path / "x.png")
    with pytest.raises(ValueError, match="pai_baseline must have 3 values"):
        p.plot_period_pai(
            np.arange(3), np.ones(3), np.ones(2), tmp_path / "x.png", baseline_name="b"
        )
    assert not (tmp_path / "x.png").exists()


def test_period_pai_accepts_a_list_of_timestamps(tmp_path: Path) -> None:
    weeks = [pd.Timestamp("2024-01-01") + pd.Timedelta(weeks=i) for i in range(3)]
    arr = np.array(weeks, dtype="datetime64[ns]")
    a = p.plot_period_pai(
        weeks, [1.0, 2.0, 3.0], [1.0, 1.0, 1.0], tmp_path / "a.png", baseline_name="b"
    )
    b = p.plot_period_pai(
        arr, [1.0, 2.0, 3.0], [1.0, 1.0, 1.0], tmp_path / "b.png", baseline_name="b"
    )
    assert _assert_png(a) == _assert_png(b)


def test_feature_importance_png(tmp_path: Path) -> None:
    imp = pd.DataFrame({"feature": [f"f{i}" for i in range(30)], "gain": np.arange(30.0)[::-1]})
    out = p.plot_feature_importance(imp, tmp_path / "importance.png", top_n=10)
    again = p.plot_feature_importance(imp, tmp_path / "importance2.png", top_n=10)
    assert _assert_png(out) == _assert_png(again)
    with pytest.raises(ValueError, match="Missing \\['gain'\\]"):
        p.plot_feature_importance(imp[["feature"]], tmp_path / "x.png")

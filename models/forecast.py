"""The published forecast table: scores, intervals, ranks and flags for one period.

The column contract lives in ``docs/forecast-dict.csv`` and :func:`forecast_columns`; a test keeps
the two in step for each period mode. The period column is the planners' word for it:
``week_start`` (an ISO Monday) in weekly mode, ``month_start`` (a 1st) in monthly mode. The CSV
carries no event-level rows and no historical counts (gate G9). It names the model twice: by its
content hash (``model_version``) and by the MLflow run that trained it (``mlflow_run_id``). The
``train`` stage reuses the run of an identical model, so against the same MLflow store the same
params and seed give a byte-identical file; a different store (a fresh clone) mints another run
id, and every other column is still byte-identical.

Planners open the CSV and the GeoJSON in spreadsheets, so both files are written with every text
value that a spreadsheet would read as a formula (one beginning with ``=``, ``+``, ``-``, ``@``, a
tab or a carriage return, e.g. a district named ``=HYPERLINK(...)``) prefixed with a single quote,
the OWASP convention for CSV injection (:func:`spreadsheet_safe`). Numbers are never touched, so a
negative longitude stays a number; the table in memory keeps the names as the areas spell them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Final

import h3
import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from beatwise.artefacts.panel import PanelMeta
from beatwise.io import read_parquet
from beatwise.period import PERIOD_COLUMN, Period, check_period, period_floor
from models.allocation import AllocationPolicy, flag_with_policy, policy_codes
from models.metrics import flag_top_area, rank_order

#: the published column naming the forecast period, by period mode
PERIOD_START_COLUMNS: Final[dict[Period, str]] = {"week": "week_start", "month": "month_start"}
_PERIOD_PLACEHOLDER: Final[str] = "{period}_start"
_COLUMNS: Final[tuple[str, ...]] = (
    "h3_cell",
    _PERIOD_PLACEHOLDER,
    "risk_score",
    "risk_low_80",
    "risk_high_80",
    "risk_rank",
    "risk_percentile",
    "flagged",
    "lat",
    "lon",
    "district_name",
    "area_km2",
    "model_version",
    "mlflow_run_id",
    "audit_status",
)


def forecast_columns(period: Period) -> tuple[str, ...]:
    """The published CSV's columns in ``period`` mode, in order (``docs/forecast-dict.csv``)."""
    key = PERIOD_START_COLUMNS[check_period(period)]
    return tuple(key if c == _PERIOD_PLACEHOLDER else c for c in _COLUMNS)


#: the weekly contract (the default period)
FORECAST_COLUMNS: Final[tuple[str, ...]] = forecast_columns("week")


def poisson_interval(
    expected: npt.ArrayLike, *, level: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Central ``level`` interval of a Poisson count with the given expected value.

    This is the spread of the count itself around the expected count (what a planner sees next
    period), not the uncertainty of the expected count; it is the narrowest honest statement a
    Poisson model supports and says so in the forecast dictionary.
    """
    mu = np.clip(np.asarray(expected, dtype=np.float64), 1e-12, None)
    alpha = (1.0 - level) / 2.0
    return stats.poisson.ppf(alpha, mu), stats.poisson.ppf(1.0 - alpha, mu)


def read_forecast_features(path: Path, panel: PanelMeta) -> pd.DataFrame:
    """The rows of the panel's forecast period from ``features.parquet``, and no others: the
    panel keeps that period in a row group of its own, so the history is never read.

    Raises
    ------
    ValueError
        When the file holds no row of that period (it comes from another build_features run).
    """
    start = pd.Timestamp(panel.forecast_period)
    rows = read_parquet(path, where=(PERIOD_COLUMN, [start]))
    if rows.empty:
        raise ValueError(
            f"{path} holds no rows of the forecast {panel.period} of panel_meta.json "
            f"({panel.forecast_period}); re-run build_features so both come from the same run."
        )
    return rows


def forecast_period_rows(
    features: pd.DataFrame, cells: pd.DataFrame, *, panel: PanelMeta
) -> tuple[pd.Timestamp, pd.DataFrame]:
    """The start of the forecast period and its feature rows, one per study cell.

    Parameters
    ----------
    features
        ``features.parquet``: its latest period is the forecast period, whose targets are null.
    cells
        ``cells.parquet``: the rows come back indexed by its ``h3_cell``, in its order.
    panel
        ``panel_meta.json`` of the same build_features run.

    Refuses a table whose latest period is not the panel's ``forecast_period`` (the two files
    come from different runs) and one whose latest period has targets.
    """
    period = panel.period
    start = pd.Timestamp(features[PERIOD_COLUMN].max())
    if start.date() != panel.forecast_period:
        raise ValueError(
            f"The latest {period} in features.parquet ({start:%Y-%m-%d}) is not the forecast "
            f"{period} of panel_meta.json ({panel.forecast_period}); re-run build_features so "
            "both come from the same run."
        )
    rows = features[features[PERIOD_COLUMN] == start]
    if rows["target_count"].notna().any():
        raise ValueError(
            f"The latest {period} in the features ({start:%Y-%m-%d}) has targets; the forecast "
            f"{period} must be the {period} after the data."
        )
    return start, rows.set_index("h3_cell").reindex(cells["h3_cell"])


def build_forecast_table(
    cells: pd.DataFrame,
    scores: npt.ArrayLike,
    *,
    period_start: pd.Timestamp,
    period: Period,
    coverage: float,
    interval_level: float,
    model_version: str,
    mlflow_run_id: str,
    audit_status: str,
    policy: AllocationPolicy | None = None,
) -> pd.DataFrame:
    """One row per study cell, in rank order (rank 1 = highest expected count).

    Parameters
    ----------
    cells
        ``cells.parquet`` rows (``h3_cell``, ``h3_int``, ``lat``, ``lon``, ``area_km2``,
        ``district_name``), aligned with ``scores``.
    scores
        Expected target count of each cell in the forecast period.
    period_start
        Start of the forecast period (an ISO Monday, or a 1st in monthly mode).
    period
        ``"week"`` or ``"month"``: names the period column ``week_start`` or ``month_start``.
    model_version, mlflow_run_id
        The model's content hash and the MLflow run that trained it (``model_meta.json``).
    policy
        ``operational.policy``: when declared, ``flagged`` caps each stratum's share of the
        flagged area (:func:`models.allocation.flag_with_policy`; ``cells`` then needs the
        policy's column and ``residents``); ranks and every other column are unchanged.
    """
    period = check_period(period)
    start = pd.Timestamp(period_start)
    if period_floor(np.array([start.to_datetime64()]), period=period)[0] != start:
        raise ValueError(f"period_start must be a {period} start. Got {start}.")
    s = np.asarray(scores, dtype=np.float64)
    if s.shape != (len(cells),):
        raise ValueError(f"scores must have one value per cell ({len(cells)}). Got {s.shape}.")
    ids = cells["h3_int"].to_numpy(dtype=np.uint64)
    order = rank_order(s, ids)
    rank = np.empty(len(s), dtype=np.int64)
    rank[order] = np.arange(1, len(s) + 1)
    n = len(s)
    percentile = 100.0 * (n - rank) / max(n - 1, 1)
    areas = cells["area_km2"].to_numpy()
    if policy is None:
        flagged = flag_top_area(s[None, :], areas_km2=areas, cell_ids=ids, coverage=coverage)[0]
    else:
        flagged = flag_with_policy(
            s[None, :],
            areas_km2=areas,
            cell_ids=ids,
            coverage=coverage,
            codes=policy_codes(policy, cells),
            max_share=policy.max_share,
        )[0]
    low, high = poisson_interval(s, level=interval_level)
    table = pd.DataFrame(
        {
            "h3_cell": cells["h3_cell"].astype(str).to_numpy(),
            PERIOD_START_COLUMNS[period]: f"{start:%Y-%m-%d}",
            "risk_score": np.round(s, 6),
            "risk_low_80": low.astype(np.int64),
            "risk_high_80": high.astype(np.int64),
            "risk_rank": rank,
            "risk_percentile": np.round(percentile, 2),
            "flagged": flagged,
            "lat": np.round(cells["lat"].to_numpy(dtype=np.float64), 6),
            "lon": np.round(cells["lon"].to_numpy(dtype=np.float64), 6),
            "district_name": cells["district_name"].astype(str).to_numpy(),
            "area_km2": np.round(cells["area_km2"].to_numpy(dtype=np.float64), 6),
            "model_version": model_version,
            "mlflow_run_id": mlflow_run_id,
            "audit_status": audit_status,
        }
    )
    return table.sort_values("risk_rank").reset_index(drop=True)[list(forecast_columns(period))]


#: first characters that make a spreadsheet read a cell as a formula (OWASP, "CSV Injection")
FORMULA_TRIGGERS: Final[tuple[str, ...]] = ("=", "+", "-", "@", "\t", "\r")
#: what :func:`spreadsheet_safe` puts before such a value: spreadsheets show the rest as text
FORMULA_ESCAPE: Final[str] = "'"


def spreadsheet_safe(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with every text value that a spreadsheet would run as a formula made inert.

    A value of a text column (object or string dtype) that begins with one of
    :data:`FORMULA_TRIGGERS` gets :data:`FORMULA_ESCAPE` (``'``) in front, so ``=1+1`` is written
    ``'=1+1`` and a spreadsheet shows ``=1+1`` as text. Numeric and boolean columns are returned
    as they are (``-0.1`` is a longitude, not a formula), and so is a table with nothing to
    escape, so the published bytes change only where a value needed it.
    """
    out = table
    for column in table.columns:
        values = table[column]
        if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
            continue
        hostile = values.astype("string").str.startswith(FORMULA_TRIGGERS).fillna(False)
        if hostile.any():
            if out is table:
                out = table.copy()
            out.loc[hostile, column] = FORMULA_ESCAPE + values[hostile].astype(str)
    return out


#: a quoted CSV field (kept whole) or a record's CRLF end (see :func:`forecast_csv`)
_QUOTED_FIELD_OR_CRLF: Final[re.Pattern[str]] = re.compile(r'"(?:[^"]|"")*"|\r\n')


def forecast_csv(table: pd.DataFrame) -> str:
    """The forecast as published CSV text (no index, ``\\n`` line ends, formulas made inert).

    Text goes through :func:`spreadsheet_safe`, and a field holding a carriage return is quoted:
    spreadsheets end a row at a lone ``\\r``, so an unquoted one would start a forged row with
    whatever follows it. Python's CSV writer quotes only the characters of its line terminator,
    so the table is written with ``\\r\\n`` and the record ends outside quotes become ``\\n``.
    """
    text = str(spreadsheet_safe(table).to_csv(index=False, lineterminator="\r\n"))
    return _QUOTED_FIELD_OR_CRLF.sub(lambda m: "\n" if m.group(0) == "\r\n" else m.group(0), text)


def forecast_geojson(table: pd.DataFrame) -> str:
    """The forecast as a GeoJSON FeatureCollection of hexagons (EPSG:4326, lon/lat order).

    The properties are the CSV's columns, text made spreadsheet-safe as in the CSV.
    """
    features = []
    records = spreadsheet_safe(table).to_dict(orient="records")
    for cell, rec in zip(table["h3_cell"], records, strict=True):
        ring = [[round(lng, 7), round(lat, 7)] for lat, lng in h3.cell_to_boundary(cell)]
        ring.append(ring[0])
        props = {k: (v.item() if hasattr(v, "item") else v) for k, v in rec.items()}
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": props,
            }
        )
    return json.dumps({"type": "FeatureCollection", "features": features}, separators=(",", ":"))

"""Stage ``build_features``: the leakage-free cell-period feature table and its target.

The period (ISO week or calendar month) is decided here, once: ``features.period`` (``auto``,
``week`` or ``month``) against the time resolution the ingest stage found in the events
(``reports/data_quality.json``). ``panel_meta.json`` records it, and every later stage reads it
from there.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, model_validator

from beatwise.io import read_json, write_json, write_parquet
from beatwise.period import (
    TIME_RESOLUTIONS,
    TimeResolution,
    complete_periods,
    period_words,
    resolve_period,
)
from features.engineering import FeatureConfig, build_feature_table
from features.panel import count_matrix
from pipelines._io import setup_logging, timed
from pipelines._params import StageParams, load_params

STAGE = "build_features"

#: cell attributes the audit groups by; using them as model inputs needs a written reason
SENSITIVE_COVARIATES = frozenset({"minority_share", "res_minority", "res_majority"})


class CovariatesConfig(BaseModel):
    """Which per-cell covariates from ``cells.parquet`` the model may use."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    static: tuple[str, ...] = ("residents",)
    #: required when ``static`` names a sensitive attribute the audit groups by
    sensitive_reason: str | None = None

    @model_validator(mode="after")
    def _sensitive_needs_reason(self) -> CovariatesConfig:
        sensitive = sorted(SENSITIVE_COVARIATES.intersection(self.static))
        if sensitive and not (self.sensitive_reason or "").strip():
            raise ValueError(
                f"static names the audit attribute(s) {sensitive}; using them as model inputs "
                "needs a written 'sensitive_reason'"
            )
        return self


class Params(StageParams):
    features: FeatureConfig
    covariates: CovariatesConfig


def read_data_quality(path: Path) -> tuple[str, TimeResolution]:
    """The ``source`` and ``time_resolution`` the ingest stage wrote to ``data_quality.json``.

    Refuses a summary without them: the period cannot be chosen without knowing whether the
    timestamps are monthly (data.police.uk) or finer.
    """
    quality: dict[str, Any] = read_json(path)
    missing = [key for key in ("source", "time_resolution") if key not in quality]
    if missing:
        raise ValueError(
            f"{path} lacks {missing}: build_features needs the ingest stage's 'source' and "
            f"'time_resolution' (one of {list(TIME_RESOLUTIONS)}) to choose between weekly and "
            "monthly periods. Re-run the ingest stage with a version that writes them."
        )
    resolution = quality["time_resolution"]
    if resolution not in TIME_RESOLUTIONS:
        raise ValueError(
            f"{path}: time_resolution must be one of {list(TIME_RESOLUTIONS)}. Got {resolution!r}."
        )
    return str(quality["source"]), resolution


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cells", type=Path, required=True)
    parser.add_argument("--event-cells", type=Path, required=True)
    parser.add_argument("--data-quality", type=Path, required=True)
    parser.add_argument("--out-features", type=Path, required=True)
    parser.add_argument("--out-meta", type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    log = setup_logging(STAGE)
    params = load_params(STAGE, Params, args.params)
    cfg = params.features
    source, time_resolution = read_data_quality(args.data_quality)
    period = resolve_period(cfg.period, time_resolution=time_resolution)
    words = period_words(period)
    log.info(
        "period: %s (features.period=%s, %s data with time resolution %s)",
        period,
        cfg.period,
        source,
        time_resolution,
    )

    cells = pd.read_parquet(args.cells)
    events = pd.read_parquet(args.event_cells, columns=["h3_int", "timestamp", "crime_type"])
    missing = [c for c in params.covariates.static if c not in cells.columns]
    if missing:
        raise ValueError(
            f"covariates.static names {missing}, which cells.parquet lacks; it has "
            f"{[c for c in cells.columns if c not in ('h3_cell', 'h3_int')]}."
        )
    periods = complete_periods(events["timestamp"], period=period, time_resolution=time_resolution)
    types = list(dict.fromkeys((*cfg.target_types, *cfg.per_type_feature_types)))
    with timed(log, f"counting events per cell-{period}"):
        counts = count_matrix(
            events,
            cell_ids=cells["h3_int"].to_numpy(),
            periods=periods,
            period=period,
            crime_types=types,
            outside="drop",  # events in an incomplete last period are outside every period
        )
    static = cells[["h3_int", *params.covariates.static]]
    with timed(log, "building features"):
        table, meta = build_feature_table(
            counts,
            cell_ids=cells["h3_int"].to_numpy(),
            periods=periods,
            period=period,
            static=static,
            config=cfg,
        )
    meta["all_periods"] = [f"{pd.Timestamp(p):%Y-%m-%d}" for p in (periods[0], periods[-1])]
    meta["static_covariates"] = list(params.covariates.static)
    meta["target_reason"] = cfg.target_reason
    meta["source"] = source
    meta["time_resolution"] = time_resolution
    log.info(
        "%d rows x %d features; %s %s to %s; forecast %s %s",
        len(table),
        len(meta["feature_columns"]),
        words.plural,
        meta["first_period"],
        meta["last_complete_period"],
        period,
        meta["forecast_period"],
    )
    write_parquet(args.out_features, table)
    write_json(args.out_meta, meta)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

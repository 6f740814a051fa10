"""Stage ``build_features``: the leakage-free cell-week feature table and its target."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict, model_validator

from beatwise.io import write_json, write_parquet
from features.engineering import FeatureConfig, build_feature_table
from features.panel import complete_weeks, count_matrix
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cells", type=Path, required=True)
    parser.add_argument("--event-cells", type=Path, required=True)
    parser.add_argument("--out-features", type=Path, required=True)
    parser.add_argument("--out-meta", type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    log = setup_logging(STAGE)
    params = load_params(STAGE, Params, args.params)
    cfg = params.features

    cells = pd.read_parquet(args.cells)
    events = pd.read_parquet(args.event_cells, columns=["h3_int", "timestamp", "crime_type"])
    missing = [c for c in params.covariates.static if c not in cells.columns]
    if missing:
        raise ValueError(
            f"covariates.static names {missing}, which cells.parquet lacks; it has "
            f"{[c for c in cells.columns if c not in ('h3_cell', 'h3_int')]}."
        )
    weeks = complete_weeks(events["timestamp"])
    types = list(dict.fromkeys((*cfg.target_types, *cfg.per_type_feature_types)))
    with timed(log, "counting events per cell-week"):
        counts = count_matrix(
            events,
            cell_ids=cells["h3_int"].to_numpy(),
            weeks=weeks,
            crime_types=types,
            outside="drop",  # events in the incomplete last week are outside every week
        )
    static = cells[["h3_int", *params.covariates.static]]
    with timed(log, "building features"):
        table, meta = build_feature_table(
            counts, cell_ids=cells["h3_int"].to_numpy(), weeks=weeks, static=static, config=cfg
        )
    meta["all_weeks"] = [f"{pd.Timestamp(w):%Y-%m-%d}" for w in (weeks[0], weeks[-1])]
    meta["static_covariates"] = list(params.covariates.static)
    meta["target_reason"] = cfg.target_reason
    log.info(
        "%d rows x %d features; weeks %s to %s; forecast week %s",
        len(table),
        len(meta["feature_columns"]),
        meta["first_week"],
        meta["last_complete_week"],
        meta["forecast_week"],
    )
    write_parquet(args.out_features, table)
    write_json(args.out_meta, meta)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

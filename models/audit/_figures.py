"""Figures by group of residents and by stratum of cells, with block-bootstrap intervals.

Group figures describe residents of areas, not individuals: a cell's residents of group ``g``
(``P_gc``) are apportioned by area overlap, and a cell's recorded victimisation is shared among its
residents in proportion (``Y_c · P_gc / P_c``). The point estimates by group are fairlearn
``MetricFrame`` results on cell-level aggregates, one row per (cell, group) pair weighted by
``P_gc``; the intervals come from a vectorised block bootstrap over weeks (per-week group sums by a
``[week, cell] @ [cell, group]`` product, then resampled weeks as a count matrix: row 0 of every
replicate array is the point estimate, rows 1..B the resamples).

Each function returns the typed figures that ``audit.json`` records and the replicate arrays the
gates judge (``GroupInternals``, ``StrataInternals``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame

from beatwise.artefacts.audit import (
    AttributeFigures,
    GroupFigures,
    StrataFigures,
    StratumFigures,
)
from models.audit._arrays import (
    cell_column,
    rate_ratio,
    ratio_metric,
    safe_div,
    sum_metric,
)
from models.audit._config import AuditConfig, stratum_label
from models.bootstrap import percentile_interval

#: per attribute, per group: its label, the reference and its label, sufficiency and
#: (value, ci_low, ci_high) of each ratio
GroupInternals = dict[str, dict[str, dict[str, Any]]]
#: per stratum spec: keys, labels and the attribute's label, replicate arrays of O/E and PAI,
#: point values and sufficiency
StrataInternals = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class CellAggregates:
    """Per-cell sums over the backtest weeks (the grain MetricFrame sees)."""

    n_weeks: int
    flagged_weeks: np.ndarray  # f_c
    flagged_zero_weeks: np.ndarray  # flagged weeks with no target event
    events: np.ndarray  # y_c
    events_flagged: np.ndarray  # events in flagged weeks
    expected: np.ndarray  # Σ_w S_cw
    area: np.ndarray
    residents: np.ndarray


@dataclass(frozen=True)
class FlagSums:
    """The flagged set, counts and scores as float arrays ``[week, cell]``, with their sums."""

    F: np.ndarray  # flagged (0/1)
    Y: np.ndarray  # realised target counts
    S: np.ndarray  # expected counts (scores)
    FY: np.ndarray  # counts in flagged cell-weeks
    Z: np.ndarray  # flagged cell-weeks without a target event
    agg: CellAggregates


def aggregate(
    flagged: np.ndarray, y: np.ndarray, scores: np.ndarray, area: np.ndarray, residents: np.ndarray
) -> FlagSums:
    """The products and per-cell sums every figure starts from."""
    F = flagged.astype(np.float64)
    FY = F * y
    Z = F * (y == 0)
    agg = CellAggregates(
        n_weeks=F.shape[0],
        flagged_weeks=F.sum(axis=0),
        flagged_zero_weeks=Z.sum(axis=0),
        events=y.sum(axis=0),
        expected=scores.sum(axis=0),
        events_flagged=FY.sum(axis=0),
        area=area,
        residents=residents,
    )
    return FlagSums(F=F, Y=y, S=scores, FY=FY, Z=Z, agg=agg)


def group_figures(
    bt: FlagSums,
    weights: np.ndarray,
    config: AuditConfig,
    P: np.ndarray,
    *,
    unit: str,
) -> tuple[dict[str, AttributeFigures], GroupInternals]:
    """Per-attribute per-group figures: MetricFrame point estimates, bootstrap intervals.

    Returns the ``groups`` of ``audit.json`` and, per attribute and group, the ratios with their
    intervals and the sufficiency that the gates need.
    """
    agg = bt.agg
    share = safe_div(P, agg.residents[:, None])
    share[~np.isfinite(share)] = 0.0
    weekly = {
        "fp": bt.F @ P,
        "zp": bt.Z @ P,
        "fys": bt.FY @ share,
        "ys": bt.Y @ share,
        "ss": bt.S @ share,
        "fas": bt.F @ (share * agg.area[:, None]),
    }
    W = agg.n_weeks
    rep = {k: weights @ v for k, v in weekly.items()}  # [1 + B, G]
    Pg = P.sum(axis=0)
    As = (share * agg.area[:, None]).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        exposure = rep["fp"] / (W * Pg)
        coverage = safe_div(rep["fys"], rep["ys"])
        false_flag = safe_div(rep["zp"], rep["fp"])
        oe = safe_div(rep["ys"], rep["ss"])
        area_share = safe_div(rep["fas"], W * As)
        pai = safe_div(coverage, area_share)

    groups_out: dict[str, AttributeFigures] = {}
    internals: GroupInternals = {}
    col = 0
    Pc = agg.residents
    for attr in config.attributes:
        labels = list(attr.groups)
        j = np.arange(col, col + len(labels))
        col += len(labels)
        mf = _metric_frame_for_attribute(agg, P[:, j], labels, attr.name, Pc)
        ref = attr.reference
        if ref == "largest":
            ref = labels[int(np.argmax(Pg[j]))]
        ref_j = j[labels.index(ref)]
        attr_pop = float(Pg[j].sum())
        attr_fp = float(rep["fp"][0, j].sum())
        internals[attr.name] = {}
        out_groups: dict[str, GroupFigures] = {}
        for label, gj in zip(labels, j, strict=True):
            point = mf.loc[label]
            residents = float(point["residents"])
            n_flag = float(point["flagged_cell_periods"])
            reasons = []
            if n_flag < config.min_flagged_cell_periods:
                reasons.append(
                    f"{n_flag:,.1f} flagged {unit}, {config.min_flagged_cell_periods:,.0f} needed"
                )
            if residents < config.min_residents:
                reasons.append(f"{residents:,.0f} residents, {config.min_residents:,.0f} needed")
            e_pt = float(point["exposure"])
            cov_pt = float(point["victimisation_coverage"])
            e_ref = float(mf.loc[ref, "exposure"])
            cov_ref = float(mf.loc[ref, "victimisation_coverage"])
            ff_ref = float(mf.loc[ref, "false_flag_rate"])
            with np.errstate(divide="ignore", invalid="ignore"):
                exp_ratio_rep = safe_div(exposure[:, gj], exposure[:, ref_j])
                cov_ratio_rep = safe_div(coverage[:, gj], coverage[:, ref_j])
                bbr_rep = safe_div(exp_ratio_rep, cov_ratio_rep)
                ff_ratio_rep = rate_ratio(false_flag[:, gj], false_flag[:, ref_j])
            exp_ratio = float(safe_div(e_pt, e_ref))
            cov_ratio = float(safe_div(cov_pt, cov_ref))
            internals[attr.name][label] = {
                "label": attr.label_of(label),
                "reference": ref,
                "reference_label": attr.label_of(ref),
                "is_reference": label == ref,
                "insufficient": "; ".join(reasons),
                "exposure_ratio": (exp_ratio, *percentile_interval(exp_ratio_rep[1:])),
                "burden_benefit_ratio": (
                    float(safe_div(exp_ratio, cov_ratio)),
                    *percentile_interval(bbr_rep[1:]),
                ),
                "false_flag_ratio": (
                    float(rate_ratio(float(point["false_flag_rate"]), ff_ref)),
                    *percentile_interval(ff_ratio_rep[1:]),
                ),
                "recall_ratio": (cov_ratio, *percentile_interval(cov_ratio_rep[1:])),
            }
            # Consistency: MetricFrame's point and the bootstrap's row 0 are the same sums.
            if math.isfinite(e_pt) and not math.isclose(e_pt, exposure[0, gj], rel_tol=1e-9):
                raise RuntimeError(
                    f"Internal error: exposure of {attr.name}/{label} differs between MetricFrame "
                    f"({e_pt}) and the weekly sums ({exposure[0, gj]})."
                )
            out_groups[label] = GroupFigures(
                label=attr.label_of(label),
                column=attr.groups[label].column,
                residents=residents,
                population_share=residents / attr_pop if attr_pop > 0 else None,
                flagged_cell_periods=n_flag,
                exposure=e_pt,
                exposure_ci=percentile_interval(exposure[1:, gj]),
                exposure_share=float(rep["fp"][0, gj]) / attr_fp if attr_fp > 0 else None,
                exposure_ratio=exp_ratio,
                victimisation=float(weekly["ys"][:, gj].sum()),
                victimisation_coverage=cov_pt,
                victimisation_coverage_ci=percentile_interval(coverage[1:, gj]),
                recall=cov_pt,
                recall_ratio=cov_ratio,
                burden_benefit_ratio=float(safe_div(exp_ratio, cov_ratio)),
                false_flag_rate=float(point["false_flag_rate"]),
                false_flag_rate_ci=percentile_interval(false_flag[1:, gj]),
                false_flag_ratio=float(rate_ratio(float(point["false_flag_rate"]), ff_ref)),
                observed_expected=float(point["observed_expected"]),
                observed_expected_ci=percentile_interval(oe[1:, gj]),
                pai=float(safe_div(cov_pt, float(point["flagged_area_share"]))),
                pai_ci=percentile_interval(pai[1:, gj]),
                sufficient=not reasons,
                insufficient_reason="; ".join(reasons) or None,
            )
        groups_out[attr.name] = AttributeFigures(reference=ref, groups=out_groups)
    return groups_out, internals


def _metric_frame_for_attribute(
    agg: CellAggregates, P: np.ndarray, labels: list[str], name: str, Pc: np.ndarray
) -> pd.DataFrame:
    """fairlearn MetricFrame on (cell, group) rows weighted by the group's residents ``P_gc``."""
    cell_idx, grp_idx = np.nonzero(P > 0)
    order = np.lexsort((cell_idx, grp_idx))
    cell_idx, grp_idx = cell_idx[order], grp_idx[order]
    w = P[cell_idx, grp_idx]
    inv_p = 1.0 / Pc[cell_idx]  # Pc > 0 wherever P_gc > 0 (checked by the caller)
    f = agg.flagged_weeks[cell_idx]
    y = agg.events[cell_idx]
    a = agg.area[cell_idx]
    ones = np.ones_like(w)
    sensitive = pd.Series(np.asarray(labels, dtype=object)[grp_idx], name=name)
    params = {
        "residents": {"sample_weight": w, "num": ones},
        "flagged_cell_periods": {"sample_weight": w, "num": f * inv_p},
        "exposure": {"sample_weight": w, "num": f / agg.n_weeks, "den": ones},
        "victimisation_coverage": {
            "sample_weight": w,
            "num": agg.events_flagged[cell_idx] * inv_p,
            "den": y * inv_p,
        },
        "false_flag_rate": {"sample_weight": w, "num": agg.flagged_zero_weeks[cell_idx], "den": f},
        "observed_expected": {
            "sample_weight": w,
            "num": y * inv_p,
            "den": agg.expected[cell_idx] * inv_p,
        },
        "flagged_area_share": {
            "sample_weight": w,
            "num": a * f / agg.n_weeks * inv_p,
            "den": a * inv_p,
        },
    }
    metrics = {
        k: (sum_metric if k in ("residents", "flagged_cell_periods") else ratio_metric)
        for k in params
    }
    mf = MetricFrame(
        metrics=metrics, y_true=y, y_pred=f, sensitive_features=sensitive, sample_params=params
    )
    by_group = mf.by_group.reindex(labels)
    # A group with no residents anywhere has no rows: it counts zero residents, not unknown.
    return by_group.fillna({"residents": 0.0, "flagged_cell_periods": 0.0})


def _strata_bins(values: np.ndarray, residents: np.ndarray, n_quantiles: int) -> np.ndarray:
    """Equal-count quantile bin of each cell (0 = lowest); -1 where the attribute is undefined.

    Cells without residents are left out: a resident attribute says nothing about them.
    """
    codes = np.full(values.shape, -1, dtype=np.int64)
    ok = np.isfinite(values) & (residents > 0)
    if ok.sum() == 0:
        return codes
    binned = pd.qcut(values[ok], n_quantiles, labels=False, duplicates="drop")
    codes[ok] = np.asarray(binned, dtype=np.int64)
    return codes


def strata_figures(
    bt: FlagSums,
    weights: np.ndarray,
    cells: pd.DataFrame,
    config: AuditConfig,
    *,
    unit: str,
) -> tuple[dict[str, StrataFigures], StrataInternals]:
    """Per-stratum figures (O/E, hit rate, PAI, exposure) and the replicates G6 and G7 judge."""
    agg = bt.agg
    W = agg.n_weeks
    out: dict[str, StrataFigures] = {}
    internals: StrataInternals = {}
    Fa = bt.F * agg.area[None, :]
    for spec in config.strata:
        values = cell_column(cells, spec.column, what=f"stratum attribute of {spec.name!r}")
        codes = _strata_bins(values, agg.residents, spec.n_quantiles)
        n_bins = int(codes.max()) + 1
        if n_bins < 1:
            out[spec.name] = StrataFigures(column=spec.column, label=spec.label, strata={})
            internals[spec.name] = {
                "labels": [],
                "names": [],
                "measure": spec.label,
                "oe": None,
                "pai": None,
                "insufficient": [],
            }
            continue
        labels = [f"Q{i + 1}" for i in range(n_bins)]
        names = [stratum_label(i, n_bins, spec.label) for i in range(n_bins)]
        M = np.zeros((codes.size, n_bins))
        in_bin = codes >= 0
        M[np.nonzero(in_bin)[0], codes[in_bin]] = 1.0
        weekly = {
            "y": bt.Y @ M,
            "s": bt.S @ M,
            "fy": bt.FY @ M,
            "fa": Fa @ M,
            "f": bt.F @ M,
            "fp": bt.F @ (M * agg.residents[:, None]),
        }
        rep = {k: weights @ v for k, v in weekly.items()}
        A_s = agg.area @ M
        P_s = agg.residents @ M
        oe = safe_div(rep["y"], rep["s"])
        hr = safe_div(rep["fy"], rep["y"])
        pai = safe_div(hr, safe_div(rep["fa"], W * A_s))

        # Strata are sets of cells and a count forecast is calibrated per cell, not per
        # resident, so these figures are unweighted; row 0 of the replicates is the point.
        exposure = safe_div(rep["fp"][0], W * P_s)
        edges = [
            (float(np.min(values[codes == i])), float(np.max(values[codes == i])))
            for i in range(n_bins)
        ]
        strata_out: dict[str, StratumFigures] = {}
        insufficient: list[str] = []
        for i, label in enumerate(labels):
            n_flag = float(weekly["f"][:, i].sum())
            reasons = []
            if P_s[i] < config.min_residents:
                reasons.append(f"{P_s[i]:,.0f} residents, {config.min_residents:,.0f} needed")
            pai_reasons = list(reasons)
            if n_flag < config.min_flagged_cell_periods:
                pai_reasons.append(
                    f"{n_flag:,.0f} flagged {unit}, {config.min_flagged_cell_periods:,.0f} needed"
                )
            insufficient.append("; ".join(reasons))
            strata_out[label] = StratumFigures(
                label=names[i],
                lower=edges[i][0],
                upper=edges[i][1],
                n_cells=int((codes == i).sum()),
                residents=float(P_s[i]),
                flagged_cell_periods=n_flag,
                exposure=float(exposure[i]),
                observed_expected=float(oe[0, i]),
                observed_expected_ci=percentile_interval(oe[1:, i]),
                hit_rate=float(hr[0, i]),
                pai=float(pai[0, i]),
                pai_ci=percentile_interval(pai[1:, i]),
                insufficient_reason="; ".join(reasons) or None,
                insufficient_for_pai="; ".join(pai_reasons) or None,
            )
        out[spec.name] = StrataFigures(column=spec.column, label=spec.label, strata=strata_out)
        internals[spec.name] = {
            "labels": labels,
            "names": names,
            "measure": spec.label,
            "oe": oe,
            "pai": pai,
            # the point values as recorded (None where undefined), NaN for the arithmetic
            "oe_point": np.array([_nan(strata_out[lb].observed_expected) for lb in labels]),
            "pai_point": np.array([_nan(strata_out[lb].pai) for lb in labels]),
            "insufficient": insufficient,
            "insufficient_pai": [strata_out[lb].insufficient_for_pai or "" for lb in labels],
        }
    return out, internals


def _nan(x: float | None) -> float:
    return math.nan if x is None else x

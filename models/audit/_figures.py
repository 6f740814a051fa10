"""Figures by group of residents and by stratum of cells, for the model and its reference.

Group figures describe residents of areas, not individuals: a cell's residents of group ``g``
(``P_gc``) are apportioned by area overlap, and a cell's recorded victimisation is shared among its
residents in proportion (``V_wgc = Y_wc · P_gc / P_c``). Every ratio is to all residents together
(METRICS.md "Group quantities").

Each allocation (the model's flags, the reference's, a baseline's) is summed per period by a
``[period, cell] @ [cell, group]`` product; the bootstrap then resamples periods as a count matrix
(``weights``: row 0 every period once, the point estimate; rows 1..B the resamples). Because the
model and the reference are summed with the same ``weights``, their ratio is a **paired** block
bootstrap: both see the same resampled weeks. The model's point estimates by group are also
computed by fairlearn ``MetricFrame`` on cell-level aggregates and checked against row 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame

from beatwise.artefacts.audit import (
    AllResidents,
    AttributeFigures,
    Estimate,
    GroupFigures,
    StrataFigures,
    StratumFigures,
)
from models.allocation import NO_RESIDENTS_LABEL, stratum_codes
from models.audit._arrays import cell_column, rate_ratio, ratio_metric, safe_div, sum_metric
from models.audit._config import AuditConfig, stratum_label
from models.bootstrap import percentile_interval

#: the key of the stratum of cells with (almost) no residents (its words: NO_RESIDENTS_LABEL)
NO_RESIDENTS_KEY: Final[str] = "none"


@dataclass(frozen=True)
class Allocation:
    """One allocation over the backtest: its flags and expected counts ``[period, cell]``."""

    #: in words: "this model", "the true risk", "the best baseline (...)"
    label: str
    flagged: np.ndarray
    scores: np.ndarray


@dataclass(frozen=True)
class Population:
    """The cells' people: area, residents, and residents per audit group ``P [cell, group]``."""

    area: np.ndarray
    residents: np.ndarray
    P: np.ndarray
    #: per audit-group column: (attribute name, group key)
    columns: tuple[tuple[str, str], ...]

    @property
    def share(self) -> np.ndarray:
        """``P_gc / P_c`` (0 where a cell has no residents)."""
        out = safe_div(self.P, self.residents[:, None])
        out[~np.isfinite(out)] = 0.0
        return out

    def index_of(self, attribute: str) -> np.ndarray:
        """The columns of ``P`` of one attribute, in its groups' order."""
        return np.array([i for i, (a, _) in enumerate(self.columns) if a == attribute])


def _point_and_interval(rep: np.ndarray) -> Estimate:
    return Estimate(value=float(rep[0]), ci=percentile_interval(rep[1:]))


@dataclass(frozen=True)
class GroupReplicates:
    """One allocation's group quantities: ``[1 + B, G]`` arrays, all residents ``[1 + B]``."""

    exposure: np.ndarray
    discovery: np.ndarray
    false_flag: np.ndarray
    exposure_all: np.ndarray
    discovery_all: np.ndarray
    false_flag_all: np.ndarray
    #: residents of each group in flagged cells, per period (point only, ``[G]``)
    residents_flagged: np.ndarray
    #: discovery of committed harm (synthetic data), point only ``[G]``; None when unknown
    discovery_committed: np.ndarray | None

    @property
    def exposure_ratio(self) -> np.ndarray:
        return safe_div(self.exposure, self.exposure_all[:, None])

    @property
    def discovery_ratio(self) -> np.ndarray:
        return safe_div(self.discovery, self.discovery_all[:, None])

    @property
    def burden_benefit(self) -> np.ndarray:
        return safe_div(self.exposure_ratio, self.discovery_ratio)

    @property
    def false_flag_ratio(self) -> np.ndarray:
        return rate_ratio(self.false_flag, self.false_flag_all[:, None])

    def quantity(self, name: str) -> np.ndarray:
        """A ratio by its ``audit.json`` name (``AMPLIFIED``)."""
        return {
            "exposure_ratio": self.exposure_ratio,
            "burden_benefit": self.burden_benefit,
            "false_flag_ratio": self.false_flag_ratio,
            "discovery_ratio": self.discovery_ratio,
        }[name]


def group_replicates(
    flagged: np.ndarray,
    y: np.ndarray,
    pop: Population,
    weights: np.ndarray,
    *,
    committed: np.ndarray | None = None,
) -> GroupReplicates:
    """Exposure, discovery and false-flag rate of every group and of all residents."""
    F = flagged.astype(np.float64)
    W = F.shape[0]
    share = pop.share
    lived = (pop.residents > 0).astype(np.float64)
    FY = F * y
    Z = F * (y == 0)
    fp = weights @ (F @ pop.P)
    fp_all = weights @ (F @ pop.residents)
    with np.errstate(divide="ignore", invalid="ignore"):
        exposure = fp / (W * pop.P.sum(axis=0))
        exposure_all = fp_all / (W * pop.residents.sum())
    discovery = safe_div(weights @ (FY @ share), weights @ (y @ share))
    discovery_all = safe_div(weights @ (FY @ lived), weights @ (y @ lived))
    false_flag = safe_div(weights @ (Z @ pop.P), fp)
    false_flag_all = safe_div(weights @ (Z @ pop.residents), fp_all)
    committed_d = None
    if committed is not None:
        committed_d = safe_div(
            ((F * committed) @ share).sum(axis=0), (committed @ share).sum(axis=0)
        )
    return GroupReplicates(
        exposure=exposure,
        discovery=discovery,
        false_flag=false_flag,
        exposure_all=exposure_all,
        discovery_all=discovery_all,
        false_flag_all=false_flag_all,
        residents_flagged=fp[0] / W,
        discovery_committed=committed_d,
    )


def amplification(model: GroupReplicates, reference: GroupReplicates, name: str) -> np.ndarray:
    """``A_g(Q)``: the model's ratio over the reference's, replicate by replicate (paired)."""
    m, r = model.quantity(name), reference.quantity(name)
    return rate_ratio(m, r) if name == "false_flag_ratio" else safe_div(m, r)


def retention(model: GroupReplicates, reference: GroupReplicates) -> np.ndarray:
    """``D_g(model) / D_g(R)``: no group protected less than the reference protects it."""
    return safe_div(model.discovery, reference.discovery)


#: per attribute, per group: label, sufficiency, and the replicate arrays the gates judge
GroupInternals = dict[str, dict[str, dict[str, Any]]]


def group_figures(
    model: Allocation,
    y: np.ndarray,
    pop: Population,
    weights: np.ndarray,
    config: AuditConfig,
    *,
    model_rep: GroupReplicates,
    reference_rep: GroupReplicates,
    unit: str,
    cross_check: bool = True,
) -> tuple[dict[str, AttributeFigures], GroupInternals]:
    """The model's figures by group with their amplification over the reference.

    Returns the ``groups`` of ``audit.json`` and, per attribute and group, the replicates of each
    amplification and of retention that gates G2-G5 judge. ``cross_check``: the point figures
    come from fairlearn's MetricFrame and are checked against the weekly sums (the audit of the
    model); without it, from the sums alone (the many rankings of the power check and the
    coverage table, where MetricFrame would take most of the stage's time).
    """
    W = y.shape[0]
    F = model.flagged.astype(np.float64)
    share = pop.share
    ys = weights @ (y @ share)
    ss = weights @ (model.scores @ share)
    fas = weights @ (F @ (share * pop.area[:, None]))
    oe = safe_div(ys, ss)
    area_share = safe_div(fas, W * (share * pop.area[:, None]).sum(axis=0))
    pai = safe_div(model_rep.discovery, area_share)
    amps = {
        name: amplification(model_rep, reference_rep, name)
        for name in ("exposure_ratio", "burden_benefit", "false_flag_ratio", "discovery_ratio")
    }
    keep = retention(model_rep, reference_rep)
    out: dict[str, AttributeFigures] = {}
    internals: GroupInternals = {}
    for attr in config.attributes:
        j = pop.index_of(attr.name)
        labels = list(attr.groups)
        sums = _point_figures(model, y, pop, j, labels, model_rep, oe[0, j])
        mf = (
            _cross_checked(
                _metric_frame_for_attribute(model, y, pop, j, labels, attr.name), sums, attr.name
            )
            if cross_check
            else sums
        )
        attr_pop = float(pop.P[:, j].sum())
        attr_flagged = float(model_rep.residents_flagged[j].sum())
        internals[attr.name] = {}
        groups: dict[str, GroupFigures] = {}
        for key, gj in zip(labels, j, strict=True):
            point = mf.loc[key]
            residents = float(point["residents"])
            n_flag = float(point["flagged_cell_periods"])
            reasons = []
            if n_flag < config.min_flagged_cell_periods:
                reasons.append(
                    f"{n_flag:,.1f} flagged {unit}, {config.min_flagged_cell_periods:,.0f} needed"
                )
            if residents < config.min_residents:
                reasons.append(f"{residents:,.0f} residents, {config.min_residents:,.0f} needed")
            internals[attr.name][key] = {
                "label": attr.label_of(key),
                "insufficient": "; ".join(reasons),
                **{name: a[:, gj] for name, a in amps.items()},
                "retention": keep[:, gj],
            }
            groups[key] = GroupFigures(
                label=attr.label_of(key),
                column=attr.groups[key].column,
                residents=residents,
                population_share=residents / attr_pop if attr_pop > 0 else None,
                flagged_cell_periods=n_flag,
                exposure=float(point["exposure"]),
                exposure_ci=percentile_interval(model_rep.exposure[1:, gj]),
                residents_flagged_per_period=float(model_rep.residents_flagged[gj]),
                exposure_share=(
                    float(model_rep.residents_flagged[gj]) / attr_flagged
                    if attr_flagged > 0
                    else None
                ),
                exposure_ratio=_point_and_interval(model_rep.exposure_ratio[:, gj]),
                victimisation=float(ys[0, gj]),
                discovery=float(point["discovery"]),
                discovery_ci=percentile_interval(model_rep.discovery[1:, gj]),
                discovery_ratio=_point_and_interval(model_rep.discovery_ratio[:, gj]),
                burden_benefit=_point_and_interval(model_rep.burden_benefit[:, gj]),
                false_flag_rate=float(point["false_flag_rate"]),
                false_flag_rate_ci=percentile_interval(model_rep.false_flag[1:, gj]),
                false_flag_ratio=_point_and_interval(model_rep.false_flag_ratio[:, gj]),
                observed_expected=float(point["observed_expected"]),
                observed_expected_ci=percentile_interval(oe[1:, gj]),
                pai=float(pai[0, gj]),
                pai_ci=percentile_interval(pai[1:, gj]),
                amplification={name: _point_and_interval(a[:, gj]) for name, a in amps.items()},
                retention=_point_and_interval(keep[:, gj]),
                sufficient=not reasons,
                insufficient_reason="; ".join(reasons) or None,
            )
        out[attr.name] = AttributeFigures(
            all_residents=AllResidents(
                residents=float(pop.residents.sum()),
                exposure=float(model_rep.exposure_all[0]),
                discovery=float(model_rep.discovery_all[0]),
                false_flag_rate=float(model_rep.false_flag_all[0]),
            ),
            groups=groups,
        )
    return out, internals


def _point_figures(
    model: Allocation,
    y: np.ndarray,
    pop: Population,
    j: np.ndarray,
    labels: list[str],
    rep: GroupReplicates,
    oe: np.ndarray,
) -> pd.DataFrame:
    """The point figures MetricFrame gives, from the weekly sums (row 0 of the replicates)."""
    F = model.flagged.astype(np.float64)
    return pd.DataFrame(
        {
            "residents": pop.P[:, j].sum(axis=0),
            "flagged_cell_periods": (F @ pop.share[:, j]).sum(axis=0),
            "exposure": rep.exposure[0, j],
            "discovery": rep.discovery[0, j],
            "false_flag_rate": rep.false_flag[0, j],
            "observed_expected": oe,
        },
        index=labels,
    )


def _cross_checked(metric_frame: pd.DataFrame, sums: pd.DataFrame, attr: str) -> pd.DataFrame:
    """MetricFrame's points, after checking them against the weekly sums: two computations of
    the same figures that disagree mean the code is wrong."""
    for column in sums.columns:
        a = metric_frame[column].to_numpy(dtype=np.float64)
        b = sums[column].to_numpy(dtype=np.float64)
        both = np.isfinite(a) & np.isfinite(b)
        if not np.allclose(a[both], b[both], rtol=1e-9, atol=1e-12) or not np.array_equal(
            np.isfinite(a), np.isfinite(b)
        ):
            raise RuntimeError(
                f"Internal error: {column} of {attr} differs between MetricFrame ({a}) and the "
                f"weekly sums ({b})."
            )
    return metric_frame


def _metric_frame_for_attribute(
    model: Allocation,
    y: np.ndarray,
    pop: Population,
    j: np.ndarray,
    labels: list[str],
    name: str,
) -> pd.DataFrame:
    """fairlearn MetricFrame over the groups' sums of (cell, group) terms weighted by ``P_gc``.

    Each term ``Σ_c P_gc · x_c`` is summed per group by ``bincount`` first, so MetricFrame splits a
    frame of one row per group rather than one per (cell, group) pair: its per-group Python work
    stays the same size whatever the number of cells (a national grid of 200,000 cells).
    """
    P = pop.P[:, j]
    W = y.shape[0]
    F = model.flagged.astype(np.float64)
    flagged_weeks = F.sum(axis=0)
    events = y.sum(axis=0)
    cell_idx, grp_idx = np.nonzero(P > 0)
    w = P[cell_idx, grp_idx]
    inv_p = 1.0 / pop.residents[cell_idx]  # > 0 wherever P_gc > 0 (checked by the caller)
    f = flagged_weeks[cell_idx]
    n_groups = len(labels)

    def group_sum(term: np.ndarray) -> np.ndarray:
        return np.bincount(grp_idx, weights=w * term, minlength=n_groups)

    ones = np.ones(n_groups)
    per_cell = {
        "residents": {"num": np.ones_like(w)},
        "flagged_cell_periods": {"num": f * inv_p},
        "exposure": {"num": f / W, "den": np.ones_like(w)},
        "discovery": {
            "num": (F * y).sum(axis=0)[cell_idx] * inv_p,
            "den": events[cell_idx] * inv_p,
        },
        "false_flag_rate": {"num": (F * (y == 0)).sum(axis=0)[cell_idx], "den": f},
        "observed_expected": {
            "num": events[cell_idx] * inv_p,
            "den": model.scores.sum(axis=0)[cell_idx] * inv_p,
        },
    }
    params = {
        metric: {"sample_weight": ones, **{k: group_sum(v) for k, v in terms.items()}}
        for metric, terms in per_cell.items()
    }
    metrics = {
        k: (sum_metric if k in ("residents", "flagged_cell_periods") else ratio_metric)
        for k in params
    }
    mf = MetricFrame(
        metrics=metrics,
        y_true=np.zeros(n_groups),
        y_pred=np.zeros(n_groups),
        sensitive_features=pd.Series(labels, name=name),
        sample_params=params,
    )
    # a group with no residents anywhere sums to zero: zero residents, not unknown
    return mf.by_group.reindex(labels).fillna({"residents": 0.0, "flagged_cell_periods": 0.0})


@dataclass(frozen=True)
class StratumSums:
    """One allocation's per-stratum sums ``[1 + B, S]``."""

    y: np.ndarray
    s: np.ndarray
    fy: np.ndarray
    fs: np.ndarray
    fa: np.ndarray

    def pai(self, area: np.ndarray, n_periods: int) -> np.ndarray:
        return safe_div(safe_div(self.fy, self.y), safe_div(self.fa, n_periods * area))


def stratum_sums(
    alloc: Allocation, y: np.ndarray, area: np.ndarray, M: np.ndarray, weights: np.ndarray
) -> StratumSums:
    F = alloc.flagged.astype(np.float64)
    return StratumSums(
        y=weights @ (y @ M),
        s=weights @ (alloc.scores @ M),
        fy=weights @ ((F * y) @ M),
        fs=weights @ ((F * alloc.scores) @ M),
        fa=weights @ ((F * area[None, :]) @ M),
    )


#: per stratum spec: keys, names, the attribute's words, replicate arrays, sufficiency
StrataInternals = dict[str, dict[str, Any]]


def strata_figures(
    model: Allocation,
    reference: Allocation,
    y: np.ndarray,
    pop: Population,
    weights: np.ndarray,
    cells: pd.DataFrame,
    config: AuditConfig,
    *,
    unit: str,
) -> tuple[dict[str, StrataFigures], StrataInternals]:
    """Per-stratum O/E (all cells and flagged cell-periods), PAI and the model's PAI over the
    reference's: the replicates G6 and G7 judge."""
    W = y.shape[0]
    out: dict[str, StrataFigures] = {}
    internals: StrataInternals = {}
    for spec in config.strata:
        values = cell_column(cells, spec.column, what=f"stratum attribute of {spec.name!r}")
        codes = stratum_codes(
            values, pop.residents, spec.n_quantiles, min_residents=config.no_resident_max
        )
        n_bins = int(codes.max()) + 1
        has_none = bool((pop.residents < config.no_resident_max).any())
        n_res = n_bins - 1 if has_none else n_bins
        keys = [f"Q{i + 1}" for i in range(n_res)] + ([NO_RESIDENTS_KEY] if has_none else [])
        names = [stratum_label(i, n_res, spec.label) for i in range(n_res)]
        names += [NO_RESIDENTS_LABEL] if has_none else []
        M = np.zeros((codes.size, len(keys)))
        in_bin = codes >= 0
        M[np.nonzero(in_bin)[0], codes[in_bin]] = 1.0
        m = stratum_sums(model, y, pop.area, M, weights)
        r = stratum_sums(reference, y, pop.area, M, weights)
        A_s = pop.area @ M
        P_s = pop.residents @ M
        oe = safe_div(m.y, m.s)
        oe_f = safe_div(m.fy, m.fs)
        hr = safe_div(m.fy, m.y)
        pai, pai_r = m.pai(A_s, W), r.pai(A_s, W)
        pai_vs = safe_div(pai, pai_r)
        F = model.flagged.astype(np.float64)
        n_flag_m = (F @ M).sum(axis=0)
        n_flag_r = (reference.flagged.astype(np.float64) @ M).sum(axis=0)
        exposure = safe_div((F @ (M * pop.residents[:, None])).sum(axis=0), W * P_s)
        strata_out: dict[str, StratumFigures] = {}
        # per part: a reason that blocks (too few residents: INSUFFICIENT DATA) and a reason
        # with nothing at stake (too few events or flags: NOT APPLICABLE)
        insufficient: list[str] = []
        unjudged: list[str] = []
        unjudged_flagged: list[str] = []
        unjudged_pai: list[str] = []
        need_events = config.min_stratum_events
        need_flags = config.min_flagged_cell_periods
        for i, key in enumerate(keys):
            none = key == NO_RESIDENTS_KEY
            too_few = (
                ""
                if none or P_s[i] >= config.min_residents
                else f"{P_s[i]:,.0f} residents, {config.min_residents:,.0f} needed"
            )
            events, flagged_events = float(m.y[0, i]), float(m.fy[0, i])
            few_events = (
                f"{events:,.0f} recorded target events, {need_events:,.0f} needed"
                if events < need_events
                else ""
            )
            few_flags = "; ".join(
                r
                for r in (
                    f"{n_flag_m[i]:,.0f} flagged {unit}, {need_flags:,.0f} needed"
                    if n_flag_m[i] < need_flags
                    else "",
                    f"{flagged_events:,.0f} recorded target events in flagged {unit}, "
                    f"{need_events:,.0f} needed"
                    if flagged_events < need_events
                    else "",
                )
                if r
            )
            few_ref = (
                f"{n_flag_r[i]:,.0f} {unit} flagged by the reference, {need_flags:,.0f} needed"
                if n_flag_r[i] < need_flags
                else ""
            )
            insufficient.append(too_few)
            unjudged.append(few_events)
            unjudged_flagged.append(few_flags)
            unjudged_pai.append("; ".join(r for r in (few_flags, few_ref) if r))
            reasons = [r for r in (too_few, few_events) if r]
            pai_reasons = [r for r in (too_few, few_flags, few_ref) if r]
            members = codes == i
            strata_out[key] = StratumFigures(
                label=names[i],
                lower=None if none else float(np.min(values[members])),
                upper=None if none else float(np.max(values[members])),
                n_cells=int(members.sum()),
                residents=float(P_s[i]),
                no_residents=none,
                flagged_cell_periods=float(n_flag_m[i]),
                exposure=float(exposure[i]),
                observed_expected=float(oe[0, i]),
                observed_expected_ci=percentile_interval(oe[1:, i]),
                observed_expected_flagged=float(oe_f[0, i]),
                observed_expected_flagged_ci=percentile_interval(oe_f[1:, i]),
                hit_rate=float(hr[0, i]),
                pai=float(pai[0, i]),
                pai_ci=percentile_interval(pai[1:, i]),
                pai_reference=float(pai_r[0, i]),
                pai_vs_reference=_point_and_interval(pai_vs[:, i]),
                insufficient_reason="; ".join(reasons) or None,
                insufficient_for_pai="; ".join(pai_reasons) or None,
            )
        out[spec.name] = StrataFigures(column=spec.column, label=spec.label, strata=strata_out)
        internals[spec.name] = {
            "keys": keys,
            "names": names,
            "measure": spec.label,
            "oe": oe,
            "oe_flagged": oe_f,
            "pai_vs": pai_vs,
            "insufficient": insufficient,
            "unjudged": unjudged,
            "unjudged_flagged": unjudged_flagged,
            "unjudged_pai": unjudged_pai,
            "codes": codes,
        }
    return out, internals

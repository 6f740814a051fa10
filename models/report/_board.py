"""The board's panel as tables: the absolute figures of every allocation, side by side.

METRICS.md ("What the audit judges, and what the board judges"): the hard gates ask whether the
model adds disparity beyond the reference allocation; whether flagging the riskiest share of the
area is acceptable at all, given the disparities that even a perfect forecast creates, is the
ethics board's decision. This module lays out ``audit.board`` for that decision: one column per
allocation (this model, the reference, the best baseline, a declared policy), rows by group and
by stratum, every group named in words with its key in brackets. It formats figures only; every
figure comes from ``audit.json`` and none is computed here beyond choosing which to quote.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from beatwise.artefacts.audit import AuditReport, BoardAllocation, BoardGroup
from models.audit import TRUTH_REFERENCE
from models.report._format import capfirst, count, fmt, is_num, pct

#: the panel's columns in order: role in ``audit.board.allocations``
ROLES: Final[tuple[str, ...]] = (
    "model",
    "model_without_policy",
    "reference",
    "best_baseline",
    "policy",
)


@dataclass(frozen=True)
class PanelColumn:
    """One allocation of the panel."""

    role: str
    #: the column heading: "This model", "The true risk (the reference)", ...
    heading: str


@dataclass(frozen=True)
class PanelRow:
    """One row: a group or stratum in words with its key, or a figure of the whole allocation."""

    label: str
    key: str | None
    cells: tuple[str, ...]
    #: a summary row (the discovery gap), set apart from the groups above it
    summary: bool = False


@dataclass(frozen=True)
class PanelSection:
    """One quantity for every group of an attribute (or stratum of a spec)."""

    title: str
    meaning: str
    rows: tuple[PanelRow, ...]


@dataclass(frozen=True)
class PanelTable:
    """The sections of one attribute (groups of residents) or one stratum spec (cells)."""

    id: str
    title: str
    #: the heading of the first column: "Group", "Stratum", "Figure"
    row_heading: str
    sections: tuple[PanelSection, ...]


@dataclass(frozen=True)
class IntersectionView:
    """Residents by two attributes at once: how the counts were made (or why they could not
    be), the table where they could, the groups withheld, and the figures in sentences."""

    id: str
    title: str
    note: str
    table: PanelTable | None
    #: "<group> (<key>): withheld under <allocation> (<reason>)"
    withheld: tuple[str, ...]
    sentences: tuple[str, ...]


@dataclass(frozen=True)
class BoardPanelView:
    """The panel as the documents print it."""

    columns: tuple[PanelColumn, ...]
    #: the allocations in a sentence: "this model, the true risk and the best baseline (...)"
    listing: str
    overall: PanelTable
    attributes: tuple[PanelTable, ...]
    #: the intersections of two attributes (no gate judges them)
    intersections: tuple[IntersectionView, ...]
    strata: tuple[PanelTable, ...]
    #: sentences on what the reference itself does (a perfect forecast's, on synthetic data)
    reference_sentences: tuple[str, ...]
    #: whether the reference is the simulator's true risk (synthetic data)
    perfect: bool
    committed_harm: bool


def is_truth_reference(audit: AuditReport) -> bool:
    """Whether the reference allocation is the simulator's true risk (synthetic data)."""
    return audit.reference.column == TRUTH_REFERENCE.column


def _columns(audit: AuditReport) -> tuple[PanelColumn, ...]:
    out = []
    for role in ROLES:
        alloc = audit.board.allocations.get(role)
        if alloc is None:
            continue
        heading = capfirst(alloc.label)
        if role == "reference":
            heading += " (the reference)"
        out.append(PanelColumn(role=role, heading=heading))
    return tuple(out)


def _allocs(audit: AuditReport, columns: tuple[PanelColumn, ...]) -> list[BoardAllocation]:
    return [audit.board.allocations[c.role] for c in columns]


def _exposure_cell(g: BoardGroup | None) -> str:
    if g is None:
        return "n/a"
    return f"{pct(g.exposure)} ({count(g.residents_per_period)})"


#: the group quantities of the panel: (title, meaning, how a cell reads, committed harm only)
_QUANTITIES: Final[tuple[tuple[str, str, Callable[[BoardGroup | None], str], bool], ...]] = (
    (
        "Exposure: residents living in flagged cells",
        "The share of the group's residents who live in a flagged cell in an average {one}, "
        "and (in brackets) how many residents that is.",
        _exposure_cell,
        False,
    ),
    (
        "Exposure relative to all residents",
        "The group's exposure over that of all residents together: 1 means as often as "
        "everyone; 2 means twice as often.",
        lambda g: fmt(None if g is None else g.exposure_ratio),
        False,
    ),
    (
        "Discovery: the group's recorded victimisation reached",
        "The share of the crime recorded against the group's residents that happened in "
        "flagged cells (the protection side). The last row is the largest gap between the "
        "groups, in percentage points.",
        lambda g: pct(None if g is None else g.discovery),
        False,
    ),
    (
        "Discovery of committed harm (synthetic data only)",
        "As above, but counting all crime committed against the group's residents, reported "
        "or not, which only the simulator knows. Where it differs from the row above, victims' "
        "reporting, not the forecast, is shifting who is protected.",
        lambda g: pct(None if g is None else g.discovery_committed),
        True,
    ),
    (
        "Burden per benefit",
        "Exposure relative to all residents over discovery relative to all residents: above 1, "
        "the group carries more of the flagging than it receives of the protection.",
        lambda g: fmt(None if g is None else g.burden_benefit),
        False,
    ),
    (
        "False-flag rate",
        "The share of flagged cell-{many} where the group lives that had no target crime, "
        "weighted by the group's residents.",
        lambda g: pct(None if g is None else g.false_flag_rate),
        False,
    ),
)


def _reported(cell: Callable[[BoardGroup | None], str], g: BoardGroup | None) -> str:
    """A group's figure, or "insufficient data" where the small-group rule withholds it."""
    return "insufficient data" if g is not None and g.insufficient_reason else cell(g)


def _attribute_table(
    audit: AuditReport,
    attr: str,
    allocs: list[BoardAllocation],
    words: dict[str, str],
    *,
    heading: str | None = None,
    quantities: tuple[str, ...] | None = None,
) -> PanelTable:
    keys = list(audit.groups[attr].groups) if attr in audit.groups else []
    for alloc in allocs:
        keys += [k for k in alloc.groups.get(attr, {}) if k not in keys]
    labels = {k: _group_label(audit, attr, k, allocs) for k in keys}
    sections = []
    for title, meaning, cell, committed_only in _QUANTITIES:
        if committed_only and not audit.board.committed_harm:
            continue
        if quantities is not None and title not in quantities:
            continue
        rows = [
            PanelRow(
                label=capfirst(labels[k]),
                key=k,
                cells=tuple(_reported(cell, a.groups.get(attr, {}).get(k)) for a in allocs),
            )
            for k in keys
        ]
        if title.startswith("Discovery:"):
            rows.append(
                PanelRow(
                    label="Largest gap between the groups",
                    key=None,
                    cells=tuple(_pp(a.discovery_gap_pp.get(attr)) for a in allocs),
                    summary=True,
                )
            )
        sections.append(
            PanelSection(title=title, meaning=meaning.format(**words), rows=tuple(rows))
        )
    return PanelTable(
        id=f"board-{attr}",
        title=heading or f"Groups of residents by {attr}",
        row_heading="Group",
        sections=tuple(sections),
    )


def _group_label(audit: AuditReport, attr: str, key: str, allocs: list[BoardAllocation]) -> str:
    if attr in audit.groups and key in audit.groups[attr].groups:
        return audit.groups[attr].groups[key].label
    for alloc in allocs:
        if key in alloc.groups.get(attr, {}):
            return alloc.groups[attr][key].label
    return key


def _pp(x: float | None) -> str:
    return "n/a" if not is_num(x) else f"{x:.1f} points"


def _stratum_table(audit: AuditReport, spec: str, allocs: list[BoardAllocation]) -> PanelTable:
    block = audit.strata.get(spec)
    keys = list(block.strata) if block is not None else []
    for alloc in allocs:
        keys += [k for k in alloc.pai_by_stratum.get(spec, {}) if k not in keys]
    rows = []
    for k in keys:
        label = block.strata[k].label if block is not None and k in block.strata else k
        rows.append(
            PanelRow(
                label=capfirst(label),
                key=k,
                cells=tuple(fmt(a.pai_by_stratum.get(spec, {}).get(k)) for a in allocs),
            )
        )
    words = block.label if block is not None else spec
    section = PanelSection(
        title="PAI within each stratum",
        meaning="Within each stratum, the share of its recorded target crime in flagged cells "
        "over the share of its area flagged: how efficiently each allocation picks out crime "
        "there (n/a where an allocation flags nothing in the stratum).",
        rows=tuple(rows),
    )
    return PanelTable(
        id=f"board-strata-{spec}",
        title=f"Strata of cells by {words} ({spec})",
        row_heading="Stratum",
        sections=(section,),
    )


def _overall(allocs: list[BoardAllocation], one: str) -> PanelTable:
    section = PanelSection(
        title="The whole study area",
        meaning=f"What each allocation catches, and where it sends attention, in an average {one}.",
        rows=(
            PanelRow(
                label="Hit rate: share of recorded target crime in flagged cells",
                key=None,
                cells=tuple(pct(a.hit_rate) for a in allocs),
            ),
            PanelRow(
                label="PAI: hit rate over the share of the area flagged",
                key=None,
                cells=tuple(fmt(a.pai) for a in allocs),
            ),
            PanelRow(
                label="Share of the flagged area in cells with almost no residents",
                key=None,
                cells=tuple(pct(a.no_resident_area_share) for a in allocs),
            ),
            PanelRow(
                label="Share of the crime captured that lies in cells with almost no residents",
                key=None,
                cells=tuple(pct(a.no_resident_crime_share) for a in allocs),
            ),
            PanelRow(
                label="Share of its flagged area that this model flags too",
                key=None,
                cells=tuple(pct(a.area_shared_with_model) for a in allocs),
            ),
        ),
    )
    return PanelTable(
        id="board-overall", title="The whole study area", row_heading="Figure", sections=(section,)
    )


def _extremes(alloc: BoardAllocation, attr: str) -> tuple[str, str] | None:
    """The keys of the groups with the highest and the lowest exposure ratio, if any."""
    known = {k: g.exposure_ratio for k, g in alloc.groups.get(attr, {}).items()}
    known = {k: v for k, v in known.items() if is_num(v)}
    if len(known) < 2:
        return None
    hi = max(known, key=lambda k: (known[k], k))
    lo = min(known, key=lambda k: (known[k], k))
    return hi, lo


def _times(x: float | None) -> str:
    return "n/a" if not is_num(x) else f"{x:.2f} times"


def reference_sentences(audit: AuditReport) -> tuple[str, ...]:
    """What the reference allocation itself does to each attribute's groups, in sentences.

    On synthetic data the reference is the true risk, so these are the disparities a perfect
    forecast creates; the model's figures follow in brackets. Quotes figures of ``audit.board``.
    """
    board = audit.board.allocations
    ref = board.get("reference")
    model = board.get("model")
    if ref is None:
        return ()
    who = "Even under the true risk" if is_truth_reference(audit) else f"Under {ref.label}"
    out = []
    for attr in (a for a in ref.groups if a not in audit.board.intersections):
        ends = _extremes(ref, attr)
        if ends is None:
            continue
        hi, lo = ends
        g_hi, g_lo = ref.groups[attr][hi], ref.groups[attr][lo]
        m = model.groups.get(attr, {}) if model is not None else {}
        text = (
            f"{who}, {g_hi.label} ({hi}) live in flagged cells {_times(g_hi.exposure_ratio)} as "
            f"often as all residents do, and {g_lo.label} ({lo}) {_times(g_lo.exposure_ratio)} "
            "as often"
        )
        if hi in m and lo in m:
            text += f" (this model: {fmt(m[hi].exposure_ratio)} and {fmt(m[lo].exposure_ratio)})"
        gap = ref.discovery_gap_pp.get(attr)
        text += (
            f". The share of their recorded victimisation that {ref.label} reaches differs "
            f"between the groups by {attr} by up to {_pp(gap)}"
        )
        if model is not None:
            text += f" (this model: {_pp(model.discovery_gap_pp.get(attr))})"
        text += "."
        out.append(text)
        if audit.board.committed_harm:
            committed = _committed_sentence(ref, attr)
            if committed:
                out.append(committed)
    return tuple(out)


def _committed_sentence(ref: BoardAllocation, attr: str) -> str | None:
    """The groups best and least reached when all committed harm counts, reported or not."""
    known = {
        k: g
        for k, g in ref.groups.get(attr, {}).items()
        if is_num(g.discovery_committed) and is_num(g.discovery)
    }
    if len(known) < 2:
        return None
    hi = max(known, key=lambda k: (known[k].discovery_committed or 0.0, k))
    lo = min(known, key=lambda k: (known[k].discovery_committed or 0.0, k))
    g_hi, g_lo = known[hi], known[lo]
    return (
        f"Counted against all crime committed, reported or not, {ref.label} reaches "
        f"{pct(g_hi.discovery_committed)} of the harm done to {g_hi.label} ({hi}) and "
        f"{pct(g_lo.discovery_committed)} of that done to {g_lo.label} ({lo}) (of recorded "
        f"crime: {pct(g_hi.discovery)} and {pct(g_lo.discovery)}). Where these differ from the "
        "recorded figures, victims' reporting, which varies from place to place, shifts who is "
        "protected; the forecast only sees what is recorded."
    )


@dataclass(frozen=True)
class CompactRow:
    """One group in the model card's compact panel: each cell holds every allocation's figure,
    in the order of the panel's columns, separated by " / "."""

    label: str
    key: str | None
    exposure_ratio: str
    discovery: str
    burden_benefit: str


def compact_panel(audit: AuditReport) -> dict[str, tuple[CompactRow, ...]]:
    """The model card's panel: attribute (or intersection, in words) -> a row per group and the
    discovery gap; a group withheld by the small-group rule reads "insufficient data"."""
    allocs = _allocs(audit, _columns(audit))
    crossed = {name: panel for name, panel in audit.board.intersections.items() if panel.available}
    titles = {attr: attr for attr in audit.groups}
    titles.update({name: panel.label for name, panel in crossed.items()})
    out: dict[str, tuple[CompactRow, ...]] = {}
    for table_attr, title in titles.items():
        keys = (
            list(audit.groups[table_attr].groups)
            if table_attr in audit.groups
            else list(crossed[table_attr].groups)
        )
        rows = []
        for k in keys:
            figs = [a.groups.get(table_attr, {}).get(k) for a in allocs]

            def each(value: Callable[[BoardGroup], str], figs: list = figs) -> str:
                return " / ".join(
                    "insufficient data"
                    if g is not None and g.insufficient_reason
                    else value(g)
                    if g is not None
                    else "n/a"
                    for g in figs
                )

            rows.append(
                CompactRow(
                    label=capfirst(_group_label(audit, table_attr, k, allocs)),
                    key=k,
                    exposure_ratio=each(lambda g: fmt(g.exposure_ratio)),
                    discovery=each(lambda g: pct(g.discovery)),
                    burden_benefit=each(lambda g: fmt(g.burden_benefit)),
                )
            )
        rows.append(
            CompactRow(
                label="Largest gap in discovery between the groups",
                key=None,
                exposure_ratio="",
                discovery=" / ".join(_pp(a.discovery_gap_pp.get(table_attr)) for a in allocs),
                burden_benefit="",
            )
        )
        out[title] = tuple(rows)
    return out


def board_panel(audit: AuditReport, *, one: str, many: str) -> BoardPanelView:
    """The board's panel of ``audit`` as tables and sentences (``one``/``many``: the period's
    words, "week"/"weeks")."""
    columns = _columns(audit)
    allocs = _allocs(audit, columns)
    crossed = audit.board.intersections
    attrs = list(audit.groups)
    for alloc in allocs:
        attrs += [a for a in alloc.groups if a not in attrs and a not in crossed]
    specs = list(audit.strata)
    for alloc in allocs:
        specs += [s for s in alloc.pai_by_stratum if s not in specs]
    words = {"one": one, "many": many}
    names = [
        "this model" if c.role == "model" else audit.board.allocations[c.role].label
        for c in columns
    ]
    listing = (
        ", ".join(names[:-1]) + (" and " if len(names) > 1 else "") + names[-1] if names else ""
    )
    return BoardPanelView(
        columns=columns,
        listing=listing,
        overall=_overall(allocs, one),
        attributes=tuple(_attribute_table(audit, a, allocs, words) for a in attrs),
        intersections=tuple(
            _intersection_view(audit, name, columns, allocs, words) for name in crossed
        ),
        strata=tuple(_stratum_table(audit, s, allocs) for s in specs),
        reference_sentences=reference_sentences(audit),
        perfect=is_truth_reference(audit),
        committed_harm=audit.board.committed_harm,
    )


#: the quantities an intersection's table shows (the panel's, fewer: ten groups make long tables)
_CROSSED_QUANTITIES: Final[tuple[str, ...]] = (
    "Exposure relative to all residents",
    "Discovery: the group's recorded victimisation reached",
    "Burden per benefit",
)


def _heading(audit: AuditReport, role: str) -> str:
    return "this model" if role == "model" else audit.board.allocations[role].label


def _intersection_view(
    audit: AuditReport,
    name: str,
    columns: tuple[PanelColumn, ...],
    allocs: list[BoardAllocation],
    words: dict[str, str],
) -> IntersectionView:
    panel = audit.board.intersections[name]
    title = f"Groups of residents by {panel.label}"
    if not panel.available:
        return IntersectionView(
            id=f"board-{name}",
            title=title,
            note=panel.note,
            table=None,
            withheld=(),
            sentences=(f"By {panel.label}: {panel.note}",),
        )
    withheld = tuple(
        f"{capfirst(g.label)} ({key}): withheld under {_heading(audit, c.role)} "
        f"({g.insufficient_reason})"
        for key in panel.groups
        for c, a in zip(columns, allocs, strict=True)
        if (g := a.groups.get(name, {}).get(key)) is not None and g.insufficient_reason
    )
    table = _attribute_table(
        audit, name, allocs, words, heading=title, quantities=_CROSSED_QUANTITIES
    )
    return IntersectionView(
        id=f"board-{name}",
        title=title,
        note=panel.note,
        table=table,
        withheld=withheld,
        sentences=intersection_sentences(audit, name),
    )


def intersection_sentences(audit: AuditReport, name: str) -> tuple[str, ...]:
    """An intersection's figures in sentences: the groups the model flags most and least often
    (with the reference's figures for the same groups) and the largest gap in discovery, over
    the groups with enough data; or why the data do not allow the figures."""
    panel = audit.board.intersections[name]
    if not panel.available:
        return (f"By {panel.label}: {panel.note}",)
    board = audit.board.allocations
    model, ref = board.get("model"), board.get("reference")
    if model is None:
        return ()
    groups = model.groups.get(name, {})
    reported = {k: g for k, g in groups.items() if not g.insufficient_reason}
    n_withheld = len(groups) - len(reported)
    withheld = (
        f" {n_withheld} of the {len(groups)} groups are withheld as insufficient data under this "
        "model."
        if n_withheld
        else ""
    )
    ends = _extremes(model.model_copy(update={"groups": {name: reported}}), name)
    if ends is None:
        return (
            f"By {panel.label}: too few groups have enough data to compare under this model."
            + withheld,
        )
    hi, lo = ends
    r = ref.groups.get(name, {}) if ref is not None else {}

    def ref_of(key: str) -> str:
        g = r.get(key)
        if g is None or g.insufficient_reason:
            return "insufficient data"
        return _times(g.exposure_ratio)

    text = (
        f"By {panel.label}, under this model {reported[hi].label} ({hi}) live in flagged cells "
        f"{_times(reported[hi].exposure_ratio)} as often as all residents do, the most of any "
        f"group, and {reported[lo].label} ({lo}) {_times(reported[lo].exposure_ratio)} as often, "
        "the least"
    )
    if ref is not None:
        text += f" ({ref.label}: {ref_of(hi)} and {ref_of(lo)})"
    text += (
        ". The share of their recorded victimisation that this model reaches differs between "
        f"the groups by up to {_pp(model.discovery_gap_pp.get(name))}"
    )
    if ref is not None:
        text += f" ({ref.label}: {_pp(ref.discovery_gap_pp.get(name))})"
    return (text + "." + withheld,)

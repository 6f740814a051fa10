"""The district coverage filter: which districts an event sample actually covers.

A sample that queried only some districts (the London API sample covers 25 of 33 boroughs) would
otherwise make every cell of the others look crime-free. :func:`covered_districts` compares each
district's event rates with the median district's; :func:`restrict_to_covered` keeps the areas of
the covered ones, and the ingest stage validates again against them so that the events spilling
over the edge into uncovered districts are quarantined as outside the study area.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final, Literal

import geopandas as gpd
import numpy as np
import pandas as pd

from beatwise.artefacts.quality import Coverage, DistrictCoverage
from features.ingest.parsing import closest_hint, examples

log = logging.getLogger(__name__)

#: ``"both"``: a district is covered when its events per resident AND per km² are each at least
#: ``min_rate_ratio`` times the median district's (a district without residents is judged per km²
#: alone). ``"residents"`` or ``"area"`` use one rate only.
CoverageBasis = Literal["both", "residents", "area"]

#: Measured on the London API sample (2016-01..2018-06, events located to 2011 LSOAs): the smaller
#: of the two ratios is at most 0.093 in the 8 boroughs the sample never queried (City of London:
#: 257 edge events, 0.12 of the median per resident, 0.09 per km²) and at least 0.46 in the 25 it
#: covers (Bromley per km²; Sutton is lowest per resident at 0.74). 0.2 sits midway on a log scale.
DEFAULT_MIN_RATE_RATIO: Final[float] = 0.2

COVERAGE_COLUMNS: Final[tuple[str, ...]] = (
    "district_name",
    "events",
    "residents",
    "area_km2",
    "events_per_1k_residents",
    "events_per_km2",
    "ratio_residents",
    "ratio_area",
    "covered",
)


@dataclass(frozen=True)
class CoverageResult:
    """Which districts an event sample covers, with the per-district evidence.

    Attributes
    ----------
    covered
        Covered district names, sorted.
    table
        One row per district (sorted by name), columns :data:`COVERAGE_COLUMNS`: accepted events
        located in the district, residents, land area (km²), events per 1,000 residents and per
        km², each rate divided by the median district's, and the decision. Rates are over the
        whole sample period.
    min_rate_ratio, basis
        The rule applied.
    events_outside_areas
        Events with no district (located in no area); they count towards no district.
    """

    covered: tuple[str, ...]
    table: pd.DataFrame
    min_rate_ratio: float
    basis: CoverageBasis
    events_outside_areas: int

    @property
    def uncovered(self) -> tuple[str, ...]:
        """District names the sample does not cover, sorted."""
        return tuple(sorted(set(self.table["district_name"]) - set(self.covered)))

    def summary(self) -> Coverage:
        """The data-quality report's record of the rule and of every district's evidence."""
        rows = self.table.astype(object).where(self.table.notna(), None)
        return Coverage(
            rule=(
                f"a district is in the study area when its events per "
                f"{'resident and per km²' if self.basis == 'both' else self.basis} reach "
                f"{self.min_rate_ratio:g} of the median district's"
            ),
            covered=list(self.covered),
            uncovered=list(self.uncovered),
            events_outside_areas=self.events_outside_areas,
            districts={
                str(r["district_name"]): DistrictCoverage.model_validate(
                    {k: v for k, v in r.items() if k != "district_name"}
                )
                for r in rows.to_dict(orient="records")
            },
        )


def _district_names(areas: gpd.GeoDataFrame, *, what: str) -> pd.Series:
    if "district_name" not in areas.columns:
        raise ValueError(
            f"{what} needs areas with a 'district_name' column; they have {list(areas.columns)}."
            + closest_hint(["district_name"], [str(c) for c in areas.columns])
        )
    names = areas["district_name"].astype("string")
    if names.isna().any():
        codes = areas["area_code"] if "area_code" in areas.columns else areas.index.to_series()
        raise ValueError(
            f"{what}: {int(names.isna().sum())} area(s) have no district_name, e.g. "
            f"{examples(codes[names.isna().to_numpy()])}; expected a district for every area."
        )
    return names


def districts_of_events(event_area_code: pd.Series, areas: gpd.GeoDataFrame) -> pd.Series:
    """District of each event from the code of the area it lies in (NA stays NA).

    Parameters
    ----------
    event_area_code
        ``area_code`` of each accepted event (``features.ingest.validation.validate_events``
        sets it when given the areas); NA for events outside every area.
    areas
        The areas contract with ``area_code`` and ``district_name``.

    Raises
    ------
    ValueError
        When the areas lack those columns or an event's code is not an area code.
    """
    names = _district_names(areas, what="districts_of_events")
    lookup = pd.Series(names.to_numpy(), index=areas["area_code"].astype(str).to_numpy())
    codes = event_area_code.astype("string")
    unknown = codes.notna() & ~codes.isin(lookup.index)
    if unknown.any():
        raise ValueError(
            f"{int(unknown.sum())} event(s) carry area codes the areas do not have, e.g. "
            f"{examples(codes[unknown].unique())}; expected codes from the areas' 'area_code' "
            f"(locate the events in these same areas)."
        )
    return pd.Series(
        codes.map(lookup).to_numpy(), index=event_area_code.index, dtype="string", name="district"
    )


def covered_districts(
    event_area_district: pd.Series,
    areas: gpd.GeoDataFrame,
    *,
    min_rate_ratio: float = DEFAULT_MIN_RATE_RATIO,
    basis: CoverageBasis = "both",
) -> CoverageResult:
    """Decide which districts an event sample covers by comparing their event rates.

    A district is covered when its events per resident and its events per km² (see
    ``basis``) are each at least ``min_rate_ratio`` times the median district's. Per resident
    alone misjudges small-population districts: London's City has 9.7k residents, so a few
    hundred events spilling over from neighbouring boroughs' queries already reach an eighth of
    the median borough's rate, while its real crime would be several times the median. Per km²
    alone misjudges large, sparse outer districts. Requiring both needs a district to hold a fair
    share of events for its people and for its land; genuinely covered districts clear both with a
    wide margin, uncovered ones (a handful of edge events) clear neither.

    Parameters
    ----------
    event_area_district
        District name of each accepted event (NA when it lies in no area); e.g. from
        :func:`districts_of_events`.
    areas
        The areas contract: ``district_name``, ``residents`` and polygons (any CRS; land area is
        measured in a local UTM projection).
    min_rate_ratio
        Share of the median district's rate a covered district reaches, in (0, 1].
    basis
        Which rates to judge by: ``"both"`` (default), ``"residents"`` or ``"area"``.

    Returns
    -------
    CoverageResult
        The covered districts and the per-district table for the data-quality report.

    Raises
    ------
    ValueError
        When ``min_rate_ratio`` is outside (0, 1], ``basis`` is unknown, the areas lack
        ``district_name``/``residents``, an event names a district no area has, or the median
        district has no events (fewer than half the districts hold data; the median rule cannot
        judge such a sample).
    """
    if not 0 < min_rate_ratio <= 1:
        raise ValueError(
            f"'min_rate_ratio' must be in (0, 1] (a share of the median district's rate); "
            f"got {min_rate_ratio}."
        )
    if basis not in ("both", "residents", "area"):
        raise ValueError(f"'basis' must be 'both', 'residents' or 'area'; got {basis!r}.")
    names = _district_names(areas, what="covered_districts")
    if "residents" not in areas.columns:
        raise ValueError(
            f"covered_districts needs areas with a 'residents' column; they have "
            f"{list(areas.columns)}." + closest_hint(["residents"], list(map(str, areas.columns)))
        )
    district = event_area_district.astype("string")
    unknown = district.notna() & ~district.isin(set(names))
    if unknown.any():
        raise ValueError(
            f"{int(unknown.sum())} event(s) name district(s) "
            f"{examples(sorted(district[unknown].unique()))} that no area has; expected one of "
            f"{sorted(set(names))}."
        )
    area_km2 = areas.geometry.to_crs(areas.estimate_utm_crs()).area.to_numpy() / 1e6
    per = (
        pd.DataFrame(
            {
                "district_name": names.to_numpy(dtype=object),
                "residents": areas["residents"].to_numpy(dtype=np.float64),
                "area_km2": area_km2,
            }
        )
        .groupby("district_name", sort=True)
        .sum()
    )
    events = district.value_counts().reindex(per.index, fill_value=0).to_numpy(dtype=np.int64)
    residents = per["residents"].to_numpy()
    km2 = per["area_km2"].to_numpy()
    per_1k = np.divide(
        1000.0 * events, residents, out=np.full(len(per), np.nan), where=residents > 0
    )
    per_km2 = np.divide(events, km2, out=np.full(len(per), np.nan), where=km2 > 0)
    ratios = {}
    for label, rate in (("residents", per_1k), ("area", per_km2)):
        reference = float(np.nanmedian(rate)) if np.isfinite(rate).any() else np.nan
        if basis in ("both", label) and not reference > 0:
            unit = "resident" if label == "residents" else "km²"
            raise ValueError(
                f"The median district has no events per {unit} ({int((events > 0).sum())} of "
                f"{len(per)} districts hold any), so coverage "
                f"cannot be judged against it; expected most districts to hold data. Check that "
                f"the events were located in these areas."
            )
        ratios[label] = rate / reference if reference > 0 else np.full(len(per), np.nan)
    with np.errstate(invalid="ignore"):
        ok_res = ratios["residents"] >= min_rate_ratio
        ok_area = ratios["area"] >= min_rate_ratio
    if basis == "residents":
        covered = ok_res
    elif basis == "area":
        covered = ok_area
    else:
        covered = ok_area & (ok_res | ~(residents > 0))
    table = pd.DataFrame(
        {
            "district_name": per.index.to_numpy(dtype=object),
            "events": events,
            "residents": residents,
            "area_km2": km2,
            "events_per_1k_residents": per_1k,
            "events_per_km2": per_km2,
            "ratio_residents": ratios["residents"],
            "ratio_area": ratios["area"],
            "covered": covered,
        },
        columns=list(COVERAGE_COLUMNS),
    )
    result = CoverageResult(
        covered=tuple(table.loc[covered, "district_name"]),
        table=table,
        min_rate_ratio=min_rate_ratio,
        basis=basis,
        events_outside_areas=int(district.isna().sum()),
    )
    log.info(
        "coverage (basis %s, ratio >= %.2f of the median district): %d of %d districts covered; "
        "%d events in no area",
        basis,
        min_rate_ratio,
        len(result.covered),
        len(table),
        result.events_outside_areas,
    )
    for row in table.loc[~covered].itertuples(index=False):
        log.warning(
            "district %r is not covered by the events: %d events, %.3f x median per resident, "
            "%.3f x median per km²; its areas leave the study area",
            row.district_name,
            row.events,
            row.ratio_residents,
            row.ratio_area,
        )
    return result


def restrict_to_covered(areas: gpd.GeoDataFrame, coverage: CoverageResult) -> gpd.GeoDataFrame:
    """The areas of covered districts only, so uncovered districts yield no zero-crime cells.

    Events located in the dropped districts should be left out too (they are edge spill-over,
    not the district's crime); ``features.ingest.validation.validate_events`` does that when
    given the restricted areas.

    Raises
    ------
    ValueError
        When the areas lack ``district_name`` or no district is covered.
    """
    names = _district_names(areas, what="restrict_to_covered")
    if not coverage.covered:
        raise ValueError(
            "No district is covered by the events, so the study area would be empty; see the "
            "coverage table."
        )
    keep = names.isin(set(coverage.covered)).to_numpy()
    kept = areas.loc[keep]
    residents = areas["residents"].to_numpy(dtype=np.float64) if "residents" in areas else None
    log.info(
        "study area: %d of %d areas in %d covered districts%s",
        len(kept),
        len(areas),
        len(coverage.covered),
        ""
        if residents is None
        else f", {residents[keep].sum():.0f} of {residents.sum():.0f} residents",
    )
    return kept

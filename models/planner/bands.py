"""``forecast_bands.csv``: when in the week each flagged cell's expected crime falls.

One row per flagged cell and time band (``models.timebands``), flagged cells by rank, bands in
their order (weekdays 00:00-04:00 first):

==========================  ========================================================================
``h3_cell``                 the cell (as in ``forecast.csv``)
``risk_rank``               its rank in ``forecast.csv`` (1 = highest expected count)
``district_name``           its district (as in ``forecast.csv``)
``band``                    the band in words: ``weekdays 16:00-20:00``, ``weekends 00:00-04:00``
``band_share``              the cell's share of its week's expected crime in the band (the shares
                            of a cell add up to 1; three decimals)
``band_expected_count``     the cell's expected count times the share (three decimals)
==========================  ========================================================================

Data without times of day (monthly data, dates only) have no time bands: the file then holds the
header alone, and the manifest (``time_bands_note``) and the map say why.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

from models.forecast import forecast_csv
from models.timebands import ForecastBands

#: the file's columns, in order
BAND_COLUMNS: Final[tuple[str, ...]] = (
    "h3_cell",
    "risk_rank",
    "district_name",
    "band",
    "band_share",
    "band_expected_count",
)
#: bands named per flagged cell on the map: its busiest
BUSIEST_SHOWN: Final[int] = 2


def _shares_by_cell(table: pd.DataFrame, bands: ForecastBands) -> np.ndarray:
    """The shares ``[row of table, band]``; ``bands.shares`` is in ``table``'s cell order."""
    assert bands.shares is not None
    if bands.shares.shape[0] != len(table):
        raise ValueError(
            f"the time bands cover {bands.shares.shape[0]} cells, the forecast {len(table)}."
        )
    return bands.shares


def band_table(table: pd.DataFrame, bands: ForecastBands) -> pd.DataFrame:
    """The rows of ``forecast_bands.csv`` (:data:`BAND_COLUMNS`) for the flagged cells of the
    forecast ``table`` (its rows in the order the shares were computed in)."""
    if bands.shares is None:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in BAND_COLUMNS})
    shares = _shares_by_cell(table, bands)
    flagged = table["flagged"].to_numpy(dtype=bool)
    order = np.argsort(table["risk_rank"].to_numpy()[flagged], kind="stable")
    rows = np.flatnonzero(flagged)[order]
    n_bands = len(bands.labels)
    chosen = shares[rows]
    return pd.DataFrame(
        {
            "h3_cell": np.repeat(table["h3_cell"].to_numpy()[rows], n_bands),
            "risk_rank": np.repeat(table["risk_rank"].to_numpy()[rows], n_bands),
            "district_name": np.repeat(table["district_name"].to_numpy()[rows], n_bands),
            "band": np.tile(np.asarray(bands.labels, dtype=object), rows.size),
            "band_share": np.round(chosen, 3).ravel(),
            "band_expected_count": np.round(
                chosen * table["risk_score"].to_numpy(dtype=np.float64)[rows, None], 3
            ).ravel(),
        }
    )


def forecast_bands_csv(table: pd.DataFrame, bands: ForecastBands) -> bytes:
    """``forecast_bands.csv`` as published (the conventions of ``forecast.csv``)."""
    return forecast_csv(band_table(table, bands)).encode("utf-8")


def busiest_bands(table: pd.DataFrame, bands: ForecastBands) -> list[str]:
    """Per row of ``table``: its :data:`BUSIEST_SHOWN` busiest bands with their shares, for a
    flagged cell (``weekdays 16:00-20:00 (18%), weekdays 20:00-24:00 (17%)``); empty text for
    the others and when there are no bands."""
    if bands.shares is None:
        return [""] * len(table)
    shares = _shares_by_cell(table, bands)
    flagged = np.flatnonzero(table["flagged"].to_numpy(dtype=bool))
    top = np.argsort(-shares[flagged], axis=1, kind="stable")[:, :BUSIEST_SHOWN]
    labels = np.asarray(bands.labels, dtype=object)
    text = [""] * len(table)
    for row, bands_of_row in zip(flagged, top, strict=True):  # the flagged cells: a few hundred
        text[row] = ", ".join(f"{labels[b]} ({shares[row, b] * 100:.0f}%)" for b in bands_of_row)
    return text


def hours_note(bands: ForecastBands) -> str:
    """The map legend's sentence on the hours of the week."""
    if bands.shares is None:
        return f"No hours of the week: {bands.reason}."
    return (
        "Busiest hours: pointing at a flagged hexagon names the two time bands of the week with "
        f"most of its expected crime, from the events of its last {bands.history_periods} weeks "
        "and its neighbours'; forecast_bands.csv has every band."
    )

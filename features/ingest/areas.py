"""The areas contract: area polygons with the attributes the bias audit needs.

An areas table has one row per area: ``area_code`` (str, unique), ``residents`` (float) and a
polygon, in EPSG:4326, plus the optional columns of :data:`AREA_ATTRIBUTE_COLUMNS`
(``area_name``, ``district_name``, resident groups, deprivation) that
:func:`features.cells.build_cell_table` apportions to H3 cells. Three ways in, one way out:

* :func:`read_areas` is the one reader of a file in the contract: a source's prepared areas (the
  simulator writes one) and the study areas the ingest stage writes for ``build_cells``;
* :func:`load_area_attributes` builds the contract from a boundaries file and attribute tables
  through an :class:`~features.ingest.area_mapping.AreaMapping`;
* :func:`empty_areas` is the contract with no rows, for a source without areas.

:func:`features.ingest.locate.locate_in_areas` finds the area that contains each point. Group
metrics built from these attributes describe residents of areas, not individuals.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyogrio

from features.ingest.area_groups import MappedColumn, derive_groups
from features.ingest.area_mapping import BOUNDARIES, AreaMapping, AttributeColumn, AttributeTable
from features.ingest.parsing import (
    EXAMPLES,
    closest_hint,
    examples,
    read_csv_text,
    require_columns,
    require_file,
)

log = logging.getLogger(__name__)

#: Columns every areas file carries.
REQUIRED_AREA_COLUMNS: Final[tuple[str, ...]] = ("area_code", "residents", "geometry")

#: Columns :func:`load_area_attributes` writes, in order; the optional ones appear only when the
#: mapping provides them.
AREA_ATTRIBUTE_COLUMNS: Final[tuple[str, ...]] = (
    "area_code",
    "area_name",
    "district_name",
    "residents",
    "residents_minority",
    "residents_majority",
    "minority_share",
    "deprivation_decile",
    "deprivation_score",
    "geometry",
)

OUTPUT_CRS: Final[str] = "EPSG:4326"


# --- the contract --------------------------------------------------------------------------------


def read_areas(path: Path, *, allow_empty: bool = False) -> gpd.GeoDataFrame:
    """Read a file in the areas contract, in EPSG:4326.

    The one reader of the contract: a source's prepared areas (GeoParquet, or any file geopandas
    reads) and the study areas the ingest stage writes (GeoParquet), which hold no rows for a
    source without areas (``allow_empty=True``).

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    ValueError
        When it lacks a column of :data:`REQUIRED_AREA_COLUMNS` (with the closest names), holds
        no rows (unless ``allow_empty``) or has no CRS.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"No area polygons at {path}; expected a file with the columns "
            f"{list(REQUIRED_AREA_COLUMNS)} (the ingest stage writes the study areas)."
        )
    areas = gpd.read_parquet(path) if path.suffix == ".parquet" else gpd.read_file(path)
    require_columns(areas, REQUIRED_AREA_COLUMNS, where=path)
    if areas.empty and not allow_empty:
        raise ValueError(f"{path} holds no area polygons.")
    if areas.crs is None:
        raise ValueError(f"{path} has no CRS; Beatwise cannot place its polygons.")
    return areas.to_crs(OUTPUT_CRS)


def empty_areas() -> gpd.GeoDataFrame:
    """The areas contract with no rows (a source without areas), in EPSG:4326."""
    return gpd.GeoDataFrame(
        {
            "area_code": pd.Series([], dtype=object),
            "residents": pd.Series([], dtype=np.float64),
        },
        geometry=gpd.GeoSeries([], crs=OUTPUT_CRS),
        crs=OUTPUT_CRS,
    )


# --- reading boundaries and attribute tables through a mapping -----------------------------------


def _require(columns: Sequence[str], available: Sequence[str], *, where: Path, role: str) -> None:
    missing = [c for c in dict.fromkeys(columns) if c not in available]
    if missing:
        raise ValueError(
            f"{where}: missing {role} column(s) {missing}; expected them as named in the area "
            f"mapping. Found {list(available)}." + closest_hint(missing, available)
        )


def _text(values: pd.Series) -> pd.Series:
    """Values as stripped text; missing values become ''."""
    return values.astype("string").str.strip().fillna("")


#: a code written as a whole number with a decimal zero: ``"29510101100.0"``
_WHOLE_DECIMAL: Final[str] = r"^(\d+)\.0+$"


def area_code_text(values: pd.Series) -> pd.Series:
    """Area codes as stripped text, written the same whether a file stored them as text or number.

    A code of digits ending in a decimal zero loses it: ``"29510101100.0"`` -> ``"29510101100"``,
    ``"01001.0"`` -> ``"01001"``. That is also how a code read as a float (a Shapefile or
    GeoPackage number field, a spreadsheet cell) is written as text, so ``2.95101011e10`` becomes
    ``"29510101100"``. Nothing else changes: text codes keep their leading zeros (``"01001"``
    stays), and codes with letters or other decimals keep their text, as do floats of 10**16 and
    more (written with an exponent; beyond 2**53 a float is not exact anyway). A code stored as
    a number has already lost any leading zeros; the unmatched-codes error then says so.
    """
    return _text(values).reset_index(drop=True).str.replace(_WHOLE_DECIMAL, r"\1", regex=True)


def _read_boundaries(path: Path, *, layer: str | None) -> gpd.GeoDataFrame:
    if not path.exists():
        raise FileNotFoundError(
            f"No area boundaries file at {path} (the mapping's 'boundaries'); expected a polygon "
            f"file geopandas reads (Shapefile, GeoPackage, GeoParquet, ...)."
        )
    try:
        if path.suffix.lower() == ".parquet":
            frame = gpd.read_parquet(path)
        else:
            frame = gpd.read_file(path, layer=layer)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, ValueError) as err:
        raise ValueError(f"{path}: cannot be read as area boundaries ({err}).") from err
    if frame.empty:
        raise ValueError(f"{path} holds no area polygons; expected at least one.")
    if frame.crs is None:
        raise ValueError(
            f"{path} has no CRS (a Shapefile needs its .prj); Beatwise cannot place its polygons."
        )
    return frame


def _codes_and_shapes(
    shapes: gpd.GeoDataFrame, *, code_column: str, where: Path
) -> tuple[pd.Series, gpd.GeoSeries]:
    """Stripped area codes and geometries; blank or repeated codes and missing shapes are errors."""
    codes = area_code_text(shapes[code_column])
    blank = np.flatnonzero((codes == "").to_numpy())
    if blank.size:
        raise ValueError(
            f"{where}: code column {code_column!r} is blank in {blank.size} feature(s), first at "
            f"feature {blank[0] + 1}; expected a code for every polygon."
        )
    repeated = codes[codes.duplicated()]
    if not repeated.empty:
        raise ValueError(
            f"{where}: code column {code_column!r} repeats {repeated.nunique()} code(s), e.g. "
            f"{examples(repeated.unique())}; expected one feature per area (dissolve multi-part "
            f"areas first)."
        )
    geometry = shapes.geometry.reset_index(drop=True)
    no_shape = (geometry.isna() | geometry.is_empty).to_numpy()
    if no_shape.any():
        raise ValueError(
            f"{where}: {int(no_shape.sum())} feature(s) have a null or empty geometry, e.g. codes "
            f"{examples(codes[no_shape])}; expected a polygon for every area."
        )
    return codes, geometry


def _read_table(path: Path, *, spec: AttributeTable) -> pd.DataFrame:
    """A table with every column as stripped text ('' for missing), headers without a BOM."""
    if not path.exists() and not path.is_symlink():
        raise FileNotFoundError(
            f"No attribute table at {path} (the mapping's table path {spec.path!r}); expected an "
            f"existing file."
        )
    require_file(path, what="attribute table file")
    if spec.sheet is not None:
        try:
            frame = pyogrio.read_dataframe(path, layer=spec.sheet, read_geometry=False)
        except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as err:
            sheets = [str(name) for name in pyogrio.list_layers(path)[:, 0]]
            raise ValueError(
                f"{path}: cannot read sheet {spec.sheet!r} ({err}); the file has sheets {sheets}."
            ) from err
    else:
        try:
            frame = read_csv_text(path, encoding=spec.encoding)
        except UnicodeDecodeError as err:
            raise ValueError(
                f"{path}: not {spec.encoding} text ({err}); set the table's 'encoding' "
                f"(e.g. 'latin-1') to the file's encoding."
            ) from err
        except pd.errors.EmptyDataError as err:
            raise ValueError(f"{path} is empty; expected a header and rows.") from err
        except pd.errors.ParserError as err:
            raise ValueError(f"{path}: not well-formed CSV ({err}).") from err
        except OSError as err:
            raise ValueError(f"{path}: cannot be read ({err.strerror or err}).") from err
    frame.columns = [str(c).lstrip("\ufeff") for c in frame.columns]
    return pd.DataFrame(
        {
            c: area_code_text(frame[c]) if c == spec.key_column else _text(frame[c])
            for c in frame.columns
        }
    )


@dataclass(frozen=True)
class _Source:
    """Where a table's values come from, and which of its rows each polygon joins."""

    where: Path
    key_column: str
    thousands: str | None
    frame: pd.DataFrame
    rows: npt.NDArray[np.int64]  # per polygon: 0-based row of ``frame``; -1 when unmatched


def _match(
    keys: pd.Series, codes: pd.Series, *, where: Path, key_column: str
) -> npt.NDArray[np.int64]:
    present = keys[keys != ""]
    repeated = present[present.duplicated(keep=False)]
    if not repeated.empty:
        first = repeated.iloc[0]
        at = (np.flatnonzero((keys == first).to_numpy()) + 1).tolist()
        raise ValueError(
            f"{where}: key column {key_column!r} repeats {repeated.nunique()} code(s), e.g. "
            f"{first!r} in data rows {at[:EXAMPLES]}; expected one row per area (a long table, "
            f"e.g. one row per year, must be filtered first)."
        )
    index = pd.Index(present.to_numpy(), dtype=object)
    found = index.get_indexer(codes.to_numpy())
    rows = np.where(found >= 0, present.index.to_numpy()[found], -1)
    return rows.astype(np.int64)


def _parse_numbers(source: _Source, ref: AttributeColumn, codes: pd.Series) -> MappedColumn:
    """The column's value for each polygon as float, NaN where it has none.

    A blank cell, or one whose text (or number) is among ``ref.missing_values``, has no value;
    whether that is allowed (only where nobody lives) is
    :func:`~features.ingest.area_groups.derive_groups`'s call. Any other text that is not a
    finite number is an error naming the first one.
    """
    column = ref.column
    text = source.frame[column].to_numpy(dtype=object)[source.rows]
    values = pd.Series(text, dtype="string")
    if source.thousands is not None:
        sep = re.escape(source.thousands)
        grouped = values.str.fullmatch(rf"[+-]?\d{{1,3}}(?:{sep}\d{{3}})+(?:\.\d+)?")
        values = values.where(
            ~grouped.fillna(False), values.str.replace(source.thousands, "", regex=False)
        )
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    sentinels = pd.to_numeric(pd.Series(ref.missing_values, dtype=object), errors="coerce")
    missing = (
        (values == "").to_numpy(dtype=bool, na_value=True)
        | values.isin(ref.missing_values).to_numpy(dtype=bool, na_value=False)
        | np.isin(numbers, sentinels[np.isfinite(sentinels)].to_numpy(dtype=np.float64))
    )
    numbers[missing] = np.nan
    bad = np.flatnonzero(~np.isfinite(numbers) & ~missing)
    if bad.size:
        first = bad[0]
        listed = (
            f"its missing_values are {list(ref.missing_values)}"
            if ref.missing_values
            else "it has no missing_values"
        )
        raise ValueError(
            f"{source.where}: column {column!r} must hold numbers; data row "
            f"{source.rows[first] + 1} ({source.key_column} {codes.iloc[first]!r}) has "
            f"{text[first]!r}. {bad.size} value(s) of the {len(codes)} areas fail. If "
            f"{text[first]!r} means 'not available', list it in the mapping's "
            f"'missing_values' for {column!r} ({listed}): an area where nobody lives may then "
            "have it."
        )
    return MappedColumn(
        ref=ref,
        where=source.where,
        key_column=source.key_column,
        codes=codes,
        text=text,
        data_rows=source.rows + 1,
        table_rows=len(source.frame),
        values=numbers,
        missing=missing,
    )


def _without_leading_zeros(codes: pd.Series) -> pd.Series:
    return codes.str.lstrip("0")


def _report_unmatched(
    sources: dict[str, _Source],
    codes: pd.Series,
    *,
    boundaries: Path,
    policy: Literal["error", "drop"],
) -> npt.NDArray[np.bool_]:
    """Log rows without polygons; return the polygons to keep (or raise, per ``policy``).

    The error shows a sample of each side's codes: the polygons' codes no table row has, and the
    table's codes no polygon has, so a difference of form (leading zeros, a prefix) shows."""
    lacking = np.zeros(len(codes), dtype=bool)
    details = []
    zero_padding = 0
    for name, source in sources.items():
        if name == BOUNDARIES:
            continue
        missing = source.rows < 0
        keys = source.frame[source.key_column]
        spare = np.ones(len(keys), dtype=bool)
        spare[source.rows[source.rows >= 0]] = False
        spare &= (keys != "").to_numpy()
        if missing.any():
            theirs = (
                f"its {int(spare.sum())} code(s) that match no polygon are e.g. "
                f"{examples(keys[spare])}"
                if spare.any()
                else "every code it holds matches a polygon"
            )
            details.append(
                f"table {name!r} ({source.where}, key {source.key_column!r}) has no row for "
                f"{int(missing.sum())} of them, e.g. {examples(codes[missing])}; {theirs}"
            )
            unpadded = set(_without_leading_zeros(keys[spare]))
            zero_padding += int(_without_leading_zeros(codes[missing]).isin(unpadded).sum())
        lacking |= missing
        if spare.any():
            log.info(
                "%s: %d of %d rows match no polygon in %s and are ignored (e.g. %s)",
                source.where,
                int(spare.sum()),
                len(keys),
                boundaries.name,
                examples(keys[spare]),
            )
    if not lacking.any():
        return ~lacking
    summary = (
        f"{int(lacking.sum())} of {len(codes)} area polygons in {boundaries} lack attributes: "
        + "; ".join(details)
        + "."
    )
    if zero_padding:
        hint = (
            f" {zero_padding} of the polygons' unmatched codes match a table code once leading "
            "zeros are ignored: one side stored its codes as numbers, which drops leading "
            "zeros. Store the codes as text, zero-padded to the same width, on both sides"
        )
    else:
        hint = (
            " Compare the two samples: an area's code must be written the same way on both "
            "sides (the same prefix and digits) and come from the same code vintage (e.g. 2011 "
            "vs 2021 LSOA codes)"
        )
    if policy == "error":
        raise ValueError(
            summary + " Expected a row for every polygon." + hint + ", or set the mapping's "
            "'unmatched_areas: drop' to leave those polygons out of the study area."
        )
    log.warning("%s Dropped from the study area (unmatched_areas: drop).", summary)
    return ~lacking


def load_area_attributes(mapping: AreaMapping, *, base_dir: Path) -> gpd.GeoDataFrame:
    """Read area polygons and their audit attributes through an :class:`AreaMapping`.

    Parameters
    ----------
    mapping
        Which files and columns to read, relative to ``base_dir``.
    base_dir
        Folder holding the boundaries file and the attribute tables.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per polygon, in the boundaries' order, in EPSG:4326 (the CRS of
        :func:`read_areas`; :func:`features.cells.build_cell_table` reprojects to a
        metric CRS itself). Columns from :data:`AREA_ATTRIBUTE_COLUMNS`: ``area_code`` (str),
        ``area_name`` and ``district_name`` (str, when mapped), ``residents`` (float),
        ``residents_minority``, ``residents_majority`` (float counts) and ``minority_share`` (in
        [0, 1]) when ``minority`` is mapped, ``deprivation_decile`` (int 1..10, 1 = most
        deprived) and ``deprivation_score`` (float, higher = more deprived) when mapped; how
        each is made from the columns read is
        :func:`features.ingest.area_groups.derive_groups`'s work. An area where nobody lives may
        have no value (a blank cell or one of the column's ``missing_values``): it counts in no
        group (group counts 0, ``minority_share`` and ``deprivation_score`` NaN, and
        ``deprivation_decile`` <NA>, a nullable ``Int64`` column then). Area codes are compared
        as :func:`area_code_text` writes them on both sides.

    Raises
    ------
    FileNotFoundError
        When ``base_dir``, the boundaries file or an attribute table does not exist.
    ValueError
        When a file cannot be read (wrong encoding, missing sheet), the boundaries have no CRS or
        a null/empty geometry, a column is missing (with the closest names), area codes are blank
        or repeated (in the boundaries or a table's key column), a value is not a number nor
        among its column's ``missing_values`` (file, column, first bad data row and its code), an
        area with residents has no value, a value breaks its kind's rule (see
        :func:`~features.ingest.area_groups.derive_groups`), or a polygon lacks a table row while
        ``unmatched_areas`` is ``"error"`` (with a sample of each side's codes).
    """
    base_dir = Path(base_dir)
    if not base_dir.is_dir():
        raise FileNotFoundError(
            f"No areas folder at {base_dir}; the area mapping's paths are relative to it."
        )
    boundaries_path = base_dir / mapping.boundaries
    shapes = _read_boundaries(boundaries_path, layer=mapping.layer)
    refs = mapping.attribute_columns()
    own = [mapping.code_column, mapping.name_column, mapping.district_column]
    own += [ref.column for _, ref in refs if ref.table == BOUNDARIES]
    _require(
        [c for c in own if c is not None],
        [str(c) for c in shapes.columns],
        where=boundaries_path,
        role="boundaries",
    )
    codes, geometry = _codes_and_shapes(
        shapes, code_column=mapping.code_column, where=boundaries_path
    )

    sources: dict[str, _Source] = {
        BOUNDARIES: _Source(
            where=boundaries_path,
            key_column=mapping.code_column,
            thousands=",",
            frame=pd.DataFrame({c: _text(shapes[c]) for c in own if c is not None}).reset_index(
                drop=True
            ),
            rows=np.arange(len(codes), dtype=np.int64),
        )
    }
    for name in dict.fromkeys(ref.table for _, ref in refs if ref.table != BOUNDARIES):
        spec = mapping.tables[name]
        path = base_dir / spec.path
        frame = _read_table(path, spec=spec)
        columns = [spec.key_column, *(ref.column for _, ref in refs if ref.table == name)]
        _require(columns, list(frame.columns), where=path, role=f"table {name!r}")
        rows = _match(frame[spec.key_column], codes, where=path, key_column=spec.key_column)
        sources[name] = _Source(path, spec.key_column, spec.thousands, frame, rows)
        log.info("read %d rows from %s (table %r)", len(frame), path, name)

    keep = _report_unmatched(
        sources, codes, boundaries=boundaries_path, policy=mapping.unmatched_areas
    )
    codes = codes[keep].reset_index(drop=True)
    sources = {
        name: _Source(s.where, s.key_column, s.thousands, s.frame, s.rows[keep])
        for name, s in sources.items()
    }

    out: dict[str, object] = {"area_code": codes.to_numpy(dtype=object)}
    for target, source_column in (
        ("area_name", mapping.name_column),
        ("district_name", mapping.district_column),
    ):
        if source_column is not None:
            out[target] = sources[BOUNDARIES].frame[source_column][keep].to_numpy(dtype=object)
    numbers = {field: _parse_numbers(sources[ref.table], ref, codes) for field, ref in refs}
    out.update(derive_groups(mapping, numbers))
    residents = numbers["residents"].values

    columns = [c for c in AREA_ATTRIBUTE_COLUMNS if c in out]
    areas = gpd.GeoDataFrame(
        {c: out[c] for c in columns}, geometry=geometry[keep].to_numpy(), crs=shapes.crs
    ).to_crs(OUTPUT_CRS)
    log.info(
        "areas: %d polygons, %.0f residents%s, from %s",
        len(areas),
        float(residents.sum()),
        f" in {areas['district_name'].nunique()} districts" if "district_name" in areas else "",
        boundaries_path,
    )
    return areas

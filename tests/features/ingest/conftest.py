"""Real-data fixtures shared by the ingest tests (skipped when ../shared/data is absent)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
import yaml

from features.ingest.area_mapping import AreaMapping
from features.ingest.areas import load_area_attributes

SHARED_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
LONDON_AREAS = SHARED_DATA / "london-areas"

#: The London LSOA preset, as it would sit under a params.yaml key; paths relative to the
#: london-areas folder. Score: IMD 2019 rank as a national deprivation percentile (File 1 has no
#: score column, nor has File 2; the GLA xlsx has scores).
LONDON_LSOA_MAPPING_YAML = """
boundaries: london-2011-lsoa-gen20.shp
code_column: LSOA11CD
name_column: LSOA11NM
district_column: LAD11NM
tables:
  population: {path: london-mid2019-pop.csv, key_column: LSOA11CD}
  ethnicity: {path: lsoa-data.csv, key_column: Lower Super Output Area, encoding: latin-1}
  imd:
    path: File_1_-_IMD2019_Index_of_Multiple_Deprivation.csv.gz
    key_column: LSOA code (2011)
residents: {table: population, column: Persons_All-Ages}
minority: {table: ethnicity, column: "Ethnic Group;BAME;2011"}
majority: {table: ethnicity, column: "Ethnic Group;White;2011"}
minority_from_shares: true
deprivation_decile: {table: imd, column: Index of Multiple Deprivation (IMD) Decile}
deprivation_score:
  table: imd
  column: Index of Multiple Deprivation (IMD) Rank
  kind: rank
  rank_count: 32844
unmatched_areas: error
"""


@pytest.fixture(scope="module")
def london_areas() -> gpd.GeoDataFrame:
    """The London 2011 LSOAs with their attributes, read through the preset's mapping."""
    if not LONDON_AREAS.is_dir():
        pytest.skip(f"real data not present at {LONDON_AREAS}")
    mapping = AreaMapping.model_validate(yaml.safe_load(LONDON_LSOA_MAPPING_YAML))
    return load_area_attributes(mapping, base_dir=LONDON_AREAS)

"""What the police.uk loader tests share: validate as the ingest stage does, list the quarantine."""

from __future__ import annotations

import pandas as pd

from features.ingest.parsing import POLICE_UK_TIME_FORMAT
from features.ingest.validation import validate_events

#: The day the police.uk test data are judged on (rows after it are future dates).
AS_OF = pd.Timestamp("2018-12-31 23:59:59")


def validate(raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Accepted and quarantined rows of ``raw``; every row read is one or the other."""
    result = validate_events(raw, areas=None, as_of=AS_OF, time_format=POLICE_UK_TIME_FORMAT)
    assert result.rows_read == len(raw)
    assert len(result.accepted) + len(result.quarantine) == len(raw)
    return result.accepted, result.quarantine


def reasons(quarantine: pd.DataFrame) -> list[tuple[str, int, str]]:
    """(file, row, reason) of every quarantined row, in order."""
    return [
        (str(f), int(r), str(why))
        for f, r, why in quarantine[["source_file", "source_row", "reason"]].itertuples(index=False)
    ]

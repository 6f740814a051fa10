"""The true risk of a synthetic source, carried by the ingest stage to the backtest.

Only the synthetic city knows its true risk (``<data_dir>/truth/``, written by the simulate
stage). The ingest stage passes that folder on as its own output, so the evaluate stage depends on
what ingest read rather than on the simulator: a real-data run never runs ``simulate`` for a truth
it does not have. For any other source, or a synthetic folder without a truth model, the output
folder holds only :data:`ABSENT_FILE`, saying why.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Final

from beatwise.artefacts.quality import SourceKind

#: the file a truth folder holds when the source has no true risk
ABSENT_FILE: Final[str] = "absent.json"
#: the file every truth model folder holds (``simcity.truth.TruthModel.save``)
TRUTH_META: Final[str] = "meta.json"


def carry_truth(source: SourceKind, data_dir: Path, out_dir: Path) -> bool:
    """Copy ``data_dir/truth`` to ``out_dir`` for a synthetic source, else write why there is none.

    ``out_dir`` is replaced whole. Returns whether a truth model was carried.

    Raises
    ------
    ValueError
        When ``out_dir`` exists and is not a folder.
    """
    truth = Path(data_dir) / "truth"
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"{out_dir}: expected a folder for the truth model, found a file.")
    shutil.rmtree(out_dir, ignore_errors=True)
    if source == "synthetic" and (truth / TRUTH_META).is_file():
        shutil.copytree(truth, out_dir)
        return True
    out_dir.mkdir(parents=True)
    reason = (
        f"the {source} source has no known true risk"
        if source != "synthetic"
        else f"no truth model in {truth.as_posix()} (no {TRUTH_META})"
    )
    (out_dir / ABSENT_FILE).write_text(
        json.dumps({"truth": None, "reason": reason}, indent=2) + "\n", encoding="utf-8"
    )
    return False

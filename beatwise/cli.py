"""The ``beatwise`` command line: verbs a user runs before or beside the DVC pipeline.

``beatwise check-source`` reads the source that the ``ingest`` section of ``params.yaml`` (or a
preset laid over it) configures, judges every row exactly as the ingest stage does
(:func:`features.ingest.run.judge_source`) and prints, in seconds and writing nothing, what a run
would accept, exclude and quarantine (by reason, with example rows), the time span, the period the
pipeline would pick, the crime types found, the events outside the area polygons, and whether
``ingest.max_quarantine_share`` would stop the run. ``beatwise example-city DIR`` writes a made-up
city's open-data files (:mod:`beatwise.example_city`) to try the README's "Bring your own city".
``beatwise compare`` shows the committed run, the workspace and each experiment side by side
(:mod:`beatwise.compare`). ``beatwise publications`` lists the published forecasts, newest first,
each checked whole. ``beatwise score WEEK`` scores a published forecast once its week has ended and
its events are ingested, and ``beatwise score WEEK --from-backtest`` a backtest week, with the
backtest's own metric functions (:mod:`models.scorecard`).

``beatwise forecast`` brings the forecast up to date the one way it may be published, a ``dvc
repro`` of the committed params, and says what became of it (:mod:`beatwise.forecast_verb`).

Exit status of ``check-source``: 0 when the run would go on, 1 when it would stop (too large a
quarantine share, or no row accepted). Of ``publications``: 1 when a publication is not whole. Of
every verb: 2 when the params or the source cannot be read, or a week cannot be scored (one
paragraph naming the file or key, or what to run, never a traceback). The heavy imports wait until
a verb runs, so ``beatwise --help`` is quick.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from beatwise.forecast_verb import add_forecast

if TYPE_CHECKING:
    from beatwise.artefacts.scorecard import FlagScore, Scorecard
    from features.ingest.config import IngestConfig
    from features.ingest.run import JudgedSource
    from models.evaluation import EvaluateConfig

#: quarantined rows quoted per reason
EXAMPLES_PER_REASON = 2
#: source values quoted for the excluded rows
EXCLUDED_VALUES = 5


def _rows(n: int) -> str:
    return f"{n:>10,} row" + ("" if n == 1 else "s")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number, 1 or more; got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The ``beatwise`` parser: one subcommand per verb, each with its ``run`` function."""
    parser = argparse.ArgumentParser(
        prog="beatwise", description="Beatwise commands run beside the DVC pipeline."
    )
    verbs = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check = verbs.add_parser(
        "check-source",
        help="read the configured source and say what a run would accept and quarantine",
        description=(
            "Read the events (and areas) that params.yaml's ingest section configures, judge "
            "every row as the ingest stage does, and print what a run would accept, exclude and "
            "quarantine, and why. Writes nothing. Exit status 0: the run would go on; 1: it "
            "would stop; 2: the params or the source cannot be read."
        ),
    )
    check.add_argument(
        "--params",
        type=Path,
        default=Path("params.yaml"),
        help="the params file (default: params.yaml here); ingest.data_dir is read relative "
        "to its folder",
    )
    check.add_argument(
        "--preset", metavar="NAME", help="lay presets/NAME.yaml over the params, as a run would"
    )
    check.add_argument(
        "--limit-rows",
        type=_positive_int,
        metavar="N",
        help="judge only the first N rows read, in file order (a quick look at a large source)",
    )
    check.set_defaults(run=check_source)
    example = verbs.add_parser(
        "example-city",
        help="write a made-up city's open-data files, to try bringing your own city",
        description=(
            "Write a made-up city's sources into OUT_DIR: a gzipped CSV of one offence with "
            "minute timestamps and no id column, census-tract polygons (Shapefile, codes stored "
            "as numbers) and a census table of population and percentages. The README's worked "
            "example, 'Bring your own city', runs on them. The same files on every machine."
        ),
    )
    example.add_argument("out_dir", type=Path, metavar="OUT_DIR")
    example.add_argument("--seed", type=int, default=7, help="the draw (default 7)")
    example.add_argument(
        "--weeks", type=_positive_int, default=156, help="weeks of events (default 156)"
    )
    example.set_defaults(run=example_city)
    compare = verbs.add_parser(
        "compare",
        help="the committed run, the workspace and each experiment side by side",
        description=(
            "One column per run (the commit's, the workspace, its experiments), one row per "
            "param that differs and per headline figure (reports/compare/), in words; rows "
            "whose values differ are marked *. Reads `dvc exp show --json`; writes nothing."
        ),
    )
    compare.add_argument(
        "--exp", action="append", default=[], metavar="NAME", help="only this experiment (repeat)"
    )
    compare.add_argument(
        "--width", type=_positive_int, help="columns to fit (default: the terminal's, or 120)"
    )
    compare.add_argument("--repo", type=Path, default=Path("."), help="the repository (default .)")
    compare.set_defaults(run=compare_runs)
    add_forecast(verbs)
    _add_publications(verbs)
    _add_score(verbs)
    return parser


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a date, YYYY-MM-DD; got {text!r}") from None


def _add_publications(verbs: Any) -> None:
    listing = verbs.add_parser(
        "publications",
        help="list the published forecasts, newest first, each checked whole",
        description=(
            "One line per publication in the published area, newest week first: the week, the "
            "folder, its status (latest: the one planners read now; superseded: the week was "
            "published again; earlier; not whole), the audit's verdict, the model, the files and, "
            "once scored, the week's hit rate and PAI (beatwise score). Writes nothing. Exit "
            "status 0; 1 when a publication is not whole."
        ),
    )
    listing.add_argument(
        "--published-dir",
        type=Path,
        default=Path("data/published"),
        help="the published area (default data/published)",
    )
    listing.set_defaults(run=list_publications_verb)


def _add_score(verbs: Any) -> None:
    score = verbs.add_parser(
        "score",
        help="how a week's forecast did: hit rate, PAI, PEI against the baselines",
        description=(
            "Score the published forecast of WEEK (any day in it; the week it holds is scored) "
            "once the week has ended and its events are ingested (dvc repro build_cells): the "
            "share of the week's target crimes in the flagged cells (hit rate), PAI and PEI at "
            "the published coverage, the flagged cells with and without crime, beside every "
            "baseline flagged at the same coverage from the counts before the week. Writes the "
            "scorecard to PUBLISHED_DIR/scorecards/WEEK.json and its row to "
            "PUBLISHED_DIR/scorecard.csv (scoring a week again replaces its row). With "
            "--from-backtest, scores the backtest's forecast of a past week instead (the same "
            "figures as reports/compare/pai_by_period.csv) and writes only where --out says. "
            "Exit status 0 when scored; 2 when the week was never published, has not ended, or "
            "its events are not ingested yet (the message says what to run)."
        ),
    )
    score.add_argument("week", type=_day, metavar="WEEK", help="a day of the week, YYYY-MM-DD")
    score.add_argument(
        "--from-backtest",
        action="store_true",
        help="score the backtest's forecast of WEEK (data/processed/backtest.parquet), not a "
        "publication",
    )
    score.add_argument("--repo", type=Path, default=Path("."), help="the repository (default .)")
    score.add_argument(
        "--published-dir",
        type=Path,
        help="the published area (default REPO/data/published)",
    )
    score.add_argument(
        "--params",
        type=Path,
        help="the params file whose evaluate section sets the baselines' knobs (default "
        "REPO/params.yaml)",
    )
    score.add_argument(
        "--out", type=Path, metavar="FILE", help="also write the scorecard's JSON to FILE"
    )
    score.add_argument("--json", action="store_true", help="print the JSON, not the table")
    score.add_argument(
        "--today",
        type=_day,
        help="the date taken as today when judging whether the week has ended (default: the "
        "system's date), so a scorecard can be reproduced",
    )
    score.set_defaults(run=score_week)


def load_ingest_config(params: Path, *, preset: str | None) -> IngestConfig:
    """The validated ``ingest`` section of ``params``, with preset ``preset`` laid over it."""
    from pydantic import create_model

    from beatwise.params import StageParams, read_params_file, validate_params
    from beatwise.presets import load_preset, overlay_params
    from features.ingest.config import IngestConfig

    # the ingest stage's own params model: the ingest section alone, unknown keys refused
    params_model = create_model("Params", __base__=StageParams, ingest=(IngestConfig, ...))
    raw = read_params_file(params)
    if preset is not None:
        raw = overlay_params(raw, load_preset(preset))
    # a model made at run time, so mypy cannot see its field
    config: IngestConfig = validate_params("ingest", params_model, raw).ingest  # type: ignore[attr-defined]
    return config


def check_source(args: argparse.Namespace, *, out: Callable[[str], Any] = print) -> int:
    """Judge the configured source and print the verdict; 0 if a run would go on, else 1."""
    from features.ingest.run import judge_source

    cfg = load_ingest_config(args.params, preset=args.preset)
    data_dir = Path(cfg.data_dir)
    if not data_dir.is_absolute():
        data_dir = args.params.parent / data_dir
    judged = judge_source(cfg, data_dir=data_dir, max_rows=args.limit_rows)
    lines, stops = describe_judged(judged, cfg=cfg, where=data_dir / cfg.events)
    for line in lines:
        out(line)
    return 1 if stops else 0


def example_city(args: argparse.Namespace, *, out: Callable[[str], Any] = print) -> int:
    """Write the example city's files and name them; 0 when written."""
    from beatwise.example_city import write_example_city

    for role, path in write_example_city(args.out_dir, seed=args.seed, weeks=args.weeks).items():
        out(f"{role:>7}: {path}")
    return 0


def describe_judged(
    judged: JudgedSource, *, cfg: IngestConfig, where: Path
) -> tuple[list[str], bool]:
    """The report's lines, and whether the ingest stage would stop on this input."""
    from beatwise.period import resolve_period
    from features.ingest.quality import (
        detect_time_resolution,
        quarantine_share,
        reason_examples,
    )
    from features.ingest.validation import EXCLUDED_REASON, QUARANTINE_REASONS

    result = judged.result
    accepted, quarantine = result.accepted, result.quarantine
    share = quarantine_share(result)
    files = len(judged.by_file_read) + len(judged.source.empty_files)
    lines = [
        f"Source: {cfg.source}, {where}",
        f"  read          {_rows(result.rows_read)} from {files:,} file(s)",
        f"  accepted      {_rows(len(accepted))}",
    ]
    for name, why in judged.source.empty_files.items():
        lines.append(f"  empty file    {name} ({why.replace('_', ' ')})")
    if share.excluded:
        raw = judged.source.events
        values = raw.loc[raw["excluded"].to_numpy(dtype=bool), "crime_type"].value_counts()
        top = ", ".join(f"{v} ({n:,})" for v, n in values.head(EXCLUDED_VALUES).items())
        lines.append(
            f"  excluded      {_rows(share.excluded)}: categories the category_map leaves "
            f"out of scope (most frequent source values: {top})"
        )
    lines.append(
        f"  quarantined   {_rows(share.problems)}: {share.share:.1%} of the "
        f"{share.in_scope:,} rows in scope"
    )
    problems = quarantine[quarantine["reason"] != EXCLUDED_REASON]
    current = None
    for row in reason_examples(problems, per_reason=EXAMPLES_PER_REASON).itertuples():
        if row.reason != current:
            current = row.reason
            meaning = QUARANTINE_REASONS[row.reason]
            lines.append(f"    {row.reason:<22} {row.rows:>9,}  {meaning}")
        lines.append(f"        e.g. {row.source_file} row {row.source_row}: {row.detail}")
    if accepted.empty:
        lines.append("  time span     none: no row was accepted")
    else:
        resolution = detect_time_resolution(accepted["timestamp"])
        period = resolve_period("auto", time_resolution=resolution)
        lines.append(
            f"  time span     {accepted['timestamp'].min():%Y-%m-%d %H:%M} to "
            f"{accepted['timestamp'].max():%Y-%m-%d %H:%M} ({resolution.replace('_', '-')} "
            f"timestamps: {period}ly periods with features.period auto)"
        )
        counts = accepted["crime_type"].value_counts()
        types = ", ".join(f"{t} {n:,}" for t, n in counts[counts > 0].items())
        lines.append(f"  crime types   {types}")
    lines.extend(_describe_areas(judged, cfg=cfg))
    limit = cfg.max_quarantine_share
    if accepted.empty:
        stops, verdict = True, "the run would stop: no row was accepted"
    elif limit is None:
        stops, verdict = False, "the run would go on (ingest.max_quarantine_share is null)"
    elif share.share > limit:
        stops = True
        verdict = (
            f"the run would stop: {share.share:.1%} quarantined is more than "
            f"ingest.max_quarantine_share ({limit:.1%})"
        )
    else:
        stops = False
        verdict = f"the run would go on: {share.share:.1%} is within {limit:.1%}"
    lines.append(f"Verdict: {verdict}.")
    return lines, stops


def _describe_areas(judged: JudgedSource, *, cfg: IngestConfig) -> list[str]:
    """The areas' lines: how many polygons, and how many events fall outside them."""
    if judged.areas is None:
        return [
            "  areas         none configured (ingest.areas.kind: none): the study area is the "
            "cells with events"
        ]
    if cfg.areas.outside_events == "keep":
        outside = int(judged.result.accepted["area_code"].isna().sum())
        fate = "kept, in cells with no residents (ingest.areas.outside_events: keep)"
    else:
        outside = int((judged.result.quarantine["reason"] == "outside_study_area").sum())
        fate = "quarantined as outside_study_area"
    lines = [
        f"  areas         {len(judged.areas):,} polygons ({cfg.areas.kind}); {outside:,} events "
        f"fall outside them ({fate})"
    ]
    if judged.coverage is not None and judged.coverage.uncovered:
        lines.append(
            f"                {len(judged.coverage.uncovered):,} districts the events do not "
            f"cover were left out (ingest.areas.coverage_min_rate_ratio)"
        )
    return lines


def compare_runs(args: argparse.Namespace, *, out: Callable[[str], Any] = print) -> int:
    """Print the comparison table; 0 when printed."""
    from beatwise.compare import exp_show_json, render, runs_of, terminal_width

    runs = runs_of(exp_show_json(args.repo), names=args.exp)
    for line in render(runs, width=args.width or terminal_width()):
        out(line)
    return 0


def load_evaluate_config(params: Path) -> EvaluateConfig:
    """The validated ``evaluate`` section of ``params`` (the baselines' knobs)."""
    from pydantic import create_model

    from beatwise.params import StageParams, read_params_file, validate_params
    from models.evaluation import EvaluateConfig

    params_model = create_model("Params", __base__=StageParams, evaluate=(EvaluateConfig, ...))
    raw = {"evaluate": read_params_file(params).get("evaluate")}
    config: EvaluateConfig = validate_params("score", params_model, raw).evaluate  # type: ignore[attr-defined]
    return config


def list_publications_verb(args: argparse.Namespace, *, out: Callable[[str], Any] = print) -> int:
    """Print one line per publication, newest first; 0 when every one is whole, else 1."""
    from beatwise.artefacts.scorecard import HISTORY_FILE, read_history
    from beatwise.publications import describe_publications

    root = args.published_dir
    entries = describe_publications(root)
    if not entries:
        out(f"No publications under {root} yet: `dvc repro` of the committed params publishes.")
        return 0
    history = read_history(root / HISTORY_FILE).set_index("period_start")
    out(
        f"{'week':<10}  {'folder':<12}  {'status':<10}  {'audit':<16}  {'model':<30}  "
        f"{'files':<12}  scored"
    )
    for e in entries:
        m = e.manifest
        audit = m.audit_status if m else "-"
        model = f"{m.registered_model} ({m.model_version[:8]})" if m else "-"
        files = f"{len(e.files)} whole" if m else f"{len(e.files)} NOT WHOLE"
        scored = "not scored"
        key = e.forecast_period.isoformat()
        if key in history.index:
            row = history.loc[key]
            scored = f"hit rate {_pct(row['hit_rate'])}, PAI {_num(row['pai'])}"
        out(
            f"{key:<10}  {e.folder.name:<12}  {e.status:<10}  {audit:<16}  {model:<30}  "
            f"{files:<12}  {scored}"
        )
        if e.problem:
            out(f"    {' '.join(e.problem.split())}")
    return 1 if any(e.manifest is None for e in entries) else 0


def _pct(value: object) -> str:
    return "-" if value is None or value != value else f"{float(value):.1%}"  # type: ignore[arg-type]


def _num(value: object) -> str:
    return "-" if value is None or value != value else f"{float(value):.2f}"  # type: ignore[arg-type]


def score_week(args: argparse.Namespace, *, out: Callable[[str], Any] = print) -> int:
    """Score one week's forecast, write the scorecard (and its history row) and print it."""
    from beatwise.artefacts.scorecard import HISTORY_FILE, SCORECARD_FOLDER, upsert_history
    from models.scorecard import RunFiles, score_backtest_period, score_publication

    repo = args.repo
    files = RunFiles.under(repo)
    root = args.published_dir or repo / "data/published"
    written: list[str] = []
    if args.from_backtest:
        card = score_backtest_period(args.week, files=files)
    else:
        card = score_publication(
            root,
            args.week,
            files=files,
            config=load_evaluate_config(args.params or repo / "params.yaml"),
            today=args.today or dt.date.today(),
        )
        path = root / SCORECARD_FOLDER / f"{card.period_start}.json"
        card.write(path)
        history = upsert_history(root / HISTORY_FILE, card)
        written += [str(path), f"{root / HISTORY_FILE} ({len(history)} scored)"]
    if args.out is not None:
        card.write(args.out)
        written.append(str(args.out))
    if args.json:
        from beatwise.io import json_text

        out(json_text(card.to_json()).rstrip("\n"))
        return 0
    for line in describe_scorecard(card):
        out(line)
    if written:
        out("Written: " + "; ".join(written))
    return 0


def _flag_row(name: str, s: FlagScore) -> str:
    return (
        f"  {name:<24} {_pct(s.hit_rate):>8} {_num(s.pai):>6} {_num(s.pei):>6} "
        f"{s.events_captured:>9,} {s.n_flagged:>8,} {s.n_flagged_with_crime:>8,} "
        f"{s.n_flagged_without_crime:>8,}"
    )


def describe_scorecard(card: Scorecard) -> list[str]:
    """The scorecard in words and a table, model first, then each baseline."""
    what = (
        f"publication {card.folder}, model {card.model_version}, audit {card.audit_status}"
        if card.source == "publication"
        else "the backtest's forecast"
    )
    m = card.model
    lines = [
        f"Scorecard of the {card.period} {card.period_start} to {card.period_end} ({what})",
        f"  flagged      {m.n_flagged:,} of {card.n_cells:,} cells at coverage {card.coverage:.1%} "
        f"({m.flagged_area_share:.2%} of {card.study_area_km2:,.1f} km²)",
        f"  events       {card.events:,} target events in the forecast's cells"
        + (
            f" ({card.events_outside_cells:,} more outside them)"
            if card.events_outside_cells
            else ""
        ),
        f"  captured     {m.events_captured:,} ({_pct(m.hit_rate)} hit rate); "
        f"{m.n_flagged_with_crime:,} flagged cells had crime, {m.n_flagged_without_crime:,} none",
        f"  PAI {_num(m.pai)}, PEI {_num(m.pei)}; lift over {card.reference_baseline} (the "
        f"backtest's best baseline) " + ("-" if card.pai_lift is None else f"{card.pai_lift:.3f}"),
        "",
        f"  {'forecast':<24} {'hit rate':>8} {'PAI':>6} {'PEI':>6} {'captured':>9} "
        f"{'flagged':>8} {'w/ crime':>8} {'no crime':>8}",
        _flag_row("model", m),
    ]
    lines += [_flag_row(name, s) for name, s in card.baselines.items()]
    if card.events == 0:
        lines.append("  No target event was recorded in these cells this period: no ratios.")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Run one ``beatwise`` verb; errors print as one paragraph on stderr (exit status 2)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s", stream=sys.stderr)
    try:
        return int(args.run(args))
    except (ValueError, OSError) as err:  # params, presets, missing or unreadable files
        message = " ".join(str(err).split())
        print(f"beatwise {args.command}: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

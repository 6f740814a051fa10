"""``dvc plots show`` and ``dvc plots diff`` pages render in headless Chromium with no network.

A tiny DVC repository in a temporary folder holds a CSV with ``x`` and two y columns, declared as a
top-level plot in its ``dvc.yaml``, in two git revisions. ``python -m beatwise.offline_plots``
installs the offline template there; DVC writes the pages; Chromium opens them with every request
that is not ``file://`` aborted, and the Vega view must have drawn its lines and legend. A control
page made with DVC's default (CDN) template must draw nothing under the same block.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from headless_chromium import CHROMIUM_ARGS, require_chromium
from repo_copy import run

from beatwise.offline_plots import TEMPLATE_NAME

pytestmark = pytest.mark.e2e

PLOT_ID = "loss_csv"  # DVC's div id for the plot of loss.csv
FIRST = "x,train,test\n1,0.9,1.0\n2,0.7,0.85\n3,0.5,0.7\n4,0.4,0.62\n5,0.35,0.6\n"
SECOND = "x,train,test\n1,0.8,0.95\n2,0.6,0.8\n3,0.45,0.66\n4,0.3,0.58\n5,0.25,0.55\n"
DVC_YAML = "plots:\n  - loss.csv:\n      x: x\n      y: [train, test]\n"


@pytest.fixture(scope="module")
def plots_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Git + DVC repository with loss.csv committed twice (HEAD~1: FIRST, HEAD: SECOND)."""
    repo = tmp_path_factory.mktemp("plots_repo")
    run(["git", "init", "-q"], repo)
    run(["dvc", "init", "-q"], repo)
    (repo / "dvc.yaml").write_text(DVC_YAML, encoding="utf-8")
    (repo / "loss.csv").write_text(FIRST, encoding="utf-8")
    run(["git", "add", ".dvc", ".dvcignore", "dvc.yaml", "loss.csv"], repo)
    run(["git", "commit", "-q", "-m", "first"], repo)
    (repo / "loss.csv").write_text(SECOND, encoding="utf-8")
    run(["git", "commit", "-q", "-am", "second"], repo)
    run([sys.executable, "-m", "beatwise.offline_plots", "-q"], repo)
    return repo


def embedded_spec(page: str) -> dict[str, Any]:
    """The Vega-Lite spec DVC wrote into the page's plot script (``var spec = {...};``)."""
    start = page.index("var spec = ") + len("var spec = ")
    spec, _ = json.JSONDecoder().raw_decode(page, start)
    return dict(spec)


def open_offline(page_path: Path, *, expect_plot: bool) -> dict[str, Any]:
    """Open ``page_path`` in Chromium with every non-file request aborted; what the page drew.

    Returns the URLs requested, console errors and page errors, the plot's SVG size, the distinct
    (colour, dash) styles of its line paths that have a drawn extent, and its legend labels.
    """
    browser_bin = require_chromium()
    from playwright.sync_api import Route, sync_playwright

    requests: list[str] = []
    errors: list[str] = []

    def only_files(route: Route) -> None:
        requests.append(route.request.url)
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            route.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_bin, args=list(CHROMIUM_ARGS))
        page = browser.new_page(viewport={"width": 1000, "height": 700})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda err: errors.append(f"page error: {err}"))
        page.route("**/*", only_files)
        page.goto(page_path.as_uri(), wait_until="load")
        if expect_plot:
            page.wait_for_selector(f"#{PLOT_ID} svg.marks", timeout=20_000)
        else:
            page.wait_for_timeout(1_000)  # time enough for vegaEmbed to have drawn, had it run
        drawn = page.evaluate(
            """(id) => {
                const svg = document.querySelector(`#${id} svg.marks`);
                if (!svg) return null;
                const box = svg.getBoundingClientRect();
                const lines = [...svg.querySelectorAll('g.mark-line path')]
                    .filter(p => { const b = p.getBBox(); return b.width > 0 && b.height > 0; })
                    .map(p => `${p.getAttribute('stroke')} ${p.getAttribute('stroke-dasharray')}`);
                const labels = [...svg.querySelectorAll('g.role-legend text')]
                    .map(t => t.textContent);
                return {width: box.width, height: box.height, lines: [...new Set(lines)], labels};
            }""",
            PLOT_ID,
        )
        browser.close()
    return {"requests": requests, "errors": errors, "drawn": drawn}


def assert_no_cdn_script(page: str) -> None:
    assert not re.search(r"<script[^>]*\bsrc\s*=", page, flags=re.IGNORECASE)
    assert "cdn.jsdelivr" not in page


def test_plots_show_renders_with_no_network(plots_repo: Path) -> None:
    out = plots_repo / "show"
    run(["dvc", "plots", "show", "-o", str(out)], plots_repo)
    html = (out / "index.html").read_text(encoding="utf-8")
    assert_no_cdn_script(html)
    assert "Beatwise: DVC plots" in html  # the offline template, through DVC's local config
    rows = embedded_spec(html)["data"]["values"]
    assert {row["rev"] for row in rows} == {"workspace"}
    shown = open_offline(out / "index.html", expect_plot=True)
    assert shown["errors"] == []
    assert shown["requests"] == [(out / "index.html").as_uri()]
    drawn = shown["drawn"]
    assert drawn["width"] > 100 and drawn["height"] > 100
    assert len(drawn["lines"]) == 2  # train and test: one colour, two dash styles
    assert {"workspace", "train", "test"} <= set(drawn["labels"])


def test_plots_diff_draws_both_revisions_in_one_chart(plots_repo: Path) -> None:
    out = plots_repo / "diff"
    run(["dvc", "plots", "diff", "HEAD~1", "HEAD", "-o", str(out)], plots_repo)
    html = (out / "index.html").read_text(encoding="utf-8")
    assert_no_cdn_script(html)
    assert html.count("vegaEmbed('#") == 1  # one chart
    rows = embedded_spec(html)["data"]["values"]
    train_by_rev = {
        rev: [float(r["train"]) for r in rows if r["rev"] == rev and r["field"] == "train"]
        for rev in ("HEAD~1", "HEAD")
    }
    assert train_by_rev == {
        "HEAD~1": [0.9, 0.7, 0.5, 0.4, 0.35],
        "HEAD": [0.8, 0.6, 0.45, 0.3, 0.25],
    }
    shown = open_offline(out / "index.html", expect_plot=True)
    assert shown["errors"] == []
    assert shown["requests"] == [(out / "index.html").as_uri()]
    drawn = shown["drawn"]
    assert len(drawn["lines"]) == 4  # two revisions (colours) x train and test (dashes)
    assert {"HEAD~1", "HEAD", "train", "test"} <= set(drawn["labels"])


def test_dvc_default_template_draws_nothing_offline(plots_repo: Path, tmp_path: Path) -> None:
    """The control: with DVC's CDN template, the same block leaves the plot undrawn."""
    from dvc_render.html import PAGE_HTML

    cdn_template = tmp_path / "cdn.html"
    cdn_template.write_text(PAGE_HTML, encoding="utf-8")
    out = tmp_path / "cdn"
    run(["dvc", "plots", "show", "--html-template", str(cdn_template), "-o", str(out)], plots_repo)
    assert (plots_repo / ".dvc" / TEMPLATE_NAME).is_file()  # the flag overrode the local config
    shown = open_offline(out / "index.html", expect_plot=False)
    assert shown["drawn"] is None
    assert any(url.startswith("https://") for url in shown["requests"])  # tried, aborted
    assert any("vegaEmbed is not defined" in err for err in shown["errors"])

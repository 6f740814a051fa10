"""An HTML template that lets ``dvc plots show`` and ``dvc plots diff`` render with no network.

DVC writes ``dvc_plots/index.html`` from an HTML template: the template must hold
``{plot_divs}``, where each plot becomes a ``<div>`` followed by an inline script calling
``vegaEmbed('#id', spec)``; DVC's own template also holds ``{scripts}``, where it puts ``<script>``
tags that load Vega, Vega-Lite and vega-embed from a CDN, so its page is blank offline. The
template written here has no ``{scripts}`` (so DVC adds no CDN tag) and instead inlines one
JavaScript bundle of the three libraries, built by ``vl-convert-python`` (no network, no Node), in
``<head>``, before the plots, defining the global ``vegaEmbed`` the plot scripts call.

``python -m beatwise.offline_plots`` (run by ``scripts/setup.sh``) writes the template to
``.dvc/offline_plots.html`` and sets it in DVC's *local* config (``.dvc/config.local``:
``plots.html_template = offline_plots.html``, a path relative to ``.dvc/``). Both are
machine-generated and kept out of git, so a clone that has not run it keeps DVC's default CDN
template instead of failing on a missing file. Running it again rewrites nothing that is current.
"""

from __future__ import annotations

import argparse
import functools
import logging
import re
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Final

from beatwise.io import write_text

log = logging.getLogger(__name__)

#: the template's file name inside ``.dvc/``, as written into ``plots.html_template``
TEMPLATE_NAME: Final[str] = "offline_plots.html"
#: DVC's plot templates declare the Vega-Lite v5 schema; 5.21 is the newest v5 that
#: vl-convert-python 1.9 bundles (its default is 6.x). vega-embed still logs one console warning
#: per plot, that the compiled Vega v5 spec runs on Vega 6; Vega 6 renders it as it is.
VEGA_LITE_VERSION: Final[str] = "5.21"
#: the ES module snippet bundled with the libraries: it exposes what DVC's plot scripts call
BUNDLE_SNIPPET: Final[str] = "window.vegaEmbed = vegaEmbed;"
#: placeholders DVC replaces in the template (dvc_render.html.HTML.embed); ``{scripts}`` is left
#: out on purpose: DVC fills it with the CDN ``<script>`` tags
PLOTS_PLACEHOLDER: Final[str] = "{plot_divs}"
REFRESH_PLACEHOLDER: Final[str] = "{refresh_tag}"
SCRIPTS_PLACEHOLDER: Final[str] = "{scripts}"
#: text that must not occur in the inlined bundle: a ``</script`` or ``<!--`` would end or
#: derail the inline ``<script>`` element, and a DVC placeholder would be replaced inside the code
_FORBIDDEN_IN_BUNDLE: Final[tuple[str, ...]] = (
    "</script",
    "<!--",
    PLOTS_PLACEHOLDER,
    REFRESH_PLACEHOLDER,
    SCRIPTS_PLACEHOLDER,
)
_MODULE_SYNTAX = re.compile(r"^\s*(?:import|export)\b[\s{*'\"]", re.MULTILINE)

_PAGE: Final[str] = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
{refresh_tag}
<title>Beatwise: DVC plots</title>
<!-- {versions}: inlined by python -m beatwise.offline_plots, so the page needs no network. -->
<script>
{bundle}
</script>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }}
.note {{ color: #555; font-size: 0.9em; }}
table {{ border-spacing: 15px; }}
</style>
</head>
<body>
<h1>Beatwise: DVC plots</h1>
<p class="note">Rendered offline: {versions} are inlined in this page; it loads nothing from the
network. Written by <code>python -m beatwise.offline_plots</code> (run by
<code>scripts/setup.sh</code>).</p>
{plot_divs}
</body>
</html>
"""


class OfflinePlotsError(RuntimeError):
    """The offline template cannot be built or installed; the message says why."""


def bundle_versions(*, vl_version: str = VEGA_LITE_VERSION) -> str:
    """The library versions the bundle holds, for the page's note, e.g.
    ``"Vega 6.2.0, Vega-Lite 5.21 and vega-embed 7.0.2 (vl-convert-python 1.9.0.post1)"``."""
    import vl_convert

    return (
        f"Vega {vl_convert.get_vega_version()}, Vega-Lite {vl_version} and vega-embed "
        f"{vl_convert.get_vega_embed_version()} (vl-convert-python {version('vl-convert-python')})"
    )


@functools.lru_cache(maxsize=4)
def build_vega_bundle(*, vl_version: str = VEGA_LITE_VERSION) -> str:
    """One classic (non-module) script defining ``window.vegaEmbed``, with Vega-Lite ``vl_version``.

    Deterministic for a given vl-convert-python version (it ships the libraries; nothing is
    fetched). About 0.9 MB and one to three seconds to build, so it is cached per process.

    Raises
    ------
    OfflinePlotsError
        When vl-convert-python does not offer ``vl_version``, or its bundle is not safe to inline:
        module syntax (``import``/``export``), ``</script``, ``<!--`` or a DVC placeholder.
    """
    import vl_convert

    offered = list(vl_convert.get_vegalite_versions())
    if vl_version not in offered:
        installed = version("vl-convert-python")
        raise OfflinePlotsError(
            f"vl-convert-python {installed} does not bundle Vega-Lite {vl_version} "
            f"(it offers {', '.join(offered)}). DVC's plots use the Vega-Lite v5 schema: pin a "
            "vl-convert-python that offers it in constraints.txt."
        )
    bundle: str = vl_convert.javascript_bundle(BUNDLE_SNIPPET, vl_version=vl_version)
    check_bundle_inlinable(bundle)
    return bundle


def check_bundle_inlinable(bundle: str) -> None:
    """Refuse a bundle that cannot go verbatim into a classic inline ``<script>`` of the template.

    Raises
    ------
    OfflinePlotsError
        Naming the offending text and its offset in the bundle.
    """
    if "vegaEmbed" not in bundle:
        raise OfflinePlotsError("The JavaScript bundle does not define vegaEmbed.")
    module = _MODULE_SYNTAX.search(bundle)
    if module is not None:
        raise OfflinePlotsError(
            f"The JavaScript bundle has module syntax at offset {module.start()} "
            f"({module.group().strip()!r}); a classic inline <script> cannot run it."
        )
    lowered = bundle.lower()
    for text in _FORBIDDEN_IN_BUNDLE:
        at = lowered.find(text.lower())
        if at >= 0:
            raise OfflinePlotsError(
                f"The JavaScript bundle contains {text!r} at offset {at}; it cannot be inlined "
                "in the HTML template as it is."
            )


def render_template(*, vl_version: str = VEGA_LITE_VERSION) -> str:
    """The whole offline template: inline bundle in ``<head>``, ``{plot_divs}`` in ``<body>``."""
    page = _PAGE.format(
        refresh_tag=REFRESH_PLACEHOLDER,
        versions=bundle_versions(vl_version=vl_version),
        bundle=build_vega_bundle(vl_version=vl_version),
        plot_divs=PLOTS_PLACEHOLDER,
    )
    if page.count(PLOTS_PLACEHOLDER) != 1 or SCRIPTS_PLACEHOLDER in page:
        raise OfflinePlotsError(  # guards the page text above against an edit that breaks DVC
            f"The offline template must hold {PLOTS_PLACEHOLDER} once and no {SCRIPTS_PLACEHOLDER}."
        )
    return page


def dvc_dir_of(repo: Path) -> Path:
    """``repo/.dvc``, refusing a folder that is not a DVC repository's root."""
    dvc_dir = Path(repo) / ".dvc"
    if not dvc_dir.is_dir():
        raise OfflinePlotsError(
            f"{Path(repo).resolve()} is not the root of a DVC repository (no .dvc folder); "
            "run this from the repository root or pass --repo, after `dvc init`."
        )
    return dvc_dir


def write_offline_template(repo: Path, *, vl_version: str = VEGA_LITE_VERSION) -> bool:
    """Write ``.dvc/offline_plots.html`` atomically; ``False`` when it already held these bytes."""
    path = dvc_dir_of(repo) / TEMPLATE_NAME
    page = render_template(vl_version=vl_version)
    if path.is_file() and path.read_text(encoding="utf-8") == page:
        log.info("%s is current (%d bytes)", path, len(page.encode()))
        return False
    write_text(path, page)  # logs the path and size
    return True


def set_local_html_template(repo: Path) -> bool:
    """Set ``plots.html_template`` in ``.dvc/config.local``; ``False`` when it was already set.

    Another value there is replaced, with a warning naming it.
    """
    from dvc.config import Config, ConfigError

    dvc_dir = dvc_dir_of(repo)
    try:
        config = Config(dvc_dir=str(dvc_dir), validate=True)
        current = config.read("local").get("plots", {}).get("html_template")
        if current == TEMPLATE_NAME:
            log.info("DVC's local config already uses %s", TEMPLATE_NAME)
            return False
        if current is not None:
            log.warning(
                "replacing plots.html_template %r in %s with %r",
                current,
                dvc_dir / Config.CONFIG_LOCAL,
                TEMPLATE_NAME,
            )
        with config.edit("local") as local:
            local["plots"]["html_template"] = TEMPLATE_NAME
    except ConfigError as err:
        raise OfflinePlotsError(f"Cannot set DVC's local config in {dvc_dir}: {err}") from err
    log.info("set plots.html_template = %s in %s", TEMPLATE_NAME, dvc_dir / Config.CONFIG_LOCAL)
    return True


def install_offline_plots(repo: Path, *, vl_version: str = VEGA_LITE_VERSION) -> Path:
    """Write the offline template and make DVC use it in ``repo``; return the template's path."""
    started = time.perf_counter()
    write_offline_template(repo, vl_version=vl_version)
    set_local_html_template(repo)
    log.info("offline plots template ready in %.1f s", time.perf_counter() - started)
    return dvc_dir_of(repo) / TEMPLATE_NAME


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m beatwise.offline_plots",
        description="Write .dvc/offline_plots.html (Vega, Vega-Lite and vega-embed inlined) and "
        "make `dvc plots show` / `dvc plots diff` use it through DVC's local config, so the "
        "plots page renders with no network.",
    )
    parser.add_argument(
        "--repo", type=Path, default=Path.cwd(), help="DVC repository root (default: here)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print warnings only")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="offline_plots: %(message)s",
        stream=sys.stderr,
    )
    try:
        install_offline_plots(args.repo)
    except OfflinePlotsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

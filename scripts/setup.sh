#!/usr/bin/env bash
# Create the project environment in .venv/ at the repository root and install Beatwise with the
# pinned versions of constraints.txt. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

PY="${PYTHON:-$(find_python || true)}"
if [ -z "$PY" ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "setup: no Python >= 3.11 with venv found; installing Debian's python3 and python3-venv" >&2
  apt-get update -qq && apt-get install -y -qq python3 python3-venv python3-pip >/dev/null
  PY="$(find_python || true)"
fi
if [ -z "$PY" ]; then
  echo "setup: Beatwise needs Python >= 3.11 with the venv module; none was found." >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $("$PY" --version)" >&2
  "$PY" -m venv .venv
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
.venv/bin/python -m pip install --quiet --upgrade "pip>=24"
.venv/bin/python -m pip install --quiet -c constraints.txt -e ".[dev]"
echo "setup: environment ready in .venv/" >&2
# `dvc plots show` / `dvc plots diff` render offline: a template with Vega inlined, set locally
.venv/bin/python -m beatwise.offline_plots --quiet

#!/bin/sh
# Create the project-local virtual environment and install into it exactly
# what requirements.lock pins (hash-checked), then the project itself
# (editable, built with the locked setuptools: nothing is fetched unpinned).
# Called by `make` when .venv is missing or pyproject.toml or the lock changed.
set -eu
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "python3 is missing: run as root: apt-get install -y python3 python3-venv" >&2
    exit 2
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "Python 3.11 or newer is needed (Debian 12 / Raspberry Pi OS bookworm have it)" >&2
    exit 2
fi
# Debian ships venv's pip bootstrap in a package of its own (python3-venv).
if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv
    else
        echo "the venv module is missing: run as root: apt-get install -y python3-venv" >&2
        exit 2
    fi
fi
# A dependency added to pyproject.toml without relocking: one line, nothing installed.
"$PYTHON" devtools/lock.py check || exit 2
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
PIP="$VENV/bin/python -m pip --disable-pip-version-check"
$PIP install --quiet --require-hashes --no-deps -r requirements.lock
$PIP install --quiet --no-deps --no-build-isolation -e .
"$VENV/bin/python" devtools/lock.py sync
touch "$VENV/.installed"

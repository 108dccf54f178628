"""A real Chromium for the browser tests (Playwright for Python driving Debian's
`chromium` package).

Playwright's own `playwright install` downloads a browser build and fails
here, so the tests drive the distribution's Chromium through
`executable_path`. `ensure_chromium()` installs it with apt when missing and
running as root (as `make test` does on a fresh clone), else prints the one
command to run.

    python -m devtools.browser ensure
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from contextlib import contextmanager

APT_COMMAND = ("apt-get update && DEBIAN_FRONTEND=noninteractive "
               "apt-get install -y --no-install-recommends chromium")
# Quiet, offline, reproducible: no sandbox (root in CI), no GPU, nothing
# fetched in the background while a test measures the page.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str | None:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def ensure_chromium(quiet: bool = False) -> str:
    """The path of Chromium, installing it from the distribution when missing (as root)."""
    found = chromium_path()
    if found:
        return found
    if os.geteuid() != 0:
        sys.stderr.write(f"chromium is missing: run as root:\n  sudo sh -c '{APT_COMMAND}'\n")
        raise SystemExit(2)
    if not quiet:
        print("installing chromium from the distribution ...", flush=True)
    subprocess.run(["sh", "-c", APT_COMMAND], check=True,
                   env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
                   stdout=subprocess.DEVNULL if quiet else None)
    found = chromium_path()
    if not found:
        raise SystemExit("installation did not provide chromium")
    return found


def browser_env() -> dict[str, str]:
    """The browser's environment: ours, without libfaketime. Under `make
    test-future` the suite's processes see a clock 400 days ahead; Chromium's
    own processes do not start under libfaketime (pages never load), and a
    browser's clock is the visitor's, never the server's, so the pages must
    not need the two to agree anyway."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith("FAKETIME") and not (k == "LD_PRELOAD" and "faketime" in v)}


@contextmanager
def chromium():
    """A launched headless Chromium (a Playwright `Browser`), closed on exit."""
    from playwright.sync_api import sync_playwright
    path = ensure_chromium(quiet=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True,
                                    env=browser_env())
        try:
            yield browser
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if args != ["ensure"]:
        print("usage: python -m devtools.browser ensure", file=sys.stderr)
        return 2
    print(ensure_chromium())
    return 0


if __name__ == "__main__":
    sys.exit(main())

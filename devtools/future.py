"""`make test-future`: installs Debian's libfaketime (`faketime`) when missing.

The suite then runs under `FAKETIME_DONT_FAKE_MONOTONIC=1 faketime -f '+400d'`:
the wall clock (what "now" means to the code) moves 400 days ahead while the
monotonic clock stays real. Faking the monotonic clock too makes Python's
timed waits never return with Debian 12's libfaketime 0.9.10.

    python -m devtools.future ensure
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

APT_COMMAND = ("apt-get update && DEBIAN_FRONTEND=noninteractive "
               "apt-get install -y --no-install-recommends faketime")


def ensure_faketime() -> str:
    found = shutil.which("faketime")
    if found:
        return found
    if os.geteuid() != 0:
        sys.stderr.write(f"faketime is missing: run as root:\n  sudo sh -c '{APT_COMMAND}'\n")
        raise SystemExit(2)
    print("installing faketime from the distribution ...", flush=True)
    subprocess.run(["sh", "-c", APT_COMMAND], check=True, stdout=subprocess.DEVNULL,
                   env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    found = shutil.which("faketime")
    if not found:
        raise SystemExit("installation did not provide faketime")
    return found


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv != ["ensure"]:
        sys.stderr.write("usage: python -m devtools.future ensure\n")
        return 2
    ensure_faketime()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

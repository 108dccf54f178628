"""The lock: `requirements.lock` pins every package the venv installs.

`pyproject.toml` keeps compatible ranges for people who install the package
into an environment of their own; the lock pins the exact versions, with the
sha256 of every file of each release on PyPI, that `make test`, `make demo`
and a bench install. It is one universal file: the hashes cover the wheels
of Linux x86_64 and aarch64 (64-bit Raspberry Pi OS) alike, and the markers
say which line applies where.

    python3 devtools/lock.py check             # stdlib only: is the lock made from pyproject.toml?
    .venv/bin/python devtools/lock.py sync     # the venv holds exactly the lock (extras removed)
    python3 devtools/lock.py compile --uv UV   # what `make lock` runs

`check` compares a fingerprint of pyproject.toml's dependency tables (the
runtime dependencies, the `hub`, `sms` and `test` extras and the build
requirements) with the one `compile` wrote in the lock's header: a dependency
added or changed without relocking stops the bootstrap with one line.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LOCK = REPO / "requirements.lock"
PYPROJECT = REPO / "pyproject.toml"
EXTRAS = ("hub", "sms", "test")
# The project itself is installed editable from the work tree, not from the lock.
PROJECT = "milk-collection"
FINGERPRINT_LINE = "# pyproject-dependencies-sha256: "
# Lines of the lock: "name==version ; marker \" (hashes follow on their own lines).
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]*?))?\s*\\?$")
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def normalize(name: str) -> str:
    """PEP 503: `Jinja2`, `jinja2` and `typing_extensions` compare by one spelling."""
    return re.sub(r"[-_.]+", "-", name).lower()


def dependency_tables(pyproject: Path = PYPROJECT) -> dict[str, list[str]]:
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    project = data.get("project", {})
    optional = project.get("optional-dependencies", {})
    tables = {"build-system": data.get("build-system", {}).get("requires", []),
              "dependencies": project.get("dependencies", [])}
    for extra in EXTRAS:
        tables[extra] = optional.get(extra, [])
    return {k: sorted(" ".join(r.split()) for r in v) for k, v in tables.items()}


def fingerprint(pyproject: Path = PYPROJECT) -> str:
    text = json.dumps(dependency_tables(pyproject), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def lock_pins(lock: Path = LOCK) -> list[tuple[str, str, str | None]]:
    """(normalized name, version, marker or None) of every pin in the lock."""
    pins = []
    for line in lock.read_text(encoding="utf-8").splitlines():
        m = _PIN.match(line)
        if m:
            pins.append((normalize(m.group(1)), m.group(2), (m.group(3) or "").strip() or None))
    return pins


def lock_fingerprint(lock: Path = LOCK) -> str | None:
    for line in lock.read_text(encoding="utf-8").splitlines():
        if line.startswith(FINGERPRINT_LINE):
            return line[len(FINGERPRINT_LINE):].strip()
    return None


def problems(pyproject: Path = PYPROJECT, lock: Path = LOCK) -> list[str]:
    """Why the lock was not made from this pyproject.toml; empty when it was."""
    if not lock.exists():
        return [f"{lock.name} is missing"]
    locked = {name for name, _, _ in lock_pins(lock)}
    missing = sorted({normalize(_NAME.match(r).group(1)) for reqs in dependency_tables(pyproject).values()
                      for r in reqs if _NAME.match(r)} - locked - {normalize(PROJECT)})
    if missing:
        return [f"not in {lock.name}: {', '.join(missing)}"]
    if lock_fingerprint(lock) != fingerprint(pyproject):
        return [f"pyproject.toml's dependencies changed since {lock.name} was made"]
    return []


def cmd_check(args: argparse.Namespace) -> int:
    found = problems(Path(args.pyproject), Path(args.lock))
    if found:
        print(f"{found[0]}: run `make lock`", file=sys.stderr)
        return 2
    return 0


def wanted_here(lock: Path = LOCK) -> dict[str, str]:
    """The pins whose marker holds in this interpreter (needs `packaging`,
    which the lock itself installs)."""
    from packaging.markers import Marker
    return {name: version for name, version, marker in lock_pins(lock)
            if marker is None or Marker(marker).evaluate()}


def installed() -> dict[str, str]:
    out = subprocess.run([sys.executable, "-m", "pip", "list", "--format=freeze",
                          "--disable-pip-version-check"], check=True, capture_output=True, text=True).stdout
    found = {}
    for line in out.splitlines():
        name, sep, version = line.partition("==")
        if sep:
            found[normalize(name)] = version
    found.pop(normalize(PROJECT), None)
    return found


def differences(want: dict[str, str], have: dict[str, str]) -> tuple[list[str], list[str]]:
    """(packages installed but not locked, packages missing or at another version)."""
    extra = sorted(set(have) - set(want))
    wrong = sorted(f"{n}=={v} (installed: {have.get(n, 'none')})" for n, v in want.items() if have.get(n) != v)
    return extra, wrong


def cmd_sync(args: argparse.Namespace) -> int:
    """Remove what the lock does not hold (a package dropped from the
    dependencies, a manual pip install), then say whether the venv is the lock."""
    want = wanted_here(Path(args.lock))
    extra, _ = differences(want, installed())
    if extra:
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "--yes", "--quiet", *extra], check=True)
    extra, wrong = differences(want, installed())
    if extra or wrong:
        print(f"the venv differs from {Path(args.lock).name}: {', '.join(extra + wrong)}", file=sys.stderr)
        return 1
    return 0


def cmd_compile(args: argparse.Namespace) -> int:
    """Resolve pyproject.toml's dependencies once for every platform (uv's
    universal resolution, one version per package where the markers allow),
    with hashes, then stamp the fingerprint `check` compares."""
    build = REPO / ".run" / "lock-build.in"
    build.parent.mkdir(parents=True, exist_ok=True)
    # The build tools the editable install uses (no build isolation: nothing is
    # fetched at install time) and pip itself, pinned like the rest.
    build.write_text("pip\n" + "\n".join(dependency_tables()["build-system"]) + "\n", encoding="utf-8")
    out = Path(args.lock)
    command = [args.uv, "pip", "compile", str(PYPROJECT.relative_to(REPO)), str(build.relative_to(REPO)),
               *[a for e in ("hub", "test") for a in ("--extra", e)],
               "--universal", "--fork-strategy", "fewest", "--python-version", "3.11",
               "--generate-hashes", "--no-header", "--quiet", "--output-file", str(out)]
    subprocess.run(command, check=True, cwd=REPO)
    body = out.read_text(encoding="utf-8").replace(f"-r {build.relative_to(REPO)}", "the build tools and pip")
    header = ("# The exact packages of the project's venv, with their hashes: `make lock` writes it\n"
              "# (devtools/lock.py, uv pip compile --universal); `make test`, `make demo` and the\n"
              "# bootstrap install from it with pip --require-hashes. Do not edit by hand.\n"
              f"{FINGERPRINT_LINE}{fingerprint()}\n")
    out.write_text(header + body, encoding="utf-8")
    print(f"{out.name}: {len(lock_pins(out))} pins", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="devtools/lock.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--lock", default=str(LOCK))
    parser.add_argument("--pyproject", default=str(PYPROJECT))
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check")
    sub.add_parser("sync")
    p = sub.add_parser("compile")
    p.add_argument("--uv", required=True, help="the uv executable")
    args = parser.parse_args(argv)
    return {"check": cmd_check, "sync": cmd_sync, "compile": cmd_compile}[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())

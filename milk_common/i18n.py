"""Every text a person reads, from gettext catalogs (Spanish first, English too).

The catalogs are ordinary gettext `.po` files under `milk_common/locale/`,
one per domain (`station`, `coldchain`, `payments`, `hub`), read with Babel
when first used. A message id is a stable symbolic key (`recorded`,
`milk_added`), not the English sentence: the Spanish text is the one
operators read first, and a key lets a translator change the English
without touching the code. The text is a `str.format` template whose
placeholders (`{liters}`) the caller fills in.

Why not compiled `.mo` files: they are build output that can go stale
beside the `.po` source; parsing a few hundred messages at start costs
milliseconds. Translators can still use every gettext tool on the `.po`
files (`pybabel update`, Poedit).
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).with_name("locale")
LANGUAGES = ("es", "en")
DEFAULT_LANGUAGE = "es"

_lock = threading.Lock()
_catalogs: dict[tuple[str, str], dict[str, str]] = {}
_FIELD = re.compile(r"\{(\w+)[^}]*\}")


class MissingText(KeyError):
    """A key that no catalog of the domain has: a programming error."""


def normalize_language(lang: str | None) -> str:
    """`en`, `en_GB.UTF-8` -> `en`; anything else (None, `es_BO`, `qu`) -> Spanish."""
    if lang and lang.lower().startswith("en"):
        return "en"
    return DEFAULT_LANGUAGE


def language_from_environment() -> str:
    """English only when the locale says English (LC_ALL, LC_MESSAGES, LANG)."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name)
        if value:
            return normalize_language(value)
    return DEFAULT_LANGUAGE


_process_language: str | None = None


def set_process_language(lang: str | None) -> None:
    """The language a command chose for its user (milk_common/cli.py sets it once
    per command line), for texts made far from the command: config errors."""
    global _process_language
    _process_language = normalize_language(lang) if lang else None


def process_language() -> str:
    """The command's language when one was chosen, else the environment's."""
    return _process_language or language_from_environment()


def choose_language(flag: str | None = None, configured: str | None = None) -> str:
    """The language of a command's messages: its `--lang`, else the config's
    `language`, else the environment's locale (English only when it says so)."""
    if flag:
        return normalize_language(flag)
    if configured:
        return normalize_language(configured)
    return language_from_environment()


def catalog(domain: str, lang: str | None = None) -> dict[str, str]:
    """The domain's messages in `lang` as {key: template} (read once, then cached)."""
    lang = normalize_language(lang)
    key = (domain, lang)
    found = _catalogs.get(key)
    if found is None:
        with _lock:
            found = _catalogs.get(key)
            if found is None:
                found = _read(domain, lang)
                _catalogs[key] = found
    return found


def _read(domain: str, lang: str) -> dict[str, str]:
    path = LOCALE_DIR / lang / "LC_MESSAGES" / f"{domain}.po"
    if not path.exists():
        raise MissingText(f"no catalog {path}")
    with path.open("rb") as fh:
        cat = read_po(fh, locale=lang, domain=domain)
    # An untranslated entry (empty msgstr) falls back to Spanish in translate().
    return {m.id: m.string for m in cat if m.id and isinstance(m.id, str) and m.string}


def translate(domain: str, key: str, lang: str | None = None, /, **values: object) -> str:
    """The text for `key` in `lang` (Spanish when the English one is missing),
    with `values` filled into its placeholders."""
    template = catalog(domain, lang).get(key)
    if template is None:
        template = catalog(domain, DEFAULT_LANGUAGE).get(key)
        if template is None:
            raise MissingText(f"{domain}: no text for {key!r}")
    return template.format(**values) if values else template


def has_text(domain: str, key: str) -> bool:
    return key in catalog(domain, DEFAULT_LANGUAGE)


def placeholders(template: str) -> set[str]:
    return set(_FIELD.findall(template))


def check_catalogs() -> list[str]:
    """Problems a translator must fix: a key missing in a language, or a text
    whose placeholders differ from the Spanish one (it would fail at run time)."""
    problems = []
    for path in sorted((LOCALE_DIR / DEFAULT_LANGUAGE / "LC_MESSAGES").glob("*.po")):
        domain = path.stem
        spanish = catalog(domain, DEFAULT_LANGUAGE)
        for lang in LANGUAGES:
            if lang == DEFAULT_LANGUAGE:
                continue
            other = catalog(domain, lang)
            for key, template in spanish.items():
                if key not in other:
                    problems.append(f"{lang}/{domain}.po: missing {key!r}")
                elif placeholders(other[key]) != placeholders(template):
                    problems.append(f"{lang}/{domain}.po: {key!r} has placeholders "
                                    f"{sorted(placeholders(other[key]))}, Spanish has "
                                    f"{sorted(placeholders(template))}")
            for key in other.keys() - spanish.keys():
                problems.append(f"{lang}/{domain}.po: {key!r} is not in the Spanish catalog")
    return problems


if __name__ == "__main__":  # python -m milk_common.i18n: check the catalogs
    import sys
    found = check_catalogs()
    print("\n".join(found) or "catalogs OK")
    sys.exit(1 if found else 0)

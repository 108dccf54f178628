"""The station's texts: the `station` gettext catalog of `milk_common.i18n`.

Operator prompts, receipts and shift summaries read their words from
`milk_common/locale/{es,en}/LC_MESSAGES/station.po`; a reject reason code
(`milk_common.contract.REJECT_REASONS`) reads as `reason.<code>`.
"""

from __future__ import annotations

from milk_common.i18n import has_text, translate

DOMAIN = "station"


def text(lang: str | None, key: str, **values: object) -> str:
    return translate(DOMAIN, key, lang, **values)


def reason_text(lang: str | None, code: str | None) -> str:
    """A reject reason in the operator's words; an unknown code reads as itself."""
    if not code:
        return ""
    return translate(DOMAIN, f"reason.{code}", lang) if has_text(DOMAIN, f"reason.{code}") else code

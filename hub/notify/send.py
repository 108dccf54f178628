"""The one call into Apprise. Thin on purpose: the rest of hub/notify is
testable without a network, and a send that fails says why in one line."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from contextlib import contextmanager

log = logging.getLogger(__name__)


@contextmanager
def apprise_reasons():
    """Apprise's log lines of a call, captured instead of printed: the caller turns
    them into its own one line (Apprise would also log through the root logger).
    Two threads sending at once (alerts, per-delivery messages) may see each
    other's lines in their reason; whether each send succeeded is still its own."""
    import apprise
    logger = logging.getLogger("apprise")
    before = logger.propagate
    logger.propagate = False
    try:
        with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as captured:
            yield captured
    finally:
        logger.propagate = before


def send_apprise(url: str, title: str, body: str, attachments: Iterable[str] = ()) -> str | None:
    """Send one message to one Apprise URL: None when the far end took it, else
    the reason it did not (Apprise's own words, the URL's secrets left out)."""
    import apprise
    notifier = apprise.Apprise()
    with apprise_reasons() as captured:
        if not notifier.add(url):
            return f"not a usable Apprise URL ({scheme_of(url)}://...)"
        attach = apprise.AppriseAttachment()
        for path in attachments:
            attach.add(path)
        ok = notifier.notify(body=body, title=title, attach=attach if len(attach) else None)
    if ok:
        return None
    reasons = [line.strip() for line in captured.getvalue().splitlines() if line.strip()]
    return "; ".join(reasons[-2:]) or "Apprise could not deliver the message"


def scheme_of(url: str) -> str:
    """What a log or a journal may say about a URL: its scheme (tokens stay secret)."""
    return url.split("://", 1)[0].lower() if "://" in url else "?"

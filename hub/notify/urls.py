"""Notification URLs: Apprise's own parser decides whether one is usable, and
the old `[alerts] smtp_*` / `webhook_url` settings become Apprise URLs."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from milk_common.contract.registry import notify_url_problem


def apprise_url_problem(url: str) -> str | None:
    """None when Apprise can build a notifier from `url`, else a short reason.

    Apprise's `instantiate` is the parser it uses itself when sending, so a
    URL accepted here is one it will try (whether the far end answers is
    another matter, found out when sending). The registry CSV reader uses the
    same check (`milk_common.contract.registry.notify_url_problem`)."""
    import apprise  # noqa: F401  (the hub has it; without it the check would be the shape alone)
    return notify_url_problem(url)


class AlertSettingError(ValueError):
    """An old `[alerts]` setting that cannot be turned into an Apprise URL."""


def _userinfo(username: str | None, password: str | None) -> str:
    if not username:
        return ""
    user = quote(username, safe="")
    return f"{user}:{quote(password or '', safe='')}@" if password is not None else f"{user}@"


def smtp_url(host: str, port: int, sender: str, to: list[str], *, username: str | None = None,
             password: str | None = None, starttls: bool = False) -> str:
    """`[alerts] smtp_*` as Apprise's e-mail URL: `mailto://` (plain SMTP) or
    `mailtos://...?mode=starttls` (STARTTLS), the recipients in `to=`."""
    scheme = "mailtos" if starttls else "mailto"
    mode = "&mode=starttls" if starttls else ""
    targets = ",".join(quote(t, safe="@") for t in to)
    return (f"{scheme}://{_userinfo(username, password)}{host}:{port}"
            f"?smtp={quote(host)}&from={quote(sender, safe='@')}&to={targets}{mode}")


def webhook_to_json_url(url: str) -> str:
    """`[alerts] webhook_url` (http/https) as Apprise's `json://` / `jsons://` URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise AlertSettingError(
            f"[alerts] webhook_url = {url!r}: only http(s) URLs can be translated; write the "
            f"Apprise URL in [alerts] notify instead, e.g. notify = [\"json://host:port/path\"]")
    scheme = "jsons" if parts.scheme == "https" else "json"
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{parts.netloc}{parts.path or '/'}{query}"


def alert_urls(alerts) -> list[str]:
    """Every Apprise URL the alert engine notifies: `[alerts] notify` as
    written, then the old `smtp_*` and `webhook_url` settings translated.
    Raises AlertSettingError (naming the key and the way to write it now)
    when one cannot be used."""
    urls = list(getattr(alerts, "notify", []) or [])
    # The old channels' timeout_s, as Apprise's connect and read timeouts.
    timeouts = f"cto={alerts.timeout_s:g}&rto={alerts.timeout_s:g}"
    if alerts.smtp_host and alerts.smtp_to:
        urls.append(smtp_url(alerts.smtp_host, alerts.smtp_port, alerts.smtp_from, alerts.smtp_to,
                             username=alerts.smtp_username, password=alerts.smtp_password,
                             starttls=alerts.smtp_starttls) + "&" + timeouts)
    elif alerts.smtp_host:
        raise AlertSettingError("[alerts] smtp_host is set but smtp_to is empty: write the e-mail as "
                                "an Apprise URL in [alerts] notify, e.g. "
                                "notify = [\"mailtos://user:pass@smtp.example.org?to=tecnico@example.org\"]")
    if alerts.webhook_url:
        url = webhook_to_json_url(alerts.webhook_url)
        urls.append(url + ("&" if "?" in url else "?") + timeouts)
    for url in urls:
        problem = apprise_url_problem(url)
        if problem is not None:
            raise AlertSettingError(
                f"[alerts]: {url!r} is not a usable Apprise URL ({problem}); write it as documented "
                f"in docs/hub-config.md, e.g. notify = [\"mailtos://user:pass@smtp.example.org?"
                f"to=tecnico@example.org\", \"json://host:8080/alert\"]")
    return urls

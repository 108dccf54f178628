"""The dashboard's web shell (Starlette, Jinja2 templates, uvicorn).

One template per screen, one handler per action; the numbers come from
`summary.py` over the period's points read through `hub.store` and counted by
the one rule `milk-hub payments` counts by (`hub.store.deliveries`: each
delivery once by its id, voids and amended deliveries left out), so the page
and the statement agree. A period's statements come from `statements.py`:
a closed period's from the ledger's record, an open one's computed now.
Everything is read-only except acknowledging an alert (POST, CSRF token in
the session). Assets are served from the package: nothing from the network.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from milk_common.coldchain_limits import COLDCHAIN_DEFAULTS
from milk_common.i18n import normalize_language, translate

from hub.config import HubConfig
from hub.payments.errors import PaymentsError
from hub.payments.periods import Period, period_of
from hub.payments.pricing import Pricing, load_pricing
from hub.receipts import find_receipt
from hub.store import status
from hub.store.deliveries import period_rows
from hub.store.influx import InfluxError, InfluxV1
from hub.web import charts, queries
from hub.web.statements import Statements
from hub.web.summary import PeriodSummary, Tally, day_series, format_2dp, summarize_rows
from hub.web.users import LoginThrottle, Users, session_secret

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
SESSION_MAX_AGE_S = 12 * 3600
CACHE_S = 10.0                   # a period's summary is re-read at most this often
LIVE_POLL_S = 3.0               # how often an open page's live parts are compared
# The TS line drawn on the chart when the config names no pricing file: the buyers'
# usual minimum (docs/quality.md). With one, the pricing's own reference (solids_reference).
DEFAULT_REFERENCE_SOLIDS_PCT = Decimal("11.5")


@dataclass
class Settings:
    """What the app needs beyond the hub config (given by `milk-hub web`)."""

    config: HubConfig
    statements_dir: Path | None = None
    pricing: Pricing | None = None       # default: the config's [payments] pricing file, read at start


class SummaryCache:
    """The last few periods' summaries, each kept `CACHE_S` seconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[tuple[str, date], tuple[float, PeriodSummary]] = {}

    def get(self, key, make):
        now = time.monotonic()
        with self._lock:
            hit = self._items.get(key)
            if hit and now - hit[0] < CACHE_S:
                return hit[1]
        value = make()
        with self._lock:
            if len(self._items) > 8:
                self._items.clear()
            self._items[key] = (now, value)
        return value


def create_app(settings: Settings, *, throttle: LoginThrottle | None = None) -> Starlette:
    config = settings.config
    data_dir = Path(config.data_dir)
    tz = config.zone
    ic = config.influx
    users = Users(data_dir)
    throttle = throttle or LoginThrottle(config.web.login_max_failures, config.web.login_lockout_s)
    receipt_throttle = LoginThrottle(30, 60.0)       # public lookups: 30 misses a minute per address
    cache = SummaryCache()
    env = Environment(loader=FileSystemLoader(str(HERE / "templates")),
                      autoescape=select_autoescape(["html"]))
    pricing = settings.pricing
    if pricing is None and config.payments.pricing:
        pricing = load_pricing(config.payments.pricing)     # PaymentsError: `milk-hub web` says why

    def influx() -> InfluxV1:
        return InfluxV1.from_config(ic)

    statements = Statements(config.ledger_path, pricing, settings.statements_dir, influx, ic.query_chunk_size)
    solids_line = solids_reference(pricing)

    def lang_of(request: Request) -> str:
        asked = request.query_params.get("lang")
        if asked:
            request.session["lang"] = normalize_language(asked)
        return request.session.get("lang", "es")

    def csrf(request: Request) -> str:
        token = request.session.get("csrf")
        if not token:
            token = request.session["csrf"] = secrets.token_urlsafe(24)
        return token

    async def csrf_ok(request: Request, form) -> bool:
        return hmac.compare_digest(str(form.get("csrf", "")), request.session.get("csrf", "") or "-")

    def render(request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
        lang = lang_of(request)

        def t(key: str, **values) -> str:
            return translate("dashboard", key, lang, **values)

        html = env.get_template(name).render(t=t, lang=lang, csrf=csrf(request),
                                             user=request.session.get("user"), request=request,
                                             **context)
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    def client_of(request: Request) -> str:
        return request.client.host if request.client else "?"

    # -- login -------------------------------------------------------------
    def login_page(request: Request) -> Response:
        return render(request, "login.html", next=_safe_next(request.query_params.get("next")))

    async def login(request: Request) -> Response:
        form = await request.form()
        lang = lang_of(request)
        who = client_of(request)
        nxt = _safe_next(form.get("next"))
        if not await csrf_ok(request, form):
            return render(request, "login.html", status=403, next=nxt,
                          error=translate("dashboard", "login.expired", lang))
        wait = throttle.wait_s(who)
        if wait > 0:
            return render(request, "login.html", status=429, next=nxt,
                          error=translate("dashboard", "login.wait", lang, minutes=max(1, round(wait / 60))))
        name, password = str(form.get("user", "")), str(form.get("password", ""))
        from starlette.concurrency import run_in_threadpool
        if not await run_in_threadpool(users.check, name, password):
            throttle.failed(who)
            log.warning("dashboard: failed login for %r from %s", name, who)
            return render(request, "login.html", status=401, next=nxt, user_name=name,
                          error=translate("dashboard", "login.wrong", lang))
        throttle.succeeded(who)
        request.session.clear()
        request.session.update(user=name, lang=lang, csrf=secrets.token_urlsafe(24))
        log.info("dashboard: %s logged in from %s", name, who)
        return RedirectResponse(nxt, status_code=303)

    async def logout(request: Request) -> Response:
        form = await request.form()
        if await csrf_ok(request, form):
            lang = request.session.get("lang", "es")
            request.session.clear()
            request.session["lang"] = lang
        return RedirectResponse("/login", status_code=303)

    def need_login(request: Request) -> Response | None:
        if request.session.get("user"):
            return None
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    # -- the dashboard -------------------------------------------------------
    def dashboard(request: Request) -> Response:
        if (redirect := need_login(request)) is not None:
            return redirect
        lang = lang_of(request)
        now = datetime.now(tz)
        today = now.date()
        try:
            period = Period.parse(request.query_params.get("period") or str(period_of(now, tz)))
        except PaymentsError:
            return render(request, "error.html", status=400,
                          message=translate("dashboard", "bad_period", lang,
                                            period=request.query_params.get("period", "")))
        db = influx()
        try:
            def tally(p: Period) -> PeriodSummary:
                rows, superseded = period_rows(db, p, tz, ic.query_chunk_size)
                summary = summarize_rows(rows, tz, today, superseded)
                if summary.duplicates:
                    log.warning("dashboard: %s", summary.duplicates.words(str(p), "en"))
                return summary

            summary = cache.get((str(period), today), lambda: tally(period))
            today_summary = summary
            if not period.contains(now, tz):
                today_summary = cache.get((str(period_of(now, tz)), today), lambda: tally(period_of(now, tz)))
            station_views = status.stations(db, tz)
            queries.add_recovery_gaps(station_views, data_dir)
            tank_views = status.tanks(db, tz)
        except InfluxError as exc:
            log.error("dashboard: %s", exc)
            return render(request, "error.html", status=503,
                          message=translate("dashboard", "influx_down", lang))
        days = [period.first_day() + timedelta(days=i)
                for i in range((period.last_day() - period.first_day()).days + 1)]
        series = day_series(summary, days)
        t = lambda key, **v: translate("dashboard", key, lang, **v)  # noqa: E731
        liters_chart = charts.bar_chart([(f"{d.day}", float(l)) for d, l, _ in series],
                                        t("chart.liters_by_day"), "L")
        solids_chart = charts.line_chart(
            [(f"{d.day}", float(s) if s is not None else None) for d, _, s in series],
            t("chart.solids_by_day"),
            reference=(float(solids_line[0]), t(solids_line[1], pct=_num(solids_line[0]))), unit="%")
        limits = COLDCHAIN_DEFAULTS
        tank_charts = {
            v.key: charts.time_chart(v.samples, t("chart.tank", tank=v.key), limits=[
                (limits.target_c, "limit target", t("limit.target", c=_num(limits.target_c))),
                (limits.cold_max_c, "limit cold", t("limit.cold", c=_num(limits.cold_max_c))),
                (limits.first_check_max_c, "limit hard", t("limit.first_check",
                                                           c=_num(limits.first_check_max_c))),
            ]) for v in tank_views}
        alerts, acked = _alerts(data_dir)
        # Every station heard of, with or without deliveries in the period.
        known = {v.key for v in station_views}
        for key in list(summary.by_station) + list(today_summary.today_by_station):
            if key not in known:
                center, _, station = key.partition(".")
                station_views.append(status.StationView(center, station))
                known.add(key)
        producers = sorted(set(summary.by_producer) | set(today_summary.today_by_producer))
        links = statements.links(period, summary.by_producer, lang)
        ingest = queries.ingest_status(data_dir)
        return render(
            request, "dashboard.html", period=period, prev_period=period.previous(),
            next_period=period.next(), now=now, today=today, summary=summary,
            today_tally=today_summary.today, today_summary=today_summary,
            stations=sorted(station_views, key=lambda v: v.key), tanks=tank_views,
            tank_charts=tank_charts, liters_chart=liters_chart, solids_chart=solids_chart,
            alerts=alerts, acked=acked, findings=queries.integrity_findings(data_dir),
            ingest=ingest, hub_alive=queries.hub_alive(ingest, now), statements=links.files, statement_links=links,
            names=queries.producer_names(data_dir),
            statements_configured=statements.configured, producers=producers,
            empty=Tally(), f2=format_2dp, alert_text=lambda a: _alert_text(a, lang),
            problem_text=lambda code: _known_text(f"integrity.problem.{code}", code, lang),
            when=lambda iso: _local_time(iso, tz),
            limits=limits, num=_num)

    async def ack(request: Request) -> Response:
        if (redirect := need_login(request)) is not None:
            return redirect
        form = await request.form()
        if not await csrf_ok(request, form):
            return PlainTextResponse(translate("dashboard", "login.expired", lang_of(request)), 403)
        try:
            alert_id = int(request.path_params["alert_id"])
        except ValueError:
            return PlainTextResponse("bad alert id", 400)
        path = data_dir / "alerts.sqlite3"
        if path.exists():
            from hub.alerts.store import AlertStore
            store = AlertStore(path)
            try:
                if store.ack(alert_id, datetime.now(tz).isoformat(timespec="seconds"),
                             str(request.session["user"])):
                    log.info("dashboard: alert %d acknowledged by %s", alert_id, request.session["user"])
            finally:
                store.close()
        back = "/" + (f"?period={form.get('period')}" if _period_text(form.get("period")) else "")
        return RedirectResponse(back + "#alerts", status_code=303)

    def statement_file(request: Request) -> Response:
        if (redirect := need_login(request)) is not None:
            return redirect
        try:
            period = Period.parse(request.path_params["period"])
        except PaymentsError:
            return PlainTextResponse("bad period", 404)
        lang = lang_of(request)
        try:
            found = statements.file(period, request.path_params["name"], lang,
                                    queries.producer_names(data_dir) or None)
        except PaymentsError as exc:
            log.error("statement %s/%s: %s", period, request.path_params["name"], exc)
            return render(request, "error.html", status=500, message=translate(
                "dashboard", "statement_error", lang, error=exc.words(lang)))
        except InfluxError as exc:
            log.error("statement: %s", exc)
            return render(request, "error.html", status=503,
                          message=translate("dashboard", "influx_down", lang))
        if found is None:
            return PlainTextResponse("no such statement", 404)
        content, media_type = found
        return Response(content, media_type=media_type)

    # -- the public receipt check -------------------------------------------
    def receipt(request: Request) -> Response:
        lang = lang_of(request)
        code = request.query_params.get("code", "").strip()
        if not code:
            return render(request, "receipt.html", code="", result=None, asked=False)
        who = client_of(request)
        if receipt_throttle.wait_s(who) > 0:
            return render(request, "receipt.html", status=429, code=code, result=None, asked=False,
                          error=translate("dashboard", "receipt.wait", lang))
        try:
            result = find_receipt(influx(), code, tz)
        except InfluxError as exc:
            log.error("receipt check: %s", exc)
            return render(request, "error.html", status=503,
                          message=translate("dashboard", "influx_down", lang))
        if result is None:
            receipt_throttle.failed(who)
        return render(request, "receipt.html", code=code, result=result, asked=True, f2=format_2dp,
                      num=_num)

    def health(request: Request) -> Response:
        return PlainTextResponse("ok")

    def live_signature() -> str:
        """What the live parts show: open alerts, station links, tank states. Cheap
        (SQLite and two LAST queries), so every open page can ask every few seconds."""
        alerts, acked = _alerts(data_dir)
        parts = [",".join(f"{a.id}{'a' if a.acked_at else ''}" for a in alerts + acked)]
        try:
            parts += status.live_states(influx())
        except InfluxError:
            parts.append("influx-down")
        return "|".join(parts)

    async def events(request: Request) -> Response:
        """Server-sent events: `changed` when alerts, station links or tank states
        change; the page's small script then reloads it (static/live.js)."""
        if not request.session.get("user"):
            return PlainTextResponse("login", 401)
        from starlette.concurrency import run_in_threadpool
        from starlette.responses import StreamingResponse

        async def stream():
            import asyncio
            last = await run_in_threadpool(live_signature)
            yield "retry: 5000\n\n"
            while not await request.is_disconnected():
                await asyncio.sleep(LIVE_POLL_S)
                now = await run_in_threadpool(live_signature)
                if now != last:
                    last = now
                    yield "event: changed\ndata: {}\n\n"
                else:
                    yield ": idle\n\n"       # keeps proxies from closing the stream

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    routes = [
        Route("/", dashboard),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/alerts/{alert_id}/ack", ack, methods=["POST"]),
        Route("/statements/{period}/{name}", statement_file),
        Route("/receipt", receipt),
        Route("/health", health),
        Route("/events", events),
        Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    middleware = [Middleware(SessionMiddleware, secret_key=session_secret(data_dir),
                             session_cookie="milkhub_session", max_age=SESSION_MAX_AGE_S,
                             same_site="lax", https_only=config.web.cookie_secure)]
    return Starlette(routes=routes, middleware=middleware)


# Pages are not framed by other sites and load nothing from elsewhere.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                               "frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _num(value) -> str:
    """A number as the page shows it: `.` decimal mark, no trailing `.0`."""
    if value is None:
        return "-"
    text = f"{float(value):.2f}".rstrip("0").rstrip(".")
    return text or "0"


def _period_text(value) -> bool:
    try:
        Period.parse(str(value or ""))
        return True
    except PaymentsError:
        return False


def _safe_next(value) -> str:
    """Only a path on this site (no `//host`, no scheme) is followed after login."""
    text = str(value or "/")
    if not text.startswith("/") or text.startswith("//") or "\\" in text:
        return "/"
    return text


def _alerts(data_dir: Path):
    """(open and not acknowledged, acknowledged but not resolved) alerts."""
    path = data_dir / "alerts.sqlite3"
    if not path.exists():
        return [], []
    from hub.alerts.store import AlertStore
    store = AlertStore(path)
    try:
        active = store.active()
    finally:
        store.close()
    return [a for a in active if not a.acked_at], [a for a in active if a.acked_at]


def _alert_text(alert, lang: str) -> str:
    from milk_common.i18n import has_text
    key = f"alert.{alert.kind}"
    return translate("hub", key, lang) if has_text("hub", key) else alert.kind


def _local_time(iso: str | None, tz) -> str:
    """An ISO 8601 time (any offset) as the hub's local `YYYY-MM-DD HH:MM`."""
    if not iso:
        return "-"
    try:
        ts = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    return (ts.astimezone(tz) if ts.tzinfo else ts).strftime("%Y-%m-%d %H:%M")


def _known_text(key: str, fallback: str, lang: str) -> str:
    """A catalog text when there is one (codes other parts of the hub may add later)."""
    from milk_common.i18n import has_text
    return translate("dashboard", key, lang) if has_text("dashboard", key) else fallback


def solids_reference(pricing: Pricing | None) -> tuple[Decimal, str]:
    """The TS line of the chart and its label's key: the pricing's reference TS (the TS
    its base price is for), else the buyers' usual minimum, DEFAULT_REFERENCE_SOLIDS_PCT.
    Not the pricing's `[limits] min_solids_pct`: that is where the sanity checks start
    to doubt a reading (8 % by default), no minimum a producer must reach."""
    reference = getattr(pricing.scheme, "reference_solids_pct", None) if pricing else None
    if reference is not None:
        return reference, "chart.solids_reference"
    return DEFAULT_REFERENCE_SOLIDS_PCT, "chart.solids_min"

"""The console's web application (Starlette): one page, its events, one
handler per operator action.

    GET  /              the page (server-rendered with the current state)
    GET  /state         the current state as JSON (what the page shows)
    GET  /events        server-sent events: `state` (everything) on a change,
                        `weight` (the live weight) on each scale frame
    POST /api/producer  {code}                  producer code (typed, pad, RFID)
    POST /api/test      {test, value}           alcohol / organoleptic result
    POST /api/decide    {accept, confirmation, reason}
    POST /api/tare, /api/reprint, /api/close-shift
    POST /api/void      {seq, pin, reason}      supervisor PIN and a reason
    POST /api/tank      {tank, event}           emptied | milk_added
    POST /api/technician {act, ...}             the scale's calibration and weekly check
                        (unlock {pin}, start {first_kg, second_kg}, read, cancel,
                        check {test_kg}, lock)

Actions answer {ok, message, view}. They need the header `X-Console: 1`,
which a page of another origin cannot send without a CORS preflight that
this server never grants: a web page opened elsewhere on the Pi cannot
void a delivery through the console.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from markupsafe import Markup
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from collector_station.console import view as v
from collector_station.console.live import ConsoleLive

HERE = Path(__file__).parent
STATIC = HERE / "static"
# Without a change, the page still gets the state this often (link, tanks, ages).
REFRESH_S = 1.0
# Words the page's script needs (the rest is rendered by the template).
SCRIPT_TEXTS = ("calibrated_at", "last_checked_at", "check_due", "cal_empty", "cal_weight", "tank", "fat_label", "confirm_title", "confirm_tests", "confirm_waiting", "confirm_idle", "void_what", "shift_none",
                "shift_name", "shift_deliveries", "shift_rejected", "shift_liters", "shift_solids",
                "no_station", "reconnecting")


def _json_for_script(data: object) -> Markup:
    """JSON safe inside a <script> element (no `</script>` can end it early)."""
    text = json.dumps(data, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")
    return Markup(text)


def _icon_reader():
    cache: dict[str, Markup] = {}

    def icon(name: str) -> Markup:
        if name not in cache:
            cache[name] = Markup((STATIC / "icons" / f"{name}.svg").read_text().strip())
        return cache[name]
    return icon


def create_app(live: ConsoleLive) -> Starlette:
    station = live.station
    lang = live.lang
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    icon = _icon_reader()
    texts = {key: v.t(lang, f"script.{key}") for key in SCRIPT_TEXTS}

    def answer(ok: bool, said: str = "") -> JSONResponse:
        return JSONResponse({"ok": ok, "message": said or live.message()["text"], "view": live.view()})

    async def page(request: Request) -> Response:
        state = await run_in_threadpool(live.view)
        return templates.TemplateResponse(request, "console.html", {
            "lang": lang, "t": lambda key, **kw: v.t(lang, key, **kw), "icon": icon,
            "view": state, "view_json": _json_for_script(state),
            "texts_json": _json_for_script(texts), "static": "/static",
            "center": station.config.center, "station": station.config.station})

    async def state(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(live.view))

    async def events(request: Request) -> Response:
        sub = live.subscribe()

        async def stream():
            try:
                yield "retry: 1000\n\n"
                last = json.dumps(await run_in_threadpool(live.view), ensure_ascii=False)
                yield f"event: state\ndata: {last}\n\n"
                last_weight = ""
                loop = asyncio.get_running_loop()
                built = loop.time()
                while not live.closed.is_set():
                    try:
                        await asyncio.wait_for(sub.event.wait(), REFRESH_S)
                    except TimeoutError:
                        pass
                    sub.event.clear()
                    dirty, sub.dirty = sub.dirty, set()
                    # Link, tanks and ages change without telling: look at least every REFRESH_S,
                    # even while scale frames keep waking the stream.
                    if "state" in dirty or loop.time() - built >= REFRESH_S:
                        built = loop.time()
                        now = json.dumps(await run_in_threadpool(live.view), ensure_ascii=False)
                        if now != last:
                            last = now
                            yield f"event: state\ndata: {now}\n\n"
                            continue
                    # A frame, or a wake-up whose mark raced the swap above: sent when it shows something new.
                    weight = json.dumps(live.weight(), ensure_ascii=False)
                    if weight != last_weight:
                        last_weight = weight
                        yield f"event: weight\ndata: {weight}\n\n"
            finally:
                live.unsubscribe(sub)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    def action(handler):
        async def endpoint(request: Request) -> Response:
            if request.headers.get("x-console") != "1":
                return JSONResponse({"ok": False, "message": "forbidden"}, status_code=403)
            try:
                body = await request.json() if await request.body() else {}
            except ValueError:
                body = None
            if not isinstance(body, dict):
                return JSONResponse({"ok": False, "message": v.t(lang, "error.bad_request")},
                                    status_code=400)
            return await run_in_threadpool(handler, body)
        return endpoint

    def producer(body: dict) -> Response:
        code = str(body.get("code") or "").strip()
        return answer(station.enter_producer(code))

    def test(body: dict) -> Response:
        name = body.get("test")
        if name not in ("alcohol", "organoleptic") or not isinstance(body.get("value"), bool):
            return answer(False, live.say("error.bad_request"))
        if station.flow.producer is None:
            return answer(False, live.say("error.no_producer"))
        station.record_test(name, body["value"])
        return answer(True)

    def decide(body: dict) -> Response:
        accept = body.get("accept")
        number = body.get("confirmation")
        reason = body.get("reason")
        if not isinstance(accept, bool) or (number is not None and not isinstance(number, int)) \
                or (reason is not None and reason not in v.OPERATOR_REJECT_REASONS):
            return answer(False, live.say("error.bad_request"))
        if station.flow.producer is None:
            return answer(False, live.say("error.no_producer"))
        return answer(station.decide(accept, "", number, reason=reason))

    def tare(body: dict) -> Response:
        return answer(station.tare())

    def reprint(body: dict) -> Response:
        return answer(station.reprint_last())

    def close_shift(body: dict) -> Response:
        summary = station.close_shift()
        if summary is None:
            return answer(False, live.say("error.no_shift"))
        return answer(True)

    def void(body: dict) -> Response:
        seq = body.get("seq")
        pin = str(body.get("pin") or "")
        reason = str(body.get("reason") or "").strip()
        if not isinstance(seq, int) or seq < 1:
            return answer(False, live.say("error.bad_request"))
        result = station.void(str(seq), reason, pin=pin)
        return answer(result is not None)

    screen = live.technician

    def technician(body: dict) -> Response:
        """The technician's screen: unlock, start, read, cancel, check, lock."""
        act = body.get("act")
        if act == "unlock":
            return answer(screen.unlock(str(body.get("pin") or "")))
        if act == "lock":
            screen.lock()
            return answer(True)
        if act == "start":
            return answer(screen.start(body.get("first_kg"), body.get("second_kg")))
        if act == "read":
            return answer(screen.read())
        if act == "cancel":
            screen.cancel()
            return answer(True)
        if act == "check":
            return answer(screen.check(body.get("test_kg")))
        return answer(False, live.say("error.bad_request"))

    def tank(body: dict) -> Response:
        event = body.get("event")
        if event not in ("emptied", "milk_added"):
            return answer(False, live.say("error.bad_request"))
        return answer(station.tank_event(str(body.get("tank") or ""), emptied=event == "emptied"))

    routes = [
        Route("/", page),
        Route("/state", state),
        Route("/events", events),
        Route("/api/producer", action(producer), methods=["POST"]),
        Route("/api/test", action(test), methods=["POST"]),
        Route("/api/decide", action(decide), methods=["POST"]),
        Route("/api/tare", action(tare), methods=["POST"]),
        Route("/api/reprint", action(reprint), methods=["POST"]),
        Route("/api/close-shift", action(close_shift), methods=["POST"]),
        Route("/api/void", action(void), methods=["POST"]),
        Route("/api/tank", action(tank), methods=["POST"]),
        Route("/api/technician", action(technician), methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
    ]
    return Starlette(routes=routes)

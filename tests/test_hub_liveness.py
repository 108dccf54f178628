"""Is the hub alive? Seen at the bench and on the officers' dashboard.

The broker answering says nothing about the hub behind it: with
`milk-hub ingest` stopped, stations still reach the broker and the hub's
last status file still said `connected: true`. These tests stop a real hub
and look at what the operator's console (real Chromium, 800x480) and the
dashboard then say.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from devtools.servers import REPO
from hub.web.queries import HEARTBEAT_STALE_S, hub_alive
from milk_common.contract.topics import HUB_STATUS_SUBSCRIPTION
from milk_common.mqtt import stop_loop

from .conftest import wait_until
from .test_console_browser import Bench, browser, tid, wait_attr  # noqa: F401 (the fixture)
from .test_dashboard_browser import PERIOD, logged_in, site  # noqa: F401 (the fixture)

NOW = datetime(2025, 3, 14, 12, 0, 0, tzinfo=timezone.utc)   # any fixed time: no test reads the clock's date


def status_of(hub) -> dict:
    path = Path(hub.config_path).parent / "hub-data" / "ingest-status.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def clear_retained_hubs(servers) -> None:
    """Other tests' hubs left their retained status: this test decides who is online."""
    client = servers.mqtt_client()
    stale: list[str] = []
    client.on_message = lambda c, u, m: stale.append(m.topic) if m.retain and m.payload else None
    client.connect("127.0.0.1", servers.mqtt_port)
    client.loop_start()
    try:
        client.subscribe(HUB_STATUS_SUBSCRIPTION, qos=1)
        time.sleep(0.5)
        for topic in stale:
            client.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)
    finally:
        stop_loop(client)
        client.disconnect()


# -- the bench --------------------------------------------------------------------
@pytest.mark.servers
def test_the_hub_stopped_turns_the_link_tile_to_hub_down(tmp_path, servers, unique, hub, browser):
    clear_retained_hubs(servers)
    bench = Bench(tmp_path, servers, unique)
    # Only the real hub speaks here: the bench's stand-in hub says nothing.
    bench.hub.publish(bench.hub_topic, b"", qos=1, retain=True).wait_for_publish(5)
    context = browser.new_context(viewport={"width": 800, "height": 480}, locale="es-PE")
    page = context.new_page()
    try:
        page.goto(bench.console.url)
        # The broker answers but no hub ever said online: not `online`.
        wait_attr(page, "link", "data-state", "hub-down", 20_000)
        hub.start()
        wait_attr(page, "link", "data-state", "online", 30_000)
        assert "en línea" in tid(page, "link").inner_text()
        hub.stop()
        started = time.monotonic()
        wait_attr(page, "link", "data-state", "hub-down", 30_000)
        assert time.monotonic() - started < 30
        words = tid(page, "link").inner_text()
        assert "la central (hub) no responde" in words and "nada pendiente" in words
        colour = page.evaluate("getComputedStyle(document.querySelector(\"[data-testid='link']\")).backgroundColor")
        assert colour == "rgb(179, 92, 0)"
        assert page.evaluate("getComputedStyle(document.querySelector("
                             "\"[data-testid='link'] .icon.hubdown\")).display") != "none"
        page.screenshot(path=str(REPO / "docs" / "console-hub-down.png"))
        # Without the broker the tile says so, not `hub-down`.
        bench.relay.cut()
        wait_attr(page, "link", "data-state", "offline", 20_000)
    finally:
        context.close()
        bench.stop()


# -- the hub's own status file ------------------------------------------------------
@pytest.mark.servers
def test_ingest_status_says_disconnected_after_a_stop_and_beats_while_running(hub):
    hub.start()
    wait_until(lambda: status_of(hub).get("connected") is True, 30, message="hub connected")
    first = status_of(hub)["heartbeat"]
    assert datetime.fromisoformat(first).utcoffset() == timedelta(0)
    # Refreshed while running, well within the dashboard's 30 s.
    wait_until(lambda: status_of(hub)["heartbeat"] != first, 10, message="heartbeat refreshed")
    hub.stop()
    assert hub.proc.returncode == 0
    status = status_of(hub)
    assert status["connected"] is False
    assert status["heartbeat"] >= first


# -- the dashboard ------------------------------------------------------------------
def test_hub_alive_needs_a_fresh_heartbeat_and_connected():
    fresh = (NOW - timedelta(seconds=5)).isoformat(timespec="seconds")
    stale = (NOW - timedelta(seconds=HEARTBEAT_STALE_S + 1)).isoformat(timespec="seconds")
    assert hub_alive({"connected": True, "heartbeat": fresh}, NOW)
    assert not hub_alive({"connected": True, "heartbeat": stale}, NOW)
    assert not hub_alive({"connected": False, "heartbeat": fresh}, NOW)
    assert not hub_alive({"connected": True}, NOW)              # an ingest too old to beat
    assert not hub_alive({"connected": True, "heartbeat": "ayer"}, NOW)
    assert not hub_alive(None, NOW)                             # no file


@pytest.mark.servers
def test_dashboard_shows_the_hub_down_with_a_stale_heartbeat(site):
    status_path = site["hub_data"] / "ingest-status.json"
    kept = status_path.read_text() if status_path.exists() else None

    def hub_tile() -> tuple[str, str]:
        session, _ = logged_in(site["url"], f"/?period={PERIOD}")
        html = session.get(f"{site['url']}/?period={PERIOD}&lang=es").text
        tile = html[html.index('data-testid="hub"'):]
        state = tile.split('data-state="', 1)[1].split('"', 1)[0]
        return state, tile[:tile.index("</p>")]

    def write(connected: bool, age_s: float) -> None:
        beat = datetime.now(timezone.utc) - timedelta(seconds=age_s)   # relative: never a date
        status_path.write_text(json.dumps({"connected": connected, "backlog": 0, "stored_messages": 3,
                                           "dead_letters": 0, "heartbeat": beat.isoformat(timespec="seconds")}))
    try:
        write(True, 2)
        state, tile = hub_tile()
        assert state == "online" and "Hub: en línea" in tile
        write(True, 5 * 60)       # a killed hub: its file still says connected
        state, tile = hub_tile()
        assert state == "down" and "Hub: CAÍDO" in tile and "en línea" not in tile
        write(False, 2)           # stopped cleanly
        assert hub_tile()[0] == "down"
        status_path.unlink()      # never started here
        assert hub_tile()[0] == "down"
    finally:
        if kept is not None:
            status_path.write_text(kept)
        elif status_path.exists():
            status_path.unlink()

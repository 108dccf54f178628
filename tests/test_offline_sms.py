"""A station that cannot reach its hub texts a technician when a tank breaks
the cold chain: once per break, through a modem simulated on a pseudo-terminal
(devtools/fakemodem.py) driven by Gammu, learning the hub's reachability from
the hubs' retained liveness."""

import json
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from collector_station.offline.modem import GammuModem, SmsError, needs_unicode
from collector_station.offline.notifier import OfflineAlarm
from collector_station.offline.policy import TankBreak, sent_key, sms_due, sms_text
from collector_station.offline.reach import HubReach
from collector_station.offline.settings import AlertsConfig
from devtools.fakemodem import FakeModem

from .conftest import wait_until
from milk_common.mqtt import stop_loop

LIMA = ZoneInfo("America/Lima")
SINCE = datetime(2026, 11, 27, 6, 12, tzinfo=LIMA)
BREAK = TankBreak("t1", SINCE, 9.84)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def online(hub="h1", status="online"):
    return f"milk/v1/hubs/{hub}", {"schema": "hub_status/1", "hub": hub, "status": status,
                                   "ts": "2026-11-27T06:00:00+00:00"}


def test_the_hub_is_reachable_only_through_its_liveness():
    clock = Clock()
    reach = HubReach(clock)
    assert not reach.reachable                         # nothing heard yet
    reach.broker(True)
    assert not reach.reachable                         # a broker alone is not the hub
    reach.hub_status(*online())
    assert reach.reachable and reach.unreachable_for_s() == 0
    reach.hub_status(*online("h2", "offline"))
    assert reach.reachable                             # one hub online is enough
    clock.now += 5
    reach.hub_status(*online("h1", "offline"))         # the hub's last will
    clock.now += 60
    assert not reach.reachable and reach.unreachable_for_s() == 60
    reach.hub_status(*online())
    reach.broker(False)                                # the link drops: hub unreachable
    clock.now += 30
    assert reach.unreachable_for_s() == 30
    reach.broker(True)                                 # back: retained statuses come again
    assert not reach.reachable
    reach.hub_status(*online())
    assert reach.reachable
    reach.hub_status("milk/v1/hubs/h1", None)          # its retained status cleared: forgotten
    assert not reach.reachable
    reach.hub_status("milk/v1/hubs/h1", {"schema": "status/1", "status": "online"})
    assert not reach.reachable                         # not a hub_status/1: ignored


def test_when_an_sms_is_due():
    numbers = ["+51987654321", "+51911111111"]
    args = dict(breaks=[BREAK], numbers=numbers, failed_at={}, now_s=0, retry_s=120)
    assert sms_due(899, 900, sent=set(), **args) == []
    assert sms_due(900, 900, sent=set(), **args) == [(BREAK, n) for n in numbers]
    sent = {sent_key(BREAK, numbers[0])}
    assert sms_due(5000, 900, sent=sent, **args) == [(BREAK, numbers[1])]
    # A failed attempt waits retry_s before the next.
    failed = {sent_key(BREAK, numbers[1]): 0.0}
    assert sms_due(5000, 900, sent=sent, **{**args, "failed_at": failed, "now_s": 60}) == []
    assert sms_due(5000, 900, sent=sent, **{**args, "failed_at": failed, "now_s": 121}) == [(BREAK, numbers[1])]
    # A new break of the same tank is a new alert.
    later = TankBreak("t1", SINCE + timedelta(hours=5), 8.0)
    assert sms_due(5000, 900, breaks=[later], numbers=numbers[:1], sent=sent, failed_at={},
                   now_s=0, retry_s=120) == [(later, numbers[0])]


def test_the_sms_text_in_spanish_and_english():
    es = sms_text("es", center="c1", station="b1", brk=BREAK, offline_min=16, zone=LIMA)
    assert es == ("ALERTA c1/b1: tanque t1 en ruptura de frío desde 27/11 06:12 (9,8 °C). "
                  "Sin conexión con el hub hace 16 min. Revise el equipo de frío.")
    en = sms_text("en", center="c1", station="b1", brk=BREAK, offline_min=16, zone=LIMA)
    assert en.startswith("ALERT c1/b1: tank t1 cold chain broken since 27/11 06:12 (9.8 °C)")
    assert needs_unicode(es) and not needs_unicode("Tanque t1 en ruptura")


class ListModem:
    def __init__(self, fail=0):
        self.sent, self.fail = [], fail

    def send(self, number, text):
        if self.fail:
            self.fail -= 1
            raise SmsError("no signal")
        self.sent.append((number, text))


def make_alarm(tmp_path, modem, reach, breaks, clock, **config):
    shown = []
    alarm = OfflineAlarm(AlertsConfig(**{"offline_sms_after_s": 600, "sms_to": ["+51987654321"],
                                         **config}),
                         center="c1", station="b1", lang="es", zone=LIMA, reach=reach,
                         breaks=lambda: list(breaks), modem=modem,
                         db_path=tmp_path / "sms.sqlite3",
                         show=lambda key, **v: shown.append((key, v)), now=clock)
    return alarm, shown


def test_one_sms_per_break_kept_across_a_restart(tmp_path):
    clock, modem = Clock(), ListModem(fail=1)
    reach = HubReach(clock)
    breaks = [BREAK]
    alarm, shown = make_alarm(tmp_path, modem, reach, breaks, clock)
    assert alarm.tick() == []                          # offline, but not for long yet
    clock.now += 600
    assert [o.ok for o in alarm.tick()] == [False]     # no signal: said, and tried later
    assert shown[-1][0] == "sms_failed"
    clock.now += 60
    assert alarm.tick() == []
    clock.now += 60
    assert [o.ok for o in alarm.tick()] == [True]
    assert modem.sent[0][0] == "+51987654321" and "tanque t1" in modem.sent[0][1]
    for _ in range(10):                                # every minute after: nothing more
        clock.now += 60
        assert alarm.tick() == []
    alarm.close()
    alarm, _ = make_alarm(tmp_path, modem, reach, breaks, clock)
    assert alarm.tick() == [] and len(modem.sent) == 1     # restarted: still texted once
    alarm.close()


def test_no_sms_while_the_hub_hears(tmp_path):
    clock, modem = Clock(), ListModem()
    reach = HubReach(clock)
    reach.broker(True)
    reach.hub_status(*online())
    alarm, _ = make_alarm(tmp_path, modem, reach, [BREAK], clock)
    clock.now += 10_000
    assert alarm.tick() == [] and modem.sent == []
    alarm.close()


def test_without_a_modem_the_bench_is_told_once(tmp_path):
    clock = Clock()
    alarm, shown = make_alarm(tmp_path, None, HubReach(clock), [BREAK], clock)
    clock.now += 601
    alarm.tick()
    alarm.tick()
    assert [key for key, _ in shown] == ["sms_no_modem"]
    alarm.close()


def test_bad_phone_number_is_a_config_error():
    with pytest.raises(ValueError, match="not a phone number"):
        AlertsConfig(sms_to=["call the vet"])


# -- the modem on a pseudo-terminal -------------------------------------------
@pytest.fixture
def modem():
    fake = FakeModem().start()
    yield fake
    fake.stop()


def test_gammu_sends_a_long_spanish_sms_through_the_simulated_modem(modem):
    gm = GammuModem(modem.path)
    text = sms_text("es", center="c1", station="b1", brk=BREAK, offline_min=16, zone=LIMA)
    try:
        gm.send("+51987654321", text)
        assert modem.texts() == {"+51987654321": [text]}   # accents kept, parts joined
        assert any(c.startswith(b"AT+CMGS=") for c in modem.commands)
        modem.fail_sends = 1                               # the network refuses once
        with pytest.raises(SmsError):
            gm.send("+51987654321", "otra")
        gm.send("+51987654321", "otra")                     # a fresh session sends it
        assert modem.texts()["+51987654321"][-1] == "otra"
    finally:
        gm.close()


def test_fake_modem_speaks_text_mode_too(modem):
    import serial
    port = serial.Serial(modem.path, 115200, timeout=2)
    try:
        def ask(data: bytes, until: bytes) -> bytes:
            port.write(data)
            got = b""
            deadline = time.monotonic() + 5
            while until not in got and time.monotonic() < deadline:
                got += port.read(port.in_waiting or 1)
            return got
        assert b"OK" in ask(b"AT\r", b"OK")
        assert b"OK" in ask(b"AT+CMGF=1\r", b"OK")
        assert b"> " in ask(b'AT+CMGS="+51987654321"\r', b"> ")
        reply = ask(b"Tanque t1 en ruptura\x1a", b"OK\r\n")
        assert b"+CMGS: 1" in reply
        assert modem.texts() == {"+51987654321": ["Tanque t1 en ruptura"]}
        assert b"ERROR" in ask(b"AT+BOGUS\r", b"ERROR")
    finally:
        port.close()


# -- the station, end to end ---------------------------------------------------
@pytest.fixture
def bench(tmp_path):
    from collector_station.instruments.simulate import SimulatedBench
    bench = SimulatedBench(tmp_path / "bench", tanks=1, seed=9, frame_interval_s=0.01,
                           settle_s=0.05).start()
    yield bench
    bench.stop()


def test_a_station_cut_off_from_its_hub_texts_a_cold_chain_break(bench, tmp_path, modem):
    """No broker at all (the center's link is down): after offline_sms_after_s
    with the tank in break, one SMS; none more while the break lasts, not
    after a restart either; a new break after recovery texts again."""
    from devtools.servers import free_port

    from .test_station_service import AUTOMATIC, make_station
    alerts = f"""
[alerts]
offline_sms_after_s = 0.5
check_interval_s = 0.1
sms_to = ["+51987654321"]
modem_port = "{modem.path}"
"""

    def station_up():
        station, shown = make_station(bench, tmp_path, free_port(), "c1", extra=AUTOMATIC + alerts)
        station.config = station.config.model_copy(update={
            "thermometers": station.config.thermometers.model_copy(update={"interval_s": 3600})})
        return station.start(), shown

    station, shown = station_up()
    tank = next(iter(station.probes))
    t0 = datetime.now(UTC) - timedelta(hours=3)
    try:
        station.coldchain.milk_added(tank, t0)
        station.coldchain.sample(tank, t0 + timedelta(minutes=61), 12.5)   # missed the 1 h check
        assert station.coldchain.state(tank) == "break"
        texts = wait_until(lambda: modem.texts().get("+51987654321"), 60, message="the SMS")
        text = texts[0]
        assert text.startswith(f"ALERTA c1/s1: tanque {tank} en ruptura de frío desde ")
        assert "(12,5 °C)" in text
        wait_until(lambda: any("SMS enviado a +51987654321" in line for line in shown), 10)
        time.sleep(1.0)                                   # ten more checks: nothing more
        assert len(modem.texts()["+51987654321"]) == 1
    finally:
        station.stop()
    station, shown = station_up()                         # restarted mid-break
    try:
        time.sleep(1.5)
        assert len(modem.texts()["+51987654321"]) == 1
        station.coldchain.sample(tank, t0 + timedelta(minutes=90), 3.5)   # cold again
        station.coldchain.sample(tank, t0 + timedelta(minutes=100), 9.0)
        station.coldchain.sample(tank, t0 + timedelta(minutes=120), 9.0)  # 20 min warm: a new break
        assert station.coldchain.state(tank) == "break"
        wait_until(lambda: len(modem.texts().get("+51987654321", [])) == 2, 60,
                   message="a second SMS for the second break")
    finally:
        station.stop()


@pytest.mark.servers
def test_the_station_hears_the_hubs_retained_liveness(servers, unique, tmp_path):
    """Through the real broker: the hub's retained `online` makes it reachable,
    its last will `offline` makes it unreachable again."""
    from collector_station.outbox.publisher import OutboxPublisher
    from collector_station.outbox.store import Outbox
    from milk_common.contract import hub_status_payload
    from milk_common.contract.topics import HUB_STATUS_SUBSCRIPTION, hub_status_topic

    hub = servers.mqtt_client()
    stale = []
    hub.on_message = lambda c, u, m: stale.append(m.topic) if m.retain and m.payload else None
    hub.connect("127.0.0.1", servers.mqtt_port)
    hub.loop_start()
    hub.subscribe(HUB_STATUS_SUBSCRIPTION, qos=1)
    time.sleep(0.5)
    for topic in stale:          # other tests' hubs: this test decides who is online
        hub.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)

    access = servers.provision_station(unique, "s1")
    outbox = Outbox(tmp_path / "station.sqlite3")
    publisher = OutboxPublisher(outbox, center=unique, station="s1", host="127.0.0.1",
                                port=servers.mqtt_port, access=access)
    reach = HubReach()
    publisher.on_hub_status, publisher.on_broker = reach.hub_status, reach.broker
    publisher.start()
    try:
        wait_until(publisher.connected.is_set, 10, message="station connected")
        assert not reach.reachable
        hub.publish(hub_status_topic(f"hub-{unique}"),
                    json.dumps(hub_status_payload(f"hub-{unique}", "online")), qos=1,
                    retain=True).wait_for_publish(5)
        wait_until(lambda: reach.reachable, 10, message="hub online heard")
        hub.publish(hub_status_topic(f"hub-{unique}"),
                    json.dumps(hub_status_payload(f"hub-{unique}", "offline")), qos=1,
                    retain=True).wait_for_publish(5)
        wait_until(lambda: not reach.reachable, 10, message="hub offline heard")
    finally:
        publisher.stop()
        outbox.close()
        hub.publish(hub_status_topic(f"hub-{unique}"), b"", qos=1, retain=True).wait_for_publish(5)
        stop_loop(hub)
        hub.disconnect()


def test_sms_test_command_through_the_simulated_modem(tmp_path, modem, capsys):
    from collector_station.cli import main
    from collector_station.instruments.simulate import SimulatedBench
    bench = SimulatedBench(tmp_path / "bench", tanks=1, seed=1)
    path = tmp_path / "station.toml"
    path.write_text(bench.station_config_text(center="c1", station="s1", mqtt_port=1,
                                              data_dir=str(tmp_path / "data"))
                    + f'\n[alerts]\nmodem_port = "{modem.path}"\nsms_to = ["+51987654321"]\n')
    assert main(["sms-test", "--config", str(path)]) == 0
    assert capsys.readouterr().out.strip() == "SMS de prueba enviado a +51987654321."
    assert modem.texts() == {"+51987654321": ["Prueba de SMS de la estación c1/s1: el módem funciona."]}
    assert main(["sms-test", "--config", str(path), "--to", "llame"]) == 2
    assert "not a phone number" in capsys.readouterr().err

"""Time you can trust: the decision, the probes' readings, and the bench
refusing to record while nothing vouches for the clock."""

import json
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from collector_station.clock import (
    FLOOR,
    ClockConfig,
    ClockFacts,
    ClockGuard,
    ClockProbes,
    chrony_synced,
    judge,
    rtc_state,
    timedatectl_synced,
)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("require, facts, trusted, basis", [
    ("off", ClockFacts(datetime(1970, 1, 1, tzinfo=UTC), False), True, "off"),
    ("auto", ClockFacts(datetime(1970, 1, 1, tzinfo=UTC), True), False, "before_floor"),
    ("auto", ClockFacts(NOW, True, "chrony"), True, "synced"),
    ("always", ClockFacts(NOW, True, "timedatectl"), True, "synced"),
    ("always", ClockFacts(NOW, None, "", "ok"), True, "rtc"),
    ("auto", ClockFacts(NOW, False, "chrony", "ok"), True, "rtc"),       # offline boot, RTC vouches
    ("auto", ClockFacts(NOW, False, "chrony"), False, "unsynced"),
    ("auto", ClockFacts(NOW, False, "chrony", "dead"), False, "unsynced"),
    ("auto", ClockFacts(NOW, None, "", "absent"), False, "rtc_absent"),
    ("auto", ClockFacts(NOW, None, "", "dead"), False, "rtc_dead"),
    ("auto", ClockFacts(NOW, None, "", "disagrees"), False, "rtc_disagrees"),
    ("auto", ClockFacts(NOW), True, "unchecked"),                         # nothing can tell: config
    ("always", ClockFacts(NOW), False, "no_proof"),
])
def test_the_decision(require, facts, trusted, basis):
    verdict = judge(require, facts)
    assert (verdict.trusted, verdict.basis) == (trusted, basis)
    assert verdict.status == (basis if trusted else f"untrusted:{basis}")


def test_reading_chrony_and_timedatectl():
    synced = "Reference ID    : C0A80001 (ntp)\nStratum         : 3\nLeap status     : Normal\n"
    assert chrony_synced(synced) is True
    assert chrony_synced("Reference ID    : 00000000 ()\nLeap status     : Not synchronised\n") is False
    assert chrony_synced("506 Cannot talk to daemon\n") is None
    assert timedatectl_synced("yes\n") is True and timedatectl_synced("no\n") is False
    assert timedatectl_synced("") is None


def test_rtc_state():
    now = NOW.timestamp()
    assert rtc_state(int(now) - 3, now, 10) == "ok"
    assert rtc_state(int(now) - 3600, now, 10) == "disagrees"
    assert rtc_state(946684800, now, 10) == "dead"            # 2000-01-01: the DS3231's reset
    assert rtc_state(None, now, 10) == "dead"
    assert rtc_state(int(now), now, 10, present=False) == "absent"


class FakeRun:
    """subprocess.run for the probes: answers per tool, or raises."""

    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def __call__(self, args, **kwargs):
        self.calls.append((args, kwargs))
        answer = self.answers[args[0]]
        if isinstance(answer, Exception):
            raise answer
        code, out = answer
        return subprocess.CompletedProcess(args, code, out, "")


def probes(tmp_path, answers, tools=("chronyc", "timedatectl"), rtc_epoch=None, **config):
    rtc_dir = tmp_path / "rtc0"
    if rtc_epoch is not None:
        rtc_dir.mkdir(parents=True)
        (rtc_dir / "since_epoch").write_text(f"{rtc_epoch}\n")
    return ClockProbes(ClockConfig(**config), run=FakeRun(answers),
                       which=lambda t: t if t in tools else None, rtc_dir=rtc_dir,
                       now=lambda: NOW.timestamp())


def test_probes_ask_chrony_first_with_a_timeout(tmp_path):
    p = probes(tmp_path, {"chronyc": (0, "Leap status     : Normal\n"), "timedatectl": (0, "no\n")},
               probe_timeout_s=2.5)
    facts = p.facts()
    assert (facts.sync, facts.sync_source, facts.rtc) == (True, "chrony", "none")
    assert p.run.calls[0][1]["timeout"] == 2.5


def test_probes_fall_back_when_a_tool_cannot_answer(tmp_path):
    # timedatectl without systemd (a container) exits 1: that says nothing.
    p = probes(tmp_path, {"chronyc": subprocess.TimeoutExpired("chronyc", 3),
                          "timedatectl": (1, "")})
    assert p.facts().sync is None
    p = probes(tmp_path, {"timedatectl": (0, "no\n")}, tools=("timedatectl",))
    assert (p.facts().sync, p.facts().sync_source) == (False, "timedatectl")


def test_probes_read_the_rtc_from_sysfs(tmp_path):
    ok = probes(tmp_path, {}, tools=(), rtc_epoch=int(NOW.timestamp()) + 2, rtc="ds3231")
    assert ok.facts().rtc == "ok" and judge("always", ok.facts()).basis == "rtc"
    missing = probes(tmp_path / "x", {}, tools=(), rtc="ds3231")
    assert missing.facts().rtc == "absent"


class Facts:
    """Swappable probes for a running station."""

    def __init__(self, sync):
        self.sync = sync

    def facts(self):
        return ClockFacts(datetime.now(UTC), self.sync, "chrony" if self.sync is not None else "")


def test_guard_says_when_the_verdict_turns():
    seen = []
    fake = Facts(False)
    guard = ClockGuard(ClockConfig(require_sync="auto"), fake, on_change=seen.append)
    assert not guard.trusted
    guard.check()                     # the same verdict again: no news
    fake.sync = True
    guard.check()
    assert [v.status for v in seen] == ["untrusted:unsynced", "synced"]


def test_a_probe_that_breaks_keeps_the_bench_closed():
    class Broken:
        def facts(self):
            raise RuntimeError("boom")
    assert ClockGuard(ClockConfig(), Broken()).check().basis == "no_proof"


def test_simulated_bench_config_turns_the_check_off(tmp_path):
    from collector_station.config import load_station_config
    from collector_station.instruments.simulate import SimulatedBench
    bench = SimulatedBench(tmp_path / "bench", tanks=1, seed=1)
    path = tmp_path / "station.toml"
    path.write_text(bench.station_config_text(center="c1", station="s1", mqtt_port=1,
                                              data_dir=str(tmp_path / "data")))
    assert load_station_config(path).clock.require_sync == "off"


# -- at the bench ------------------------------------------------------------
@pytest.fixture
def bench(tmp_path):
    from collector_station.instruments.simulate import SimulatedBench
    bench = SimulatedBench(tmp_path / "bench", tanks=1, seed=5, frame_interval_s=0.01,
                           settle_s=0.05).start()
    yield bench
    bench.stop()


def test_the_bench_refuses_to_record_on_an_unsynchronised_clock(bench, tmp_path):
    from devtools.servers import free_port

    from .test_station_service import AUTOMATIC, make_station
    station, shown = make_station(bench, tmp_path, free_port(), "c1", extra=AUTOMATIC)
    fake = Facts(False)
    station.clock_guard = ClockGuard(ClockConfig(require_sync="always"), fake,
                                     on_change=station._clock_changed)
    station.start()
    assert station.wait_ready()
    try:
        # Refused at the first key press, in Spanish, and nothing is recorded.
        assert station.enter_producer("p001") is False
        assert any(line.startswith("NO SE REGISTRA: el reloj de la estación no es confiable "
                                   "(no sincronizado por red)") for line in shown)
        assert station.publisher.status_extra == {"clock": "untrusted:unsynced"}
        assert station.outbox.last_seq() == 0
        fake.sync = True
        station.clock_guard.check()
        assert any(line.startswith("Reloj confiable (sincronizado por red)") for line in shown)
        assert station.enter_producer("p001") is True
        # The clock is lost mid-delivery: the record waits, then goes in once it is back.
        fake.sync = False
        station.clock_guard.check()
        bench.scale.place(20.62)
        bench.densimeter.measure(1.031, 15.0)
        assert station.wait_for_delivery(0, timeout_s=2) is None
        assert station.outbox.last_seq() == 0
        fake.sync = True
        station.clock_guard.check()
        delivery = station.wait_for_delivery(0, timeout_s=10)
        assert delivery is not None and delivery["producer"] == "p001"
        assert abs(datetime.fromisoformat(delivery["ts"]) - datetime.now(UTC)) < timedelta(minutes=1)
    finally:
        station.stop()
    assert FLOOR < datetime.now(UTC)


def test_the_clock_command_says_what_the_station_would_do(tmp_path, capsys):
    from collector_station.cli import main
    from collector_station.instruments.simulate import SimulatedBench
    bench = SimulatedBench(tmp_path / "bench", tanks=1, seed=1)
    path = tmp_path / "station.toml"
    base = bench.station_config_text(center="c1", station="s1", mqtt_port=1,
                                     data_dir=str(tmp_path / "data"))
    path.write_text(base)
    assert main(["clock", "--config", str(path)]) == 0
    assert capsys.readouterr().out.startswith("Reloj confiable (comprobación desactivada)")
    # An RTC promised but not there: refused, exit 1, and said why.
    path.write_text(base.replace('require_sync = "off"', 'require_sync = "auto"\n'
                                 f'rtc = "ds3231"\nrtc_dir = "{tmp_path / "no-rtc"}"'))
    assert main(["clock", "--config", str(path), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "untrusted:rtc_absent" and report["rtc"] == "absent"

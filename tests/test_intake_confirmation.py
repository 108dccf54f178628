"""The frozen confirmation and the scale's fault notices: pure intake logic.

What the operator is shown before ACCEPT is what is recorded: lifting the
can keeps it, a different stable weight or a new analysis replaces it (and
drops an ACCEPT given for the old values). A scale fault is said once until
it clears; a can lifted off a swinging platform is no fault at all.
"""

from decimal import Decimal

from collector_station.instruments.protocols import Analysis, TimedAnalysis, Weight
from collector_station.instruments.stability import FaultNotice, StabilityTracker
from collector_station.intake.flow import AcceptanceRules, IntakeFlow

D = Decimal
CONFIRM = AcceptanceRules(alcohol_test="off", organoleptic="off", confirm=True)


def reading(n, density="1.031", received=0.0):
    return TimedAnalysis(Analysis(density_g_ml=D(density), temp_c=D("15")), received, n)


def flow_waiting_for_decision(kg="20.00", analysis=None):
    flow = IntakeFlow(densimeter=True, rules=CONFIRM, weight_tolerance_kg=D("0.02"))
    flow.enter_producer("p001")
    step = flow.next_step("stable", D(kg), analysis or reading(0), 1.0)
    assert step.name == "wait_decision"
    return flow, step.confirmation


def test_accept_records_the_frozen_values_after_the_can_is_lifted():
    flow, shown = flow_waiting_for_decision()
    assert shown.weight_kg == D("20.00") and shown.analysis.number == 0 and not shown.replaced
    # The can is lifted and swings: nothing changes on the confirmation.
    for state, kg in (("moving", None), ("empty", None), ("moving", None)):
        step = flow.next_step(state, kg, reading(0), 2.0)
        assert step.name == "wait_decision" and step.confirmation is shown
    assert flow.decide(True, confirmation=shown.number)
    step = flow.next_step("empty", None, reading(0), 3.0)
    assert step.name == "record" and step.accepted
    assert step.confirmation.weight_kg == D("20.00") and step.confirmation.analysis.number == 0


def test_drift_within_the_tolerance_keeps_the_confirmation():
    flow, shown = flow_waiting_for_decision()
    step = flow.next_step("stable", D("20.01"), reading(0), 2.0)
    assert step.confirmation is shown


def test_a_different_stable_weight_replaces_the_confirmation_and_drops_the_accept():
    flow, shown = flow_waiting_for_decision()
    assert flow.decide(True, confirmation=shown.number)
    step = flow.next_step("stable", D("8.49"), reading(0), 2.0)
    assert step.name == "wait_decision", "ACCEPT of the old values must not record the new"
    new = step.confirmation
    assert new.replaced and new.number == shown.number + 1 and new.weight_kg == D("8.49")
    # An ACCEPT naming the old confirmation is refused; naming the new one records it.
    assert not flow.decide(True, confirmation=shown.number)
    assert flow.decide(True, confirmation=new.number)
    step = flow.next_step("stable", D("8.49"), reading(0), 2.1)
    assert step.name == "record" and step.confirmation.weight_kg == D("8.49")


def test_a_new_analysis_replaces_the_confirmation():
    flow, shown = flow_waiting_for_decision()
    flow.decide(True)
    step = flow.next_step("empty", None, reading(1, "1.0290", received=2.0), 2.0)
    assert step.name == "wait_decision" and step.confirmation.replaced
    assert step.confirmation.analysis.number == 1
    assert step.confirmation.weight_kg == D("20.00")      # the weight shown before stays


def test_accept_before_any_values_are_shown_is_refused():
    flow = IntakeFlow(densimeter=True, rules=CONFIRM)
    flow.enter_producer("p001")
    assert flow.decide(True) is False
    assert flow.next_step("stable", D("20"), reading(0), 1.0).name == "wait_decision"
    # Rejecting needs no values: milk may be turned away before weighing.
    assert flow.decide(False, "olor") is True
    step = flow.next_step("empty", None, reading(0), 2.0)
    assert step.name == "record" and not step.accepted and step.confirmation is not None


def test_a_new_producer_drops_the_confirmation():
    flow, shown = flow_waiting_for_decision()
    flow.enter_producer("p002")
    assert flow.confirmation is None
    assert flow.decide(True, confirmation=shown.number) is False


def test_without_confirmation_the_flow_records_at_once():
    flow = IntakeFlow(densimeter=True, rules=AcceptanceRules(alcohol_test="off", confirm=False))
    flow.enter_producer("p001")
    step = flow.next_step("stable", D("20"), reading(0), 1.0)
    assert step.name == "record" and step.confirmation is None


def test_fault_notice_says_a_fault_once_until_it_clears():
    notice = FaultNotice(clear_s=2.0)
    said = []
    # An overload flapping with good frames for 10 s: one notice, not one per flap.
    for i in range(101):         # ends on a fault frame
        t = i * 0.1
        event = notice.update("overload" if i % 3 else None, t)
        if event:
            said.append(event)
    assert said == [("fault", "overload")]
    # Cleared for 2 s: said once; a new fault after that is said again.
    assert notice.update(None, 20.0) is None
    assert notice.update(None, 22.0) == ("cleared", "overload")
    assert notice.update(None, 23.0) is None
    assert notice.update("error", 24.0) == ("fault", "error")


def test_lifting_a_swinging_can_never_reads_as_a_fault():
    """The simulator's lifted can: noise of ±0.3 kg around zero, unstable."""
    import random
    rng = random.Random(7)
    tracker = StabilityTracker(0.3, D("0.02"), D("0.5"), D("300"))
    notice = FaultNotice()
    tracker.update(Weight(D("20.00"), True), 0.0)
    for i in range(200):
        kg = D(str(round(rng.uniform(-0.3, 0.3), 2)))
        state = tracker.update(Weight(kg, False), 0.05 * i)
        assert state == "empty"
        assert notice.update(tracker.fault_reason if state == "fault" else None, 0.05 * i) is None


# -- the station: what the keypad face shows is what is recorded -------------------
def test_station_records_the_values_shown_even_when_the_instruments_change(tmp_path):
    from collector_station.config import load_station_config
    from collector_station.instruments.simulate import SimulatedBench
    from collector_station.station import Station

    from .conftest import wait_until

    bench = SimulatedBench(tmp_path / "bench", seed=4, frame_interval_s=0.01, settle_s=0.05).start()
    path = tmp_path / "station.toml"
    path.write_text(bench.station_config_text(center="c1", station="s1", mqtt_port=1,
                                              data_dir=str(tmp_path / "data"), stable_window_s=0.05)
                    + '\n[acceptance]\nalcohol_test = "off"\n\n[registry]\nrequire_known = false\n'
                    + '\n[console]\nenabled = false\n')
    shown = []
    station = Station(load_station_config(path), display=shown.append, printer=lambda t: None).start()
    try:
        assert station.wait_ready()
        station.enter_producer("p001")
        assert station.decide(True) is False                 # nothing shown yet: refused, said
        assert any("Todavía no hay valores" in m for m in shown)
        bench.scale.place(20.62)
        bench.densimeter.measure(1.031, 15.0)
        first = station.wait_confirmation(5)
        assert first["weight_kg"] == 20.62 and first["solids_pct"] is not None
        # A new analysis arrives while the operator decides: the values are replaced, and said.
        bench.densimeter.measure(1.0290, 15.0)
        wait_until(lambda: station.confirmation and station.confirmation["number"] != first["number"],
                   5, 0.01, "the confirmation replaced")
        second = station.confirmation
        assert second["replaced"] and second["solids_pct"] != first["solids_pct"]
        assert any("Valores nuevos" in m for m in shown)
        # The operator's ACCEPT of what they saw before is refused; the can is lifted.
        assert station.decide(True, confirmation=first["number"]) is False
        bench.scale.remove()
        wait_until(lambda: station.scale.state == "empty", 5, 0.01)
        assert station.decide(True, confirmation=second["number"]) is True
        record = station.wait_for_delivery(0, 5)
        assert record is not None
        for key in ("weight_kg", "liters", "solids_pct", "density_15c"):
            assert record[key] == second[key], key
    finally:
        station.stop()
        bench.stop()

"""MQTT topics: the one place the topic root and layout are written.

    milk/v1/{center}/{station}/delivery        delivery/1, QoS 1
    milk/v1/{center}/{station}/tank/{tank}     tank/1, QoS 1
    milk/v1/{center}/{station}/coldchain       coldchain/1, QoS 1
    milk/v1/{center}/{station}/shift           shift/1, QoS 1
    milk/v1/{center}/{station}/status          status/1, retained (last will: offline)
    milk/v1/{center}/registry                  registry/1, retained, hub -> stations
    milk/v1/alerts/{center}                    alerts/1, retained, hub -> technicians
    milk/v1/{center}/{station}/replay          replay/1, QoS 1, hub -> station (docs/recovery.md)
    milk/v1/hubs/{hub_client_id}               hub_status/1, retained (last will: offline)
"""

from __future__ import annotations

import re
from typing import NamedTuple

TOPIC_ROOT = "milk/v1"

# The kinds a station publishes under its own prefix.
STATION_KINDS = ("delivery", "tank", "coldchain", "status", "shift")

_STATION_TOPIC = re.compile(
    r"^" + re.escape(TOPIC_ROOT) + r"/([a-z0-9_-]{1,32})/([a-z0-9_-]{1,32})/"
    r"(delivery|tank|coldchain|status|shift)(?:/([a-z0-9_-]{1,32}))?$")


class StationTopic(NamedTuple):
    center: str
    station: str
    kind: str
    tank: str | None


def station_topic(center: str, station: str, *rest: str) -> str:
    """`milk/v1/{center}/{station}/...`: where a station publishes."""
    return "/".join((TOPIC_ROOT, center, station) + rest)


def registry_topic(center: str) -> str:
    return f"{TOPIC_ROOT}/{center}/registry"


def alerts_topic(center: str) -> str:
    return f"{TOPIC_ROOT}/alerts/{center}"


def replay_topic(center: str, station: str) -> str:
    """Where the hub asks one station to re-send records (replay/1)."""
    return station_topic(center, station, "replay")


def hub_status_topic(hub_id: str) -> str:
    """A hub's retained liveness (hub_status/1); its last will says offline."""
    return f"{TOPIC_ROOT}/hubs/{hub_id}"


# What a station subscribes to for every hub's liveness.
HUB_STATUS_SUBSCRIPTION = f"{TOPIC_ROOT}/hubs/+"


# What the hub's ingest subscribes to (every station of every center).
HUB_SUBSCRIPTIONS = tuple(f"{TOPIC_ROOT}/+/+/{kind}" + ("/+" if kind == "tank" else "")
                          for kind in STATION_KINDS)


# The kinds several hubs may share (`$share/{group}/...`, docs/scaling.md):
# each message needs one hub. Status stays unshared (retained, and Mosquitto
# sends no retained message to a shared subscription); cold-chain changes
# stay unshared so the hub running the alerts sees every one.
SHARED_KINDS = ("delivery", "tank", "shift")


def hub_subscriptions(shared_group: str | None = None) -> tuple[str, ...]:
    """The hub's subscriptions; with a group, the shareable ones as
    MQTT 5 shared subscriptions `$share/{group}/{filter}`."""
    if not shared_group:
        return HUB_SUBSCRIPTIONS
    return tuple(f"$share/{shared_group}/{sub}" if sub.split("/")[4] in SHARED_KINDS else sub
                 for sub in HUB_SUBSCRIPTIONS)


def parse_station_topic(topic: str) -> StationTopic | None:
    """The parts of a station topic, or None for anything else (a tank topic
    needs its tank level; no other kind has one)."""
    match = _STATION_TOPIC.match(topic)
    if not match:
        return None
    parts = StationTopic(*match.groups())
    if (parts.kind == "tank") != (parts.tank is not None):
        return None
    return parts

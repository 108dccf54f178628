"""Identifier rules shared by the station, the hub and their files.

Centers, stations and tanks become MQTT topic levels and InfluxDB tags, so
they are lower-case and short. Producer codes are typed at the bench and
printed on receipts: letters and digits, either case, and never one of the
keypad's command words (the bench would read `ap` as "alcohol pass").
"""

from __future__ import annotations

import re

IDENT_PATTERN = r"^[a-z0-9_-]{1,32}$"
PRODUCER_PATTERN = r"^[A-Za-z0-9_-]{1,32}$"
RECORD_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
HASH_PATTERN = r"^[0-9a-f]{64}$"
# A station database's sequence epoch (docs/recovery.md): made once when the
# database is created, so a reinstalled station's seq 1 is not a gap or a reuse.
EPOCH_PATTERN = r"^[a-z0-9]{8,32}$"

IDENT = re.compile(IDENT_PATTERN)
PRODUCER_CODE = re.compile(PRODUCER_PATTERN)

# The bench keypad's command words (docs/station-config.md): a producer code
# may not be one of them.
KEYPAD_WORDS = frozenset({"ap", "af", "op", "of", "ac", "t", "p", "s", "x", "c", "q", "e", "m"})


def valid_ident(text: str) -> bool:
    return bool(IDENT.match(text))


def valid_producer_code(text: str) -> bool:
    """A code a producer may be given or typed as, at the bench and at the hub.

    Stricter than the payloads' ProducerCode pattern on purpose: a record
    already made under a code that later became a keypad word (`e` and `m`
    came with the tank commands) must still decode, but no new delivery,
    correction or advance takes one; the registry refuses them too
    (milk_common/contract/registry.py)."""
    return bool(PRODUCER_CODE.match(text)) and text.lower() not in KEYPAD_WORDS

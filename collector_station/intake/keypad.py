"""What the operator types on the bench keypad (a USB keypad is a keyboard).

One line per action. Pure parsing; the station acts on the result.

    P001          producer code: starts a delivery
    ap / af       alcohol test: passes (negative) / fails (positive)
    op / of       organoleptic check: normal / abnormal
    ac 16         titratable acidity in °D
    +             ACCEPT the delivery shown
    - [words]     REJECT it (optional words are kept as a note)
    t             tare the scale
    p             print the last receipt again
    s             close the shift (print and send its summary)
    x 12 PIN words       void delivery no. 12 (a new record; the original stays):
                         the supervisor's PIN and the reason
    c 12 P005 PIN words  delivery no. 12 belongs to producer P005 (a correction record)
    e tanque1     the tank was emptied (the buyer's pick-up)
    m tanque1     milk was poured into the tank by hand (starts its cooling window)
    q             stop the station
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from milk_common.contract.ids import KEYPAD_WORDS


@dataclass(frozen=True)
class Command:
    action: str              # producer | test | decide | tare | reprint | close_shift | void | correct | usage | quit | invalid
    args: tuple = ()


def parse_keypad(line: str) -> Command:
    words = line.strip().split()
    if not words:
        return Command("invalid", ("",))
    head, rest = words[0].lower(), words[1:]
    if head in ("ap", "af"):
        return Command("test", ("alcohol", head == "ap"))
    if head in ("op", "of"):
        return Command("test", ("organoleptic", head == "op"))
    if head == "ac":
        try:
            value = Decimal(rest[0].replace(",", "."))
            if not value.is_finite() or value <= 0:
                raise InvalidOperation
        except (IndexError, InvalidOperation):
            return Command("invalid", (line.strip(),))
        return Command("test", ("acidity", value))
    if head == "+":
        return Command("decide", (True, ""))
    if head == "-" or line.strip().startswith("-"):
        note = line.strip()[1:].strip()
        return Command("decide", (False, note))
    if head == "t" and not rest:
        return Command("tare")
    if head == "p" and not rest:
        return Command("reprint")
    if head == "s" and not rest:
        return Command("close_shift")
    if head == "q" and not rest:
        return Command("quit")
    # Voids and corrections: the supervisor's PIN (digits) then the reason.
    if head == "x" and len(rest) >= 2 and rest[0].isdigit() and rest[1].isdigit():
        return Command("void", (rest[0], " ".join(rest[2:]), rest[1]))
    if head == "c" and len(rest) >= 3 and rest[0].isdigit() and rest[2].isdigit():
        return Command("correct", (rest[0], rest[1], " ".join(rest[3:]), rest[2]))
    if head in ("x", "c"):
        return Command("usage", (head,))
    if head in ("e", "m") and len(rest) == 1:
        return Command("tank_emptied" if head == "e" else "tank_milk_added", (rest[0],))
    # A lone keypad word that got here (`e` without its tank) is a command
    # typed wrong, never a producer code: valid_producer_code refuses them.
    if len(words) == 1 and head not in KEYPAD_WORDS:
        return Command("producer", (words[0],))
    return Command("invalid", (line.strip(),))


def apply(station, command: Command) -> bool:
    """Carry out a keypad command on a Station; False to stop."""
    action, args = command.action, command.args
    if action == "producer":
        station.enter_producer(*args)
    elif action == "test":
        station.record_test(*args)
    elif action == "decide":
        station.decide(*args)
    elif action == "tare":
        station.tare()
    elif action == "reprint":
        station.reprint_last()
    elif action == "close_shift":
        station.close_shift()
    elif action == "void":
        ident, note, pin = args
        station.void(ident, note, pin=pin)
    elif action == "correct":
        ident, producer, note, pin = args
        station.correct_producer(ident, producer, note, pin=pin)
    elif action in ("tank_emptied", "tank_milk_added"):
        station.tank_event(args[0], emptied=action == "tank_emptied")
    elif action == "usage":
        station.show("keypad_usage_void" if args[0] == "x" else "keypad_usage_correct")
    elif action == "quit":
        return False
    else:
        station.show("bad_code", code=args[0] if args else "")
    return True

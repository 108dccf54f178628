"""The USB GSM modem that sends the offline SMS, through Gammu.

Gammu (python-gammu; Debian's `python3-gammu` on the Pi) speaks the AT
dialects of real modems (echo, PDU or text mode, the message centre from
the SIM, long and accented messages split into parts), which a hand-written
AT exchange would have to learn modem by modem. `Modem` is the interface
the notifier needs; tests use `GammuModem` against devtools/fakemodem.py, a
modem simulated on a pseudo-terminal.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

log = logging.getLogger(__name__)

# GSM 03.38 default alphabet (basic set): a text made only of these fits
# 160 characters per SMS; anything else (á, í, ó, ú, °) needs UCS-2 (70).
GSM7 = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
           "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")


class SmsError(Exception):
    """The modem could not send (no modem, no signal, no credit...)."""


class Modem(Protocol):
    def send(self, number: str, text: str) -> None: ...


def needs_unicode(text: str) -> bool:
    return any(ch not in GSM7 for ch in text)


class GammuModem:
    """A modem on a serial port (`/dev/milk-modem`, a udev link), via Gammu.

    The connection is opened on first use and again after a failure (a
    modem unplugged and plugged back gets a fresh session)."""

    def __init__(self, port: str, connection: str = "at") -> None:
        self.port = port
        self.connection = connection
        self._machine = None
        self._lock = threading.Lock()

    def _open(self):
        try:
            import gammu
        except ImportError as exc:
            raise SmsError(f"python-gammu is not installed: {exc}") from None
        machine = gammu.StateMachine()
        machine.SetConfig(0, {"Device": self.port, "Connection": self.connection})
        try:
            machine.Init()
        except gammu.GSMError as exc:
            raise SmsError(f"modem {self.port}: {_gammu_text(exc)}") from None
        return machine

    def send(self, number: str, text: str) -> None:
        """Send `text` to `number` (split into parts when long); SmsError on failure."""
        with self._lock:
            if self._machine is None:
                self._machine = self._open()
            import gammu  # there: _open imported it
            parts = gammu.EncodeSMS({"Class": -1, "Unicode": needs_unicode(text),
                                     "Entries": [{"ID": "ConcatenatedTextLong", "Buffer": text}]})
            try:
                for part in parts:
                    # Location 1: the message centre stored on the SIM.
                    part["SMSC"] = {"Location": 1}
                    part["Number"] = number
                    self._machine.SendSMS(part)
            except gammu.GSMError as exc:
                self.close_locked()
                raise SmsError(f"modem {self.port}: {_gammu_text(exc)}") from None

    def close(self) -> None:
        with self._lock:
            self.close_locked()

    def close_locked(self) -> None:
        machine, self._machine = self._machine, None
        if machine is not None:
            try:
                machine.Terminate()
            except Exception:   # already gone with the USB device
                pass


def _gammu_text(exc: Exception) -> str:
    info = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
    return info.get("Text") or str(exc)

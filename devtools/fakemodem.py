"""A GSM modem simulated on a pseudo-terminal, answering AT commands.

It plays the part of a USB 3G stick for the offline-SMS tests and for trying
a station by hand (`python -m devtools.fakemodem` prints its port and every
SMS it "sends"). It answers what Gammu asks while it initialises (echo,
manufacturer, character sets, the message centre) and both SMS modes:

    text mode   AT+CMGF=1, AT+CMGS="+51987654321"  -> "> ", text, Ctrl-Z
    PDU mode    AT+CMGF=0, AT+CMGS=<octets>        -> "> ", PDU hex, Ctrl-Z

and replies `+CMGS: <ref>` then `OK`, or `+CMS ERROR: 38` (network out of
order) while `fail_sends` is above zero. Unknown commands get `ERROR`, as a
real modem's do. PDUs are decoded with Gammu's own decoder.
"""

from __future__ import annotations

import os
import threading
import tty
from dataclasses import dataclass

CTRL_Z, ESC = 0x1A, 0x1B


@dataclass(frozen=True)
class SentSms:
    number: str
    text: str
    part: int = 1            # 1-based part of a long message
    parts: int = 1


ANSWERS = {
    b"AT": b"OK", b"ATE0": b"OK", b"ATE1": b"OK", b"AT+CMEE=1": b"OK", b"AT+CFUN=1": b"OK",
    b"AT+CGMI": b"FakeModem\r\n\r\nOK", b"AT+CGMM": b"FM-3G\r\n\r\nOK",
    b"AT+CGMR": b"1.0\r\n\r\nOK", b"AT+CGSN": b"356938035643809\r\n\r\nOK",
    b"AT+CMGF=?": b"+CMGF: (0-1)\r\n\r\nOK", b"AT+CMGF=0": b"OK", b"AT+CMGF=1": b"OK",
    b"AT+CSCS?": b'+CSCS: "GSM"\r\n\r\nOK',
    b"AT+CSCS=?": b'+CSCS: ("GSM","IRA","UCS2")\r\n\r\nOK',
    b"AT+CSCA?": b'+CSCA: "+51997990000",145\r\n\r\nOK',
    b"AT+CSQ": b"+CSQ: 18,99\r\n\r\nOK", b"AT+CPIN?": b"+CPIN: READY\r\n\r\nOK",
}


class FakeModem:
    def __init__(self, fail_sends: int = 0) -> None:
        self.fail_sends = fail_sends
        self.sent: list[SentSms] = []
        self.commands: list[bytes] = []
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)
        self._echo = True
        self._pdu_mode = True
        self._pending: bytes | None = None    # the AT+CMGS argument while the body comes
        self._ref = 0
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def start(self) -> FakeModem:
        self._thread = threading.Thread(target=self._serve, name="fake-modem", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for fd in (self._slave, self._master):
            try:
                os.close(fd)
            except OSError:
                pass

    def wait_for(self, count: int, timeout_s: float = 30.0) -> list[SentSms]:
        """Block until `count` message parts were sent (or time runs out)."""
        with self._changed:
            self._changed.wait_for(lambda: len(self.sent) >= count, timeout_s)
            return list(self.sent)

    def texts(self) -> dict[str, list[str]]:
        """Whole messages per number (long messages' parts joined)."""
        out: dict[str, list[str]] = {}
        current: dict[str, str] = {}
        for sms in self.sent:
            current[sms.number] = current.get(sms.number, "") + sms.text
            if sms.part == sms.parts:
                out.setdefault(sms.number, []).append(current.pop(sms.number))
        return out

    # -- the line ---------------------------------------------------------
    def _write(self, data: bytes) -> None:
        os.write(self._master, data)

    def _serve(self) -> None:
        buf = bytearray()
        while not self._stop.is_set():
            try:
                data = os.read(self._master, 4096)
            except OSError:
                return
            if not data:
                return
            buf.extend(data)
            while self._handle(buf):
                pass

    def _handle(self, buf: bytearray) -> bool:
        """Consume one command or one message body from `buf`; False: wait for more."""
        if self._pending is not None:
            end = next((i for i, b in enumerate(buf) if b in (CTRL_Z, ESC)), -1)
            if end < 0:
                return False
            body, cancelled = bytes(buf[:end]), buf[end] == ESC
            del buf[:end + 1]
            if self._echo:
                self._write(body)
            argument, self._pending = self._pending, None
            if cancelled:
                self._write(b"\r\nOK\r\n")
            else:
                self._message(argument, body)
            return True
        end = buf.find(b"\r")
        if end < 0:
            return False
        line = bytes(buf[:end]).strip(b"\n ")
        del buf[:end + 1]
        if not line or line[0] == ESC:
            return True
        self.commands.append(line)
        if self._echo:
            self._write(line + b"\r")
        upper = line.upper()
        if upper in (b"ATE0", b"ATE1"):
            self._echo = upper == b"ATE1"
        if upper in (b"AT+CMGF=0", b"AT+CMGF=1"):
            self._pdu_mode = upper == b"AT+CMGF=0"
        if upper.startswith(b"AT+CMGS="):
            self._pending = line[8:]
            self._write(b"\r\n> ")
            return True
        answer = ANSWERS.get(upper, b"OK" if upper.startswith((b"AT+CSCS=", b"AT+CSMP=")) else b"ERROR")
        self._write(b"\r\n" + answer + b"\r\n")
        return True

    def _message(self, argument: bytes, body: bytes) -> None:
        if self.fail_sends > 0:
            self.fail_sends -= 1
            self._write(b"\r\n+CMS ERROR: 38\r\n")
            return
        try:
            sms = self._decode(argument, body)
        except Exception:    # a garbled body: what a real modem says to it
            self._write(b"\r\n+CMS ERROR: 304\r\n")
            return
        self._ref = (self._ref + 1) % 256
        # Recorded before the answer goes out: whoever reads the OK sees it sent.
        with self._changed:
            self.sent.append(sms)
            self._changed.notify_all()
        self._write(f"\r\n+CMGS: {self._ref}\r\n\r\nOK\r\n".encode())

    def _decode(self, argument: bytes, body: bytes) -> SentSms:
        if not self._pdu_mode:
            return SentSms(argument.strip().strip(b'"').decode(), body.decode("latin-1"))
        import gammu
        decoded = gammu.DecodePDU(bytes.fromhex(body.strip().decode()))
        udh = decoded.get("UDH") or {}
        part, parts = udh.get("PartNumber", -1), udh.get("AllParts", 0)
        if part is None or part < 1 or not parts:
            part, parts = 1, 1
        return SentSms(decoded["Number"], decoded["Text"], part, parts)


def main() -> int:
    import time
    modem = FakeModem().start()
    print(f"fake modem on {modem.path} (set [alerts] modem_port to it); Ctrl-C stops", flush=True)
    seen = 0
    try:
        while True:
            time.sleep(0.5)
            for sms in modem.sent[seen:]:
                print(f"SMS to {sms.number} ({sms.part}/{sms.parts}): {sms.text}", flush=True)
            seen = len(modem.sent)
    except KeyboardInterrupt:
        pass
    finally:
        modem.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

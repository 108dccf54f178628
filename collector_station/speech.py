"""Spoken feedback at the bench: "Aceptada, veinticinco litros".

For operators and producers who cannot read the screen well. A small
`Speaker` over a swappable backend (gpiozero's pin-factory idea): espeak-ng
in a subprocess on the Pi, a `RecordingBackend` in tests. Switched on with
`[console] speech = true`.

Speech never holds up the intake: `say` starts espeak-ng and returns at
once; a new sentence cuts the one still being said (the newest result is
the one that matters). A bench without espeak-ng, or without a sound card,
works the same, silent, and says so once in the log.

The sentences come from the `station` catalog (`speech.*`); numbers are
spoken in words by `number_words` (Spanish and English, 0 to 999 999, one
decimal) - small enough to own rather than depend on a number-spelling
library for one sentence.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
from decimal import ROUND_HALF_UP, Decimal

from collector_station.i18n import reason_text, text

log = logging.getLogger(__name__)

_ES_UNITS = ("cero uno dos tres cuatro cinco seis siete ocho nueve diez once doce trece catorce "
             "quince dieciséis diecisiete dieciocho diecinueve veinte veintiuno veintidós veintitrés "
             "veinticuatro veinticinco veintiséis veintisiete veintiocho veintinueve").split()
_ES_TENS = {30: "treinta", 40: "cuarenta", 50: "cincuenta", 60: "sesenta", 70: "setenta",
            80: "ochenta", 90: "noventa"}
_ES_HUNDREDS = {1: "ciento", 2: "doscientos", 3: "trescientos", 4: "cuatrocientos", 5: "quinientos",
                6: "seiscientos", 7: "setecientos", 8: "ochocientos", 9: "novecientos"}
_EN_UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
             "fourteen fifteen sixteen seventeen eighteen nineteen").split()
_EN_TENS = {20: "twenty", 30: "thirty", 40: "forty", 50: "fifty", 60: "sixty", 70: "seventy",
            80: "eighty", 90: "ninety"}


def _es_below_1000(n: int) -> str:
    if n < 30:
        return _ES_UNITS[n]
    if n < 100:
        tens, unit = divmod(n, 10)
        return _ES_TENS[tens * 10] + (f" y {_ES_UNITS[unit]}" if unit else "")
    if n == 100:
        return "cien"
    hundreds, rest = divmod(n, 100)
    return _ES_HUNDREDS[hundreds] + (f" {_es_below_1000(rest)}" if rest else "")


def _es_integer(n: int) -> str:
    if n < 1000:
        return _es_below_1000(n)
    thousands, rest = divmod(n, 1000)
    # "mil", not "uno mil"; "veintiún mil", "doscientos un mil"
    head = "mil" if thousands == 1 else f"{_apocope(_es_below_1000(thousands))} mil"
    return head + (f" {_es_below_1000(rest)}" if rest else "")


def _apocope(words: str) -> str:
    """"uno" before a masculine noun: "un litro", "veintiún litros", "treinta y un litros"."""
    if words.endswith("veintiuno"):
        return words[:-len("veintiuno")] + "veintiún"
    if words == "uno" or words.endswith(" uno"):
        return words[:-1]
    return words


def _en_below_1000(n: int) -> str:
    if n < 20:
        return _EN_UNITS[n]
    if n < 100:
        tens, unit = divmod(n, 10)
        return _EN_TENS[tens * 10] + (f"-{_EN_UNITS[unit]}" if unit else "")
    hundreds, rest = divmod(n, 100)
    return f"{_EN_UNITS[hundreds]} hundred" + (f" {_en_below_1000(rest)}" if rest else "")


def _en_integer(n: int) -> str:
    if n < 1000:
        return _en_below_1000(n)
    thousands, rest = divmod(n, 1000)
    return f"{_en_below_1000(thousands)} thousand" + (f" {_en_below_1000(rest)}" if rest else "")


def number_words(value: Decimal | float | int, lang: str = "es", *, before_noun: bool = True) -> str:
    """`value` in words, rounded to one decimal: 25 -> "veinticinco", 24.6 ->
    "veinticuatro coma seis", 21 -> "veintiún" before a (masculine) noun.
    Negative values and values of a million or more are refused."""
    tenths = int((Decimal(str(value)) * 10).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if not 0 <= tenths < 10_000_000:
        raise ValueError(f"{value}: only 0 to 999999.9 are spoken")
    whole, decimal = divmod(tenths, 10)
    if lang == "en":
        words = _en_integer(whole)
        return words + (f" {text(lang, 'speech.decimal_point')} {_EN_UNITS[decimal]}" if decimal else "")
    words = _es_integer(whole)
    if decimal:
        return f"{words} {text(lang, 'speech.decimal_point')} {_ES_UNITS[decimal]}"
    return _apocope(words) if before_noun else words


class EspeakBackend:
    """espeak-ng in a subprocess; `say` returns at once."""

    def __init__(self, voice: str = "es-419", command: str = "espeak-ng") -> None:
        self.voice = voice
        self.command = command
        self.path = shutil.which(command)
        self._current: subprocess.Popen | None = None
        self._warned = False

    @property
    def available(self) -> bool:
        return self.path is not None

    def say(self, sentence: str) -> None:
        if self.path is None:
            if not self._warned:
                self._warned = True
                log.warning("spoken feedback is on but %s is not installed: the bench stays silent "
                            "(apt-get install espeak-ng)", self.command)
            return
        previous, self._current = self._current, None
        if previous is not None and previous.poll() is None:
            previous.terminate()          # the newest result is the one to hear
        try:
            # `--` so a sentence can never be read as an option.
            self._current = subprocess.Popen([self.path, "-v", self.voice, "--", sentence],
                                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                             stderr=subprocess.DEVNULL)
        except OSError as exc:
            if not self._warned:
                self._warned = True
                log.warning("spoken feedback failed (%s): the bench stays silent", exc)
        if previous is not None:
            threading.Thread(target=previous.wait, daemon=True).start()   # reap it, never block

    def close(self) -> None:
        if self._current is not None and self._current.poll() is None:
            self._current.terminate()
            try:
                self._current.wait(2)
            except subprocess.TimeoutExpired:
                self._current.kill()


class RecordingBackend:
    """What would have been said, for tests."""

    available = True

    def __init__(self) -> None:
        self.said: list[str] = []

    def say(self, sentence: str) -> None:
        self.said.append(sentence)

    def close(self) -> None:
        pass


class Speaker:
    """Says the bench's results aloud, in the station's language."""

    def __init__(self, backend, lang: str = "es", enabled: bool = True) -> None:
        self.backend = backend
        self.lang = lang
        self.enabled = enabled

    @classmethod
    def from_config(cls, config) -> Speaker:
        """From the station's config: `[console] speech`, `speech_voice`, `language`."""
        console = config.console
        voice = console.speech_voice if config.language == "es" else "en"
        return cls(EspeakBackend(voice), config.language, enabled=console.speech)

    def sentence(self, record: dict) -> str:
        """What to say about a recorded delivery (pure)."""
        lang = self.lang
        if record.get("accepted"):
            liters = Decimal(str(record.get("liters") or 0))
            if liters.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP) == 1:
                return text(lang, "speech.accepted_one")
            return text(lang, "speech.accepted", liters=number_words(liters, lang))
        reason = record.get("reject_reason")
        if reason and reason not in ("operator_reject", "void"):
            return text(lang, "speech.rejected_reason", reason=reason_text(lang, reason))
        return text(lang, "speech.rejected")

    def delivery(self, record: dict) -> None:
        """Say the result of a delivery just recorded (never raises: it is only a voice)."""
        if not self.enabled or record.get("kind", "delivery") != "delivery":
            return
        try:
            self.backend.say(self.sentence(record))
        except Exception:
            log.exception("spoken feedback failed")

    def close(self) -> None:
        self.backend.close()

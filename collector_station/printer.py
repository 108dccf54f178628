"""The receipt printer port: an ESC/POS printer from the `[printer]` section.

python-escpos does the protocol; this module only opens the right backend,
so the receipt content (built elsewhere) is written once for every printer:

    printer = open_printer(config.printer)
    printer.text("Entrega N.º 12\\n"); printer.cut(); printer.close()

Kinds: `serial` (a 58/80 mm thermal printer on RS-232/USB-serial), `usb`
(vendor/product id), `file` (a device node such as /dev/usb/lp0, or a plain
file to inspect), `console` (the receipt's text on the display: a bench
without a printer still shows it), `none` (nothing printed).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

from escpos.printer import Dummy, File, Serial, Usb


class ConsolePrinter(Dummy):
    """An ESC/POS printer whose text goes to a stream when a receipt is cut.

    Control codes are dropped, so the operator's screen shows the receipt as
    plain text; `output` (bytes) still holds what a printer would have got.
    """

    def __init__(self, stream: TextIO | Callable[[str], None] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self._sink = stream if stream is not None else sys.stdout
        self._text: list[str] = []
        self.receipts: list[str] = []

    def text(self, txt: str) -> None:
        self._text.append(str(txt))
        super().text(txt)

    def cut(self, *args, **kwargs) -> None:
        super().cut(*args, **kwargs)
        receipt = "".join(self._text)
        self._text.clear()
        self.receipts.append(receipt)
        if callable(self._sink):
            self._sink(receipt)
        else:
            self._sink.write(receipt if receipt.endswith("\n") else receipt + "\n")
            self._sink.flush()


class NoPrinter(Dummy):
    """`kind = "none"`: accepts everything, prints nothing."""


def open_printer(config, console: TextIO | Callable[[str], None] | None = None):
    """The escpos printer for a `[printer]` section (collector_station.config.PrinterConfig).

    Raises OSError-family errors from the backend when the device is absent;
    the caller decides whether a bench without paper may go on (it may).
    """
    profile = {"profile": config.profile} if config.profile else {}
    if config.kind == "serial":
        return Serial(devfile=config.port, baudrate=config.baudrate, **profile)
    if config.kind == "usb":
        return Usb(config.usb_vendor_id, config.usb_product_id, **profile)
    if config.kind == "file":
        return File(devfile=config.port, **profile)
    if config.kind == "console":
        return ConsolePrinter(console, **profile)
    return NoPrinter(**profile)


__all__ = ["ConsolePrinter", "NoPrinter", "open_printer"]

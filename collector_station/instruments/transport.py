"""How a serial device opens its port, and a synchronous fake for tests.

A device (devices.SerialInstrument, and Scale/Densimeter through it) gets a
*transport*: a callable `(url, **settings) -> port` returning an object with
pyserial's `read`, `write`, `in_waiting` and `close`. The real one is
pyserial's `serial_for_url`. `FakeLine` is the fake, in the spirit of
gpiozero's mock pin factory: no pseudo-terminal, no thread, no sleep. The
test plays the instrument (`write` what it sends, `read_commands` what the
device sent) and turns the device's crank with `SerialInstrument.step()`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import serial


class Port(Protocol):
    """The part of pyserial's `Serial` a device uses."""

    @property
    def in_waiting(self) -> int: ...

    def read(self, size: int = 1) -> bytes: ...

    def write(self, data: bytes) -> int | None: ...

    def close(self) -> None: ...


Transport = Callable[..., Port]


def open_serial(url: str, **settings) -> Port:
    """The real transport: a device path, or any pyserial URL (`loop://`)."""
    return serial.serial_for_url(url, **settings)


class FakeSerial:
    """The device's end of a FakeLine: pyserial's calls, never blocking.

    `read` returns at once what is waiting (maybe nothing) rather than
    waiting for the timeout: drive the device with `step()`, not its thread.
    """

    def __init__(self, line: FakeLine, url: str, settings: dict) -> None:
        self.line = line
        self.url = url
        self.settings = settings
        self.is_open = True

    def _check(self) -> None:
        if not self.is_open or self.line.port is not self:
            raise serial.SerialException(f"{self.url}: port vanished")

    @property
    def in_waiting(self) -> int:
        self._check()
        return len(self.line.to_device)

    def read(self, size: int = 1) -> bytes:
        self._check()
        data = bytes(self.line.to_device[:size])
        del self.line.to_device[:size]
        return data

    def write(self, data: bytes) -> int:
        self._check()
        self.line.from_device.extend(data)
        return len(data)

    def close(self) -> None:
        self.is_open = False


class FakeLine:
    """A serial line in memory with an instrument end a test drives.

    Pass it as a device's transport (it is callable like `serial_for_url`).
    The instrument end has the same calls as simulate.PtyPort (`write`,
    `read_commands`, `plug`, `unplug`, `path`), so the virtual instruments
    of simulate.py run on it unchanged. Unplugged, opening it fails and an
    open port raises on every call, as a vanished USB adapter does.
    """

    def __init__(self, path: str = "fake://line") -> None:
        self._path = path
        self.plugged = True
        self.port: FakeSerial | None = None
        self.opened = 0                     # how many times a device opened it
        self.to_device = bytearray()        # sent by the instrument, not yet read
        self.from_device = bytearray()      # written by the device, not yet taken

    @property
    def path(self) -> str:
        return self._path

    def __call__(self, url: str, **settings) -> FakeSerial:
        if not self.plugged:
            raise serial.SerialException(f"could not open port {url}: no such device")
        self.port = FakeSerial(self, url, settings)
        self.opened += 1
        return self.port

    # -- the instrument's end ---------------------------------------------
    def write(self, data: bytes) -> None:
        """Bytes from the instrument; lost when no port is open, as on a real line."""
        if self.plugged and self.port is not None and self.port.is_open:
            self.to_device.extend(data)

    def read_commands(self) -> bytes:
        """What the device wrote since the last call."""
        data = bytes(self.from_device)
        self.from_device.clear()
        return data

    def unplug(self) -> None:
        """The cable is pulled: the open port fails, bytes in flight are lost."""
        self.plugged = False
        self.port = None
        self.to_device.clear()

    def plug(self) -> None:
        self.plugged = True

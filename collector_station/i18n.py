"""Every text an operator or producer reads, in Spanish (default) and English."""

from __future__ import annotations

MESSAGES = {
    "es": {
        "ready": "Estación {station} del centro {center} lista. Ingrese el código del productor.",
        "enter_code": "Ingrese el código del productor.",
        "bad_code": "Código de productor no válido: «{code}» (letras, números, - o _; hasta 32).",
        "producer_set": "Productor {producer}: coloque la cantina en la balanza.",
        "wait_stable": "Esperando peso estable…",
        "wait_density": "Esperando la lectura de densidad…",
        "remove_can": "Retire la cantina de la balanza.",
        "recorded": ("Entrega N.º {seq} registrada — productor {producer}: {weight_kg} kg, "
                     "{liters} L, densidad 15 °C {density_15c}, ST {solids_pct} %, "
                     "temp. {milk_temp_c} °C{flags}"),
        "device_connected": "Equipo «{device}» conectado.",
        "device_disconnected": "Equipo «{device}» desconectado: reintentando…",
        "scale_fault": "La balanza indica sobrecarga o error: no se registra ninguna entrega.",
        "unsent": "Pendientes de envío: {count}",
        "stopping": "Estación detenida.",
    },
    "en": {
        "ready": "Station {station} at center {center} ready. Enter the producer code.",
        "enter_code": "Enter the producer code.",
        "bad_code": "Invalid producer code: '{code}' (letters, digits, - or _; up to 32).",
        "producer_set": "Producer {producer}: put the can on the scale.",
        "wait_stable": "Waiting for a stable weight…",
        "wait_density": "Waiting for the density reading…",
        "remove_can": "Take the can off the scale.",
        "recorded": ("Delivery no. {seq} recorded — producer {producer}: {weight_kg} kg, "
                     "{liters} L, density at 15 °C {density_15c}, TS {solids_pct} %, "
                     "temp. {milk_temp_c} °C{flags}"),
        "device_connected": "Device '{device}' connected.",
        "device_disconnected": "Device '{device}' disconnected: retrying…",
        "scale_fault": "The scale reports overload or an error: no delivery is recorded.",
        "unsent": "Waiting to be sent: {count}",
        "stopping": "Station stopped.",
    },
}


def text(lang: str, key: str, **values: object) -> str:
    table = MESSAGES.get(lang, MESSAGES["es"])
    return table[key].format(**values)

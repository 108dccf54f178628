#!/usr/bin/env python3
"""Comprueba el sello de una entrega de leche (especificaciones seal/1, docs/seal.md,
y seal/2, docs/seal-2.md).

    python3 verify_receipt.py REGISTRO.json [--key HEX] [--code A1B2-C3D4]

Escrito a partir de docs/seal.md solamente: usa sólo la biblioteca estándar
de Python (3.9 o más nueva) y no importa nada del proyecto, para que
cualquiera pueda copiarlo y comprobar un recibo por su cuenta.

Imprime `OK: ...` y sale con 0 cuando todo cuadra; `FALLA: ...` (qué falló)
y sale con 1 en cualquier otro caso.
"""

import argparse
import hashlib
import hmac
import json
import sys
from datetime import datetime, timedelta, timezone

# seal/1, §1: the sixteen hashed keys and how each is written.
CORE = (
    ("id", "text"), ("seq", "integer"), ("kind", "text"), ("refers_to", "text"),
    ("center", "text"), ("station", "text"), ("producer", "text"), ("ts_ms", "integer"),
    ("weight_kg", "number"), ("liters", "number"), ("solids_pct", "number"),
    ("fat_pct", "number"), ("milk_temp_c", "number"), ("accepted", "boolean"),
    ("reject_reason", "text"), ("prev_hash", "text"),
)
# seal/2: the same sixteen, plus where the record sits and who recorded it.
CORE_2 = CORE + (("epoch", "text"), ("operator", "text"))
VERSIONS = {"seal/1": CORE, "seal/2": CORE_2}
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class Falla(Exception):
    pass


def epoch_ms(ts):
    """§2.6: milliseconds since the epoch, rounded down; the time must carry its offset."""
    text = str(ts)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise Falla(f"la hora ts {ts!r} no es ISO 8601") from None
    if when.tzinfo is None:
        raise Falla(f"la hora ts {ts!r} no lleva su desfase UTC")
    return (when - EPOCH) // timedelta(milliseconds=1)


def value_of(record, key, kind):
    if key == "ts_ms" and "ts_ms" not in record:
        value = epoch_ms(record["ts"]) if record.get("ts") not in (None, "") else None
    elif key == "kind" and "kind" not in record:
        value = "delivery"
    else:
        value = record.get(key)
    if value is None or value == "":                       # §2.1
        return None
    if kind == "number":                                   # §2.4
        if isinstance(value, bool):
            raise Falla(f"{key} debe ser un número, no {value!r}")
        return repr(float(value))
    if kind == "integer":                                  # §2.3
        if isinstance(value, bool) or int(value) != value:
            raise Falla(f"{key} debe ser un entero, no {value!r}")
        return int(value)
    if kind == "boolean":                                  # §2.5
        if not isinstance(value, bool):
            raise Falla(f"{key} debe ser true o false, no {value!r}")
        return value
    return str(value)                                      # §2.2


def version_of(record):
    """The record's `seal` key; seal/1 when it has none."""
    version = record.get("seal", "seal/1")
    if version not in VERSIONS:
        raise Falla(f"versión de sello desconocida: {version!r}")
    return version


def canonical_text(record):
    """§3: the sorted, compact, UTF-8 JSON object of the core."""
    core = {key: value_of(record, key, kind) for key, kind in VERSIONS[version_of(record)]}
    return json.dumps(core, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def receipt_code_of(hash_hex):
    return f"{hash_hex[:4]}-{hash_hex[4:8]}".upper()         # §4


def check(record, key=None, code=None):
    """The sentence to print after OK; raises Falla with what did not match."""
    if not isinstance(record, dict):
        raise Falla("el archivo no contiene un objeto JSON (un registro de entrega)")
    digest = hashlib.sha256(canonical_text(record)).hexdigest()
    stored = record.get("hash")
    if stored != digest:
        raise Falla(f"el hash no corresponde a los valores del registro: el registro dice {stored}, "
                    f"los valores dan {digest}; algún valor fue cambiado")
    printed = record.get("receipt_code")
    if printed is not None and printed != receipt_code_of(digest):
        raise Falla(f"el código del recibo {printed} no corresponde al hash ({receipt_code_of(digest)})")
    if code is not None and code.strip().upper() != receipt_code_of(digest):
        raise Falla(f"el registro es el del recibo {receipt_code_of(digest)}, no el de {code.strip().upper()}")
    what = f"recibo {receipt_code_of(digest)} ({version_of(record)}): los valores corresponden al hash"
    if key is not None:
        signature = hmac.new(key, digest.encode("ascii"), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature, str(record.get("hmac") or "")):
            raise Falla("la firma (hmac) no corresponde con esa clave: el registro no fue firmado "
                        "por la estación de esa clave, o fue rehecho sin ella")
        what += " y la firma de la estación es válida"
    return what


def parse_key(text):
    """§4: hex of 32 or more digits, or text of 16 or more characters."""
    text = text.strip()
    try:
        key = bytes.fromhex(text)
        if len(key) >= 16:
            return key
    except ValueError:
        pass
    if len(text) < 16:
        raise Falla("la clave debe tener 32 o más cifras hexadecimales (o 16 o más caracteres)")
    return text.encode("utf-8")


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="verify_receipt.py",
        description="Comprueba el sello (seal/1 o seal/2) de un registro de entrega de leche.")
    parser.add_argument("record", metavar="REGISTRO.json", help="el registro de la entrega (objeto JSON)")
    parser.add_argument("--key", metavar="HEX", help="clave de la estación: comprueba también la firma")
    parser.add_argument("--code", metavar="A1B2-C3D4", help="el código impreso en el recibo")
    args = parser.parse_args(argv)
    try:
        try:
            with open(args.record, encoding="utf-8") as fh:
                record = json.load(fh)
        except OSError as exc:
            raise Falla(f"{args.record}: no se puede leer ({exc.strerror})") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise Falla(f"{args.record}: no es JSON válido ({exc})") from None
        key = parse_key(args.key) if args.key else None
        print(f"OK: {check(record, key, args.code)}")
        return 0
    except Falla as exc:
        print(f"FALLA: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""InfluxDB through the v1 HTTP API (line protocol on /write, InfluxQL on /query).

InfluxDB 1.x, 2.x (v1 compatibility endpoints) and 3.x all serve it. Not
influxdb-client: its v2 write API answers 404 on InfluxDB 1.6 and its
batching writer then only logs the failure (docs/servers.md). Here every
failed write raises, and the caller keeps the data and retries.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Iterable, Iterator

import requests


class InfluxError(Exception):
    """A write or query that did not succeed.

    `retry` is True for failures that may succeed later (server down, 5xx,
    timeout: the points may even have been stored, so retry the same batch,
    which is idempotent) and False when InfluxDB refused the data (400).
    """

    def __init__(self, message: str, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry


def _escape_tag(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def _escape_measurement(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace(" ", "\\ ")


def _field(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("InfluxDB cannot store NaN or infinity")
        # Always a float literal, so a field never changes type between points.
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def line(measurement: str, tags: dict[str, str], fields: dict[str, object], ts_ns: int) -> str:
    """One line-protocol point; None fields are left out, tags are sorted."""
    tag_text = "".join(f",{_escape_tag(k)}={_escape_tag(v)}" for k, v in sorted(tags.items()) if v)
    field_text = ",".join(f"{_escape_tag(k)}={_field(v)}" for k, v in fields.items() if v is not None)
    return f"{_escape_measurement(measurement)}{tag_text} {field_text} {ts_ns}"


EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def to_ns(ts: datetime) -> int:
    """Nanoseconds since the epoch of an aware time, exact (no float rounding)."""
    delta = ts - EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


class InfluxV1:
    """A small client over one keep-alive HTTP session."""

    def __init__(self, url: str, database: str, *, username: str | None = None,
                 password: str | None = None, timeout_s: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.database = database
        self.timeout_s = timeout_s
        self.session = requests.Session()
        if username:
            self.session.auth = (username, password or "")

    def ping(self) -> bool:
        try:
            return self.session.get(f"{self.url}/ping", timeout=self.timeout_s).status_code == 204
        except requests.RequestException:
            return False

    def drop_database(self) -> None:
        self._post_query(f'DROP DATABASE "{self.database}"')

    def create_database(self) -> None:
        self._post_query(f'CREATE DATABASE "{self.database}"')

    def _post_query(self, q: str) -> dict:
        try:
            resp = self.session.post(f"{self.url}/query", data={"q": q}, timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise InfluxError(f"InfluxDB unreachable at {self.url}: {exc.__class__.__name__}", True) from None
        if resp.status_code >= 300:
            raise InfluxError(f"InfluxDB query failed: HTTP {resp.status_code} {resp.text[:200]}",
                              resp.status_code >= 500)
        return resp.json()

    def write(self, lines: Iterable[str]) -> None:
        """Write points; raises InfluxError unless every point was accepted."""
        body = "\n".join(lines).encode()
        if not body:
            return
        try:
            resp = self.session.post(f"{self.url}/write",
                                     params={"db": self.database, "precision": "ns"},
                                     data=body, timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise InfluxError(f"InfluxDB unreachable at {self.url}: {exc.__class__.__name__}", True) from None
        if resp.status_code == 204:
            return
        detail = resp.text.strip()[:300]
        # 404 "database not found" heals once the database is created again.
        retry = resp.status_code >= 500 or resp.status_code == 404 or "database not found" in detail
        raise InfluxError(f"InfluxDB write failed: HTTP {resp.status_code} {detail}", retry)

    def query(self, q: str, chunk_size: int = 10000) -> Iterator[dict]:
        """Rows of an InfluxQL query as dicts (time in ns), read in chunks.

        Chunked reads avoid InfluxDB's wrong `"partial": true` on large
        unchunked results and keep memory flat.
        """
        try:
            resp = self.session.get(f"{self.url}/query", stream=True, timeout=self.timeout_s,
                                    params={"db": self.database, "q": q, "epoch": "ns",
                                            "chunked": "true", "chunk_size": str(chunk_size)})
        except requests.RequestException as exc:
            raise InfluxError(f"InfluxDB unreachable at {self.url}: {exc.__class__.__name__}", True) from None
        if resp.status_code != 200:
            raise InfluxError(f"InfluxDB query failed: HTTP {resp.status_code} {resp.text[:200]}",
                              resp.status_code >= 500)
        with resp:
            for raw in resp.iter_lines(chunk_size=1 << 16):  # default 512 B: slow
                if not raw:
                    continue
                chunk = json.loads(raw)
                for result in chunk.get("results", []):
                    if "error" in result:
                        raise InfluxError(f"InfluxDB query error: {result['error']}", False)
                    for series in result.get("series", []):
                        columns = series["columns"]
                        tags = series.get("tags", {})
                        for values in series.get("values", []):
                            row = dict(zip(columns, values))
                            row.update(tags)
                            yield row

"""InfluxDB through the v1 HTTP API (line protocol on /write, InfluxQL on /query).

InfluxDB 1.x, 2.x (v1 compatibility endpoints) and 3.x all serve it. Not
influxdb-client: its v2 write API answers 404 on InfluxDB 1.6 and its
batching writer then only logs the failure (docs/servers.md). Here every
failed write raises, and the caller keeps the data and retries.
"""

from __future__ import annotations

import base64
import http.client
import json
import math
import threading
from datetime import datetime, timezone
from typing import Iterable, Iterator
from urllib.parse import urlencode, urlsplit


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


def rfc3339(ts: datetime) -> str:
    """An aware time as InfluxQL takes it in a time condition (UTC, microseconds)."""
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def rfc3339_ns(time_ns: int) -> str:
    """A point's time, to the nanosecond (where a moved copy shows)."""
    seconds, ns = divmod(time_ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{ns:09d}Z"


def from_ns(ns: int, tz) -> datetime:
    """A point's time (epoch ns, as queries answer with epoch=ns) in `tz`, to the microsecond."""
    return datetime.fromtimestamp(ns // 1_000_000_000, tz).replace(microsecond=(ns % 1_000_000_000) // 1000)


def quote(value: str) -> str:
    """A value inside an InfluxQL single-quoted string literal."""
    return value.replace("\\", "\\\\").replace("'", "\\'")


def to_ns(ts: datetime) -> int:
    """Nanoseconds since the epoch of an aware time, exact (no float rounding)."""
    delta = ts - EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


class InfluxV1:
    """A small client over keep-alive HTTP connections.

    Writes and statements go over one `http.client` connection of the
    standard library; reading query results (streamed, chunked) uses
    `requests`, imported only when a query is made: the ingest never
    queries, and `requests` with its dependencies is a fifth of its memory."""

    def __init__(self, url: str, database: str, *, username: str | None = None,
                 password: str | None = None, timeout_s: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.database = database
        self.timeout_s = timeout_s
        self._auth = (username, password or "") if username else None
        parts = urlsplit(self.url)
        self._https = parts.scheme == "https"
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port
        self._prefix = parts.path.rstrip("/")
        self._headers = {}
        if self._auth:
            token = base64.b64encode(f"{self._auth[0]}:{self._auth[1]}".encode()).decode()
            self._headers["Authorization"] = f"Basic {token}"
        self._conn: http.client.HTTPConnection | None = None
        self._conn_lock = threading.Lock()
        self._session = None

    @classmethod
    def from_config(cls, settings) -> "InfluxV1":
        """The client of a hub config's `[influx]` section (`hub.config.HubInflux`):
        every command and service reaches InfluxDB the same way."""
        return cls(settings.url, settings.database, username=settings.username,
                   password=settings.password, timeout_s=settings.timeout_s)

    @property
    def session(self):
        """A requests session (for streamed query results), made on first use."""
        if self._session is None:
            import requests
            self._session = requests.Session()
            if self._auth:
                self._session.auth = self._auth
        return self._session

    def _request(self, method: str, path: str, params: dict | None = None, body: bytes | None = None,
                 content_type: str | None = None) -> tuple[int, bytes]:
        """One request on the kept-alive connection: (status, body). Raises
        InfluxError(retry=True) when InfluxDB cannot be reached."""
        target = self._prefix + path + (f"?{urlencode(params)}" if params else "")
        headers = dict(self._headers)
        if content_type:
            headers["Content-Type"] = content_type
        with self._conn_lock:
            for attempt in (1, 2):     # a kept-alive connection the server closed: once more
                if self._conn is None:
                    cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
                    self._conn = cls(self._host, self._port, timeout=self.timeout_s)
                try:
                    self._conn.request(method, target, body=body, headers=headers)
                    resp = self._conn.getresponse()
                    return resp.status, resp.read()
                except (OSError, http.client.HTTPException) as exc:
                    self._conn.close()
                    self._conn = None
                    stale = isinstance(exc, (http.client.RemoteDisconnected, BrokenPipeError,
                                             ConnectionResetError))
                    if attempt == 2 or not stale:
                        raise InfluxError(f"InfluxDB unreachable at {self.url}: {exc.__class__.__name__}",
                                          True) from None
        raise AssertionError("unreachable")

    def ping(self) -> bool:
        try:
            return self._request("GET", "/ping")[0] == 204
        except InfluxError:
            return False

    def drop_database(self) -> None:
        self._post_query(f'DROP DATABASE "{self.database}"')

    def create_database(self) -> None:
        self._post_query(f'CREATE DATABASE "{self.database}"')

    def _post_query(self, q: str) -> dict:
        status, body = self._request("POST", "/query", body=urlencode({"q": q}).encode(),
                                     content_type="application/x-www-form-urlencoded")
        text = body.decode("utf-8", "replace")
        if status >= 300:
            raise InfluxError(f"InfluxDB query failed: HTTP {status} {text[:200]}", status >= 500)
        return json.loads(text)

    def write(self, lines: Iterable[str]) -> None:
        """Write points; raises InfluxError unless every point was accepted."""
        body = "\n".join(lines).encode()
        if not body:
            return
        status, answer = self._request("POST", "/write", {"db": self.database, "precision": "ns"},
                                       body, "text/plain; charset=utf-8")
        if status == 204:
            return
        detail = answer.decode("utf-8", "replace").strip()[:300]
        # 404 "database not found" heals once the database is created again.
        retry = status >= 500 or status == 404 or "database not found" in detail
        raise InfluxError(f"InfluxDB write failed: HTTP {status} {detail}", retry)

    def query(self, q: str, chunk_size: int = 10000) -> Iterator[dict]:
        """Rows of an InfluxQL query as dicts (time in ns), read in chunks.

        Chunked reads avoid InfluxDB's wrong `"partial": true` on large
        unchunked results and keep memory flat.
        """
        import requests
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

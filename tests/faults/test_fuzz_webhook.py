"""Fuzzing the webhook endpoint of a real server over raw sockets: whatever arrives (huge,
deep or invalid bodies, wrong content types, odd methods and query strings, header floods,
strange idempotency keys, unknown slugs), the reply is never a 5xx, the server keeps
serving, a 202 stored exactly one event whose data is JSON, and an error stored nothing.

No Temporal and no worker: the dispatcher is never started, so events stay pending and
the store shows exactly what the HTTP layer committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pawflow.dispatch import Dispatcher
from pawflow.server import ServerConfig, create_app
from pawflow.storage import SQLiteStore
from tests.helpers import free_port

from ._fuzz import assert_one_line, has_non_finite, mostly, nasty_text, note

TOKEN = "fuzz-token"
PROJECT = "fuzz"
MAX_BODY = 4096
REPLY_SECONDS = 30.0  # a bound, not a wait: replies come in milliseconds

MANIFEST = f"""\
version: 1
project:
  name: {PROJECT}
  triggers:
    - name: any
      webhook:
        methods: [GET, POST, PUT, PATCH, DELETE]
      call: program.py:on_event
    - name: post
      webhook: {{}}
      call: program.py:on_event
"""
PROGRAM = "def on_event(event):\n    print(event)\n"

# The server under test runs in this process, and its PostgreSQL pool draws from the
# shared `random` (jitter for new connections) on its own threads; Hypothesis would
# take that for a strategy using `random`. No strategy here does.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies"
    ":hypothesis.errors.HypothesisDeprecationWarning"
)

FUZZ = settings(
    # One server serves every example of a test: that it keeps serving is the point.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# -- a real server -----------------------------------------------------------------------


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class Target:
    """The server under test: where it listens, its store, its webhook paths."""

    port: int
    store: SQLiteStore
    hooks: dict[str, str]  # trigger name → /webhooks/<slug>
    errors: _Records
    accepted: int = 0  # events created so far
    # (webhook, idempotency key) → event id: keys deduplicate per webhook.
    seen_keys: dict[tuple[str, str], str] = field(default_factory=dict)

    async def event_count(self) -> int:
        return len(await self.store.list_events(PROJECT, limit=self.accepted + 2))


def _project_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("pawflow.yaml", MANIFEST)
        zf.writestr("program.py", PROGRAM)
    return buf.getvalue()


@contextlib.asynccontextmanager
async def running(tmp_path: Path, store: SQLiteStore, max_body: int) -> AsyncIterator[Target]:
    """The application served as ``serve()`` serves it, on 127.0.0.1, with ``fuzz`` deployed.

    Not aiohttp's TestServer: that one cancels a handler whose client went away, which
    the production runner does not do, and that difference matters here.
    """
    config = ServerConfig(
        data_dir=tmp_path / "data",
        token=TOKEN,
        # Nothing listens there, and the dispatcher is not started anyway.
        temporal_address=f"127.0.0.1:{free_port()}",
        port=0,
        max_body_bytes=max_body,
    )
    dispatcher = Dispatcher(store, config.temporal_address, config.namespace, config.task_queue)
    runner = web.AppRunner(create_app(config, store, dispatcher), handle_signals=False)
    await runner.setup()
    errors = _Records()
    logger = logging.getLogger("pawflow.server")
    logger.addHandler(errors)
    try:
        await web.TCPSite(runner, config.host, 0).start()
        port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
        code = _project_zip()
        deploy = (
            b"POST /api/v1/deployments HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            + f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/zip\r\n".encode()
            + b"Content-Length: %d\r\n\r\n%s" % (len(code), code)
        )
        reply = parse_reply((await exchange(port, deploy)).raw)
        assert reply.status == 201, reply
        urls = reply.json()["webhooks"]
        hooks = {name: url[url.index("/webhooks/") :] for name, url in urls.items()}
        yield Target(port=port, store=store, hooks=hooks, errors=errors)
    finally:
        logger.removeHandler(errors)
        await runner.cleanup()


@pytest.fixture
async def target(tmp_path: Path, store: SQLiteStore) -> AsyncIterator[Target]:
    """A server with a small body limit (MAX_BODY), so bodies cross it often."""
    async with running(tmp_path, store, MAX_BODY) as server:
        yield server


# -- raw HTTP ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    version: str
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def from_parser(self) -> bool:
        """Whether aiohttp's HTTP parser refused the request before the application saw it
        (its replies are HTTP/1.0 plain text; the application answers HTTP/1.1 JSON)."""
        return self.version == "HTTP/1.0" and self.headers.get("content-type", "").startswith(
            "text/plain"
        )


@dataclass(frozen=True)
class Exchange:
    raw: bytes  # everything the server sent
    reset: bool  # the server reset the connection (it stopped reading what we sent)


async def exchange(port: int, data: bytes, *, half_close: bool = False) -> Exchange:
    """Send ``data`` on a fresh connection and read until the server closes it.

    Reading starts before writing: a server that answers early (413, 400) and closes
    may reset the connection while the rest is still in flight, and a reset makes
    the stream drop whatever it buffered but nobody had read yet.
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    chunks: list[bytes] = []
    reset = False

    async def read_all() -> None:
        nonlocal reset
        try:
            while chunk := await reader.read(1 << 16):
                chunks.append(chunk)
        except ConnectionResetError:
            reset = True

    reading = asyncio.create_task(read_all())
    try:
        writer.write(data)
        try:
            await writer.drain()
            if half_close:
                writer.write_eof()
        except ConnectionError:
            reset = True
        await asyncio.wait_for(reading, REPLY_SECONDS)
    finally:
        reading.cancel()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return Exchange(b"".join(chunks), reset)


def parse_replies(raw: bytes, *, head_request: bool = False) -> list[Reply]:
    """The replies in ``raw``, in order (several when requests were pipelined)."""
    replies = []
    while raw:
        head, sep, rest = raw.partition(b"\r\n\r\n")
        assert sep, f"no complete reply (the server closed the connection): {raw[:300]!r}"
        status_line, *lines = head.decode("latin-1").split("\r\n")
        version, status, *_ = status_line.split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        # A reply to HEAD has no body, except aiohttp's refusals of what it could not
        # parse (HTTP/1.0 plain text: it never knew the method).
        no_body = head_request and version != "HTTP/1.0"
        size = 0 if no_body else int(headers.get("content-length", len(rest)))
        assert len(rest) >= size, f"reply cut short: {raw[:300]!r}"
        replies.append(Reply(version, int(status), headers, rest[:size]))
        raw = rest[size:]
    return replies


def parse_reply(raw: bytes, *, head_request: bool = False) -> Reply:
    """The one reply in ``raw``."""
    replies = parse_replies(raw, head_request=head_request)
    assert len(replies) == 1, f"{len(replies)} replies: {raw[:300]!r}"
    return replies[0]


async def healthz(port: int) -> None:
    """The server still answers."""
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    reply = parse_reply((await exchange(port, request)).raw)
    assert (reply.status, reply.json()) == (200, {"ok": True}), reply


# -- requests ----------------------------------------------------------------------------


class Request:
    """One generated request; the slug is only known once the server runs.

    Not a dataclass: Hypothesis prints dataclasses field by field, and a body can
    run to a megabyte; this class prints a cut-down ``repr``.
    """

    def __init__(
        self,
        *,
        method: bytes,
        hook: str,  # a trigger name, or "" for the unknown slug
        unknown_slug: bytes,
        query: bytes,
        headers: tuple[tuple[bytes, bytes], ...],
        body: bytes,
        chunked: bool,
    ) -> None:
        self.method = method
        self.hook = hook
        self.unknown_slug = unknown_slug
        self.query = query
        self.headers = headers
        self.body = body
        self.chunked = chunked

    def target(self, hooks: dict[str, str]) -> bytes:
        path = hooks[self.hook].encode() if self.hook else b"/webhooks/" + self.unknown_slug
        return path + (b"?" + self.query if self.query else b"")

    def encode(self, hooks: dict[str, str]) -> bytes:
        lines = [self.method + b" " + self.target(hooks) + b" HTTP/1.1", b"Host: 127.0.0.1"]
        lines += [name + b": " + value for name, value in self.headers]
        if self.chunked:
            lines.append(b"Transfer-Encoding: chunked")
            parts = [self.body[i : i + 1000] for i in range(0, len(self.body), 1000)]
            payload = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts)
            payload += b"0\r\n\r\n"
        else:
            lines.append(b"Content-Length: %d" % len(self.body))
            payload = self.body
        lines.append(b"Connection: close")
        return b"\r\n".join(lines) + b"\r\n\r\n" + payload

    def header(self, name: bytes) -> bytes | None:
        return next((v for n, v in self.headers if n.lower() == name.lower()), None)

    def __repr__(self) -> str:
        # Bodies and header floods run to megabytes: show their start and size.
        def cut(value: bytes) -> str:
            return repr(value) if len(value) <= 200 else f"{value[:200]!r}... ({len(value)} bytes)"

        headers = ", ".join(f"{n.decode()}: {cut(v)}" for n, v in self.headers[:12])
        if len(self.headers) > 12:
            headers += f", ... ({len(self.headers)} headers)"
        return (
            f"Request({self.method!r} {self.hook or cut(self.unknown_slug)!s} ?{cut(self.query)} "
            f"[{headers}] body={cut(self.body)} chunked={self.chunked})"
        )


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | nasty_text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(nasty_text(), inner, max_size=4),
    max_leaves=20,
)


def _sized_json(size: int) -> bytes:
    return json.dumps(["x" * max(0, size - 4)]).encode()


def _nested(depth: int, kind: str) -> bytes:
    if kind == "list":
        return b"[" * depth + b"]" * depth
    if kind == "object":
        return b'{"a":' * depth + b"1" + b"}" * depth
    return b"[" * depth  # unclosed


JSON_TRAPS = (
    b"NaN",
    b"[Infinity]",
    b'{"a": -Infinity}',
    b"1e999",
    b"[-1e400]",
    b'"\\ud800"',
    b'{"k\\udfff": 1}',
    b'["\\ud83d", "\\ude00"]',
    b'"\\ud83d\\ude00"',
    b"\xef\xbb\xbf{}",
    b"{}\x00",
    b'{"a": 1, "a": 2}',
    b"1" * 4300,
    b"1" * 4301,
    b"[1,]",
    b"{",
    b"null",
)

bodies = st.one_of(
    st.builds(
        lambda v, ascii: json.dumps(v, ensure_ascii=ascii).encode(), json_values, st.booleans()
    ),
    st.integers(MAX_BODY - 64, MAX_BODY + 64).map(_sized_json),
    st.sampled_from((MAX_BODY * 4, 1 << 20)).map(_sized_json),
    st.builds(
        _nested,
        st.sampled_from((100, 1000, 2000, 100_000)),
        st.sampled_from(("list", "object", "open")),
    ),
    st.sampled_from(JSON_TRAPS),
    st.binary(max_size=300),
    st.builds(
        lambda junk, rest: junk + rest,
        st.sampled_from((b"\xff", b"\xc3(", b"\xed\xa0\x80")),
        st.binary(max_size=50),
    ),
    st.just(b""),
    st.text(alphabet="ab=&%;+ 0fF\xe9", max_size=60).map(lambda s: s.encode("utf-8")),
    st.just(b"--x\r\nContent-Disposition: form-data; name=a\r\n\r\nvalue\r\n--x--\r\n"),
)

CONTENT_TYPES = (
    None,
    "application/json",
    "application/json; charset=utf-8",
    "application/json; charset=latin-1",
    "APPLICATION/JSON",
    "application/vnd.api+json",
    "text/json",
    "multipart/form-data",
    "multipart/form-data; boundary=",
    "multipart/form-data; boundary=x",
    "application/x-www-form-urlencoded",
    "text/plain",
    "text/plain; charset=utf-16",
    "application/octet-stream",
    "",
    ";;;",
    "+json",
    'application/json; charset="utf-8"; q',
)
METHODS = (b"POST", b"GET", b"PUT", b"PATCH", b"DELETE", b"HEAD", b"OPTIONS", b"TRACE", b"post")

# Header values as a client could send them: printable ASCII, valid UTF-8, or the raw
# obs-text bytes 0x80-0xff that HTTP/1.1 still allows.
safe_text = st.text(
    alphabet=st.characters(min_codepoint=0x20, exclude_categories=("Cs", "Cc")), max_size=40
)
header_values = mostly(
    safe_text.map(lambda s: s.encode("utf-8")),
    st.binary(min_size=1, max_size=20).map(
        lambda b: bytes(c for c in b if c >= 0x20 and c != 0x7F) or b"\xff"
    ),
)
header_names = st.from_regex(r"X-[A-Za-z0-9-]{1,20}", fullmatch=True).map(str.encode)
idempotency_keys = mostly(
    st.one_of(
        st.none(),
        st.sampled_from(("k1", "k2", "k3")),  # repeats across examples: duplicate deliveries
        safe_text,
        st.sampled_from((" ", "x" * 255, "x" * 256, "é" * 255, "é" * 256, "ключ-1", "\U0001f600")),
        st.integers(300, 9000).map(lambda n: "k" * n),
    ).map(lambda key: None if key is None else key.encode("utf-8")),
    # Not UTF-8: refused (400), since replacing bytes would make different keys equal.
    st.sampled_from((b"\xff\xfe", b"caf\xe9", b"k\xed\xa0\x80")),
    odds=12,
)
queries = st.one_of(
    st.just(""),
    st.lists(st.tuples(nasty_text(12), nasty_text(12)), max_size=6).map(urlencode),
    st.lists(st.sampled_from(("a=1", "a=2", "a", "=", "&", "a=", "=b")), max_size=20).map("&".join),
    st.text(alphabet="ab=&%zZ09;+/?", max_size=80),
    st.sampled_from(
        ("%", "%%", "%zz", "%FF", "%C3", "%00", "a=%ED%A0%80", "a=%F4%90%80%80", "a=\u00e9", "#f")
    ),
    st.integers(1000, 9000).map(lambda n: "q=" + "x" * n),
)


slugs = st.one_of(
    nasty_text(30).map(lambda s: quote(s, safe="").encode()),
    st.from_regex(r"[a-z0-9]{24}", fullmatch=True).map(str.encode),
    st.sampled_from((b"", b"%", b"%zz", b"a/b", b"..", b"%2e%2e", b"\xff", b"x" * 5000)),
)


@st.composite
def requests(draw: st.DrawFn) -> Request:
    headers: list[tuple[bytes, bytes]] = []
    content_type = draw(st.one_of(st.sampled_from(CONTENT_TYPES), safe_text))
    if content_type is not None:
        headers.append((b"Content-Type", content_type.encode("utf-8")))
    key = draw(idempotency_keys)
    if key is not None:
        headers.append((b"Idempotency-Key", key))
    headers += draw(st.lists(st.tuples(header_names, header_values), max_size=5))
    flood = draw(mostly(st.just(0), st.integers(50, 300)))
    headers += [(b"X-Flood-%d" % i, b"v") for i in range(flood)]
    if draw(mostly(st.just(False), st.just(True), odds=12)):
        headers.append((b"X-Huge", b"h" * draw(st.integers(4000, 9000))))
    method = mostly(
        st.sampled_from(METHODS), st.from_regex(r"[A-Z]{1,12}", fullmatch=True).map(str.encode)
    )
    return Request(
        method=draw(method),
        hook=draw(mostly(st.sampled_from(("any", "post")), st.just(""), odds=6)),
        unknown_slug=draw(slugs),
        query=draw(queries).encode("utf-8"),
        headers=tuple(headers),
        body=draw(bodies),
        chunked=draw(mostly(st.just(False), st.just(True), odds=4)),
    )


# -- checks ------------------------------------------------------------------------------


async def send(target: Target, req: Request) -> None:
    """Send ``req`` and check everything the webhook promises about the outcome."""
    assert await target.event_count() == target.accepted
    target.errors.records.clear()
    sent = await exchange(target.port, req.encode(target.hooks))
    if not sent.raw and sent.reset:
        # Refused (by the HTTP parser) and reset before its reply reached us: whatever
        # it was, nothing may have been stored.
        note("reset before any reply")
        assert await target.event_count() == target.accepted
        assert not target.errors.records, target.errors.records
    else:
        reply = parse_reply(sent.raw, head_request=req.method.upper() == b"HEAD")
        note(f"HTTP {reply.status}" + (" from the HTTP parser" if reply.from_parser else ""))
        await check_outcome(target, req, reply)
    await healthz(target.port)


async def check_outcome(target: Target, req: Request, reply: Reply) -> None:
    count = await target.event_count()
    assert not target.errors.records, target.errors.records[0].getMessage()
    if reply.status == 202:
        await check_accepted(target, req, reply, count)
        return
    assert 400 <= reply.status < 500, f"HTTP {reply.status} {reply.body[:300]!r}"
    assert count == target.accepted, f"HTTP {reply.status} stored an event"
    if reply.from_parser or req.method.upper() == b"HEAD":
        return  # aiohttp's own plain-text refusal; HEAD replies have no body
    assert reply.headers["content-type"].startswith("application/json"), reply.headers
    doc = reply.json()
    assert isinstance(doc, dict) and set(doc) == {"error"}, doc
    assert_one_line(doc["error"])


async def check_accepted(target: Target, req: Request, reply: Reply, count: int) -> None:
    event_id = reply.json()["event_id"]
    assert reply.headers["pawflow-event-id"] == event_id
    stored = await target.store.get_event(event_id)
    assert stored is not None
    assert (stored.project, stored.state) == (PROJECT, "pending")
    raw_key = req.header(b"Idempotency-Key")
    key = raw_key.decode("utf-8").strip() if raw_key else ""  # else it was a 400
    if reply.headers.get("pawflow-duplicate") == "true":
        assert key and target.seen_keys.get((req.hook, key)) == event_id, "a duplicate of what?"
        assert count == target.accepted, "a duplicate delivery stored a second event"
        return
    assert (req.hook, key) not in target.seen_keys, f"idempotency key {key!r} accepted twice"
    target.accepted += 1
    if key:
        target.seen_keys[(req.hook, key)] = event_id
    assert count == target.accepted, "a 202 stored no event, or more than one"
    assert stored.trigger == req.hook
    check_event_data(stored.data, req, target.hooks[req.hook])
    # What the API serves for it is strict JSON, and the same data.
    served = await api_get(target.port, f"/api/v1/events/{event_id}")
    assert served["data"] == stored.data


def _no_constants(name: str) -> Any:
    raise AssertionError(f"the API served {name}, which is not JSON")


async def api_get(port: int, path: str) -> Any:
    request = (
        f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    reply = parse_reply((await exchange(port, request)).raw)
    assert reply.status == 200, reply
    return json.loads(reply.body.decode("utf-8"), parse_constant=_no_constants)


def check_event_data(data: dict[str, Any], req: Request, path: str) -> None:
    assert not has_non_finite(data), "NaN or an infinity was stored"
    # Stored data must survive any strict JSON reader, as the API serves it.
    text = json.dumps(data, ensure_ascii=False, allow_nan=False)
    text.encode("utf-8")  # no lone surrogates
    assert json.loads(text) == data
    assert data["method"] == req.method.decode().upper()
    assert data["path"] == path
    body = data["body"]
    if body["json"] is not None:
        assert body["json"] == json.loads(req.body)
        assert body["text"] == req.body.decode("utf-8")
    else:
        assert body["text"] == (req.body.decode("utf-8", errors="replace") or None)


# -- properties --------------------------------------------------------------------------


@FUZZ
@given(req=requests())
async def test_random_webhook_requests(target: Target, req: Request) -> None:
    await send(target, req)


@FUZZ
@given(garbage=st.binary(max_size=2000))
async def test_random_bytes_on_the_socket(target: Target, garbage: bytes) -> None:
    sent = await exchange(target.port, garbage, half_close=True)
    if sent.raw:  # closing without a word is a fine answer to garbage
        reply = parse_reply(sent.raw)
        assert reply.status < 500, reply
    assert await target.event_count() == 0
    await healthz(target.port)


# -- raw-socket cases --------------------------------------------------------------------


def _post(path: str, headers: bytes, body: bytes) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\n".encode() + headers
    return head + b"\r\n" + body


@pytest.mark.parametrize(
    ("framing", "body", "half_close"),
    [
        pytest.param(b"Content-Length: 1000\r\n", b"0123456789", True, id="short-half-close"),
        pytest.param(b"Content-Length: 1000\r\n", b"0123456789", False, id="short-close"),
        pytest.param(b"Content-Length: 1000\r\n", b"", True, id="no-body"),
        pytest.param(b"Transfer-Encoding: chunked\r\n", b"fffff\r\nhello", True, id="chunk-cut"),
        pytest.param(
            b"Transfer-Encoding: chunked\r\n", b"5\r\nhello\r\n", True, id="no-last-chunk"
        ),
        pytest.param(b"Transfer-Encoding: chunked\r\n", b"zz\r\nhello\r\n", True, id="bad-chunk"),
    ],
)
async def test_truncated_bodies_store_nothing(
    target: Target, framing: bytes, body: bytes, half_close: bool
) -> None:
    data = _post(target.hooks["any"], b"Content-Type: application/json\r\n" + framing, body)
    if half_close:
        sent = await exchange(target.port, data, half_close=True)
        if sent.raw:
            assert parse_reply(sent.raw).status < 500, sent.raw[:300]
    else:
        reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
        writer.write(data)
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        del reader
    await healthz(target.port)
    # The body never arrived whole, so no event can exist, now or later.
    assert await target.event_count() == 0


GARBAGE = {
    "binary": b"\x00\xff garbage\r\n\r\n",
    "no-version": b"GET /healthz\r\n\r\n",
    "bad-version": b"POST /webhooks/x HTTP/9.9\r\nHost: x\r\n\r\n",
    "blank-lines": b"\r\n\r\n\r\n\r\n",
    "bare-lf": b"POST /webhooks/x HTTP/1.1\nHost: x\n\n",
    "space-in-target": b"POST /webhooks/a b HTTP/1.1\r\nHost: x\r\n\r\n",
    "tls-hello": bytes.fromhex("16030100a5010000a10303") + b"\x00" * 40,
    "header-no-colon": b"POST / HTTP/1.1\r\nHost x\r\n\r\n",
    "header-space-before-colon": b"POST / HTTP/1.1\r\nHost : x\r\n\r\n",
    "obs-fold": b"POST / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
    "both-lengths": b"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
    "negative-length": b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
    "two-lengths": b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    "huge-length": b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
    "long-request-line": b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\n\r\n",
}


@pytest.mark.parametrize("garbage", GARBAGE.values(), ids=GARBAGE.keys())
async def test_garbage_requests(target: Target, garbage: bytes) -> None:
    sent = await exchange(
        target.port, garbage.replace(b"/webhooks/x", target.hooks["any"].encode()), half_close=True
    )
    if sent.raw:
        reply = parse_reply(sent.raw)
        assert 400 <= reply.status < 500, sent.raw[:300]
    assert not target.errors.records, target.errors.records
    await healthz(target.port)
    assert await target.event_count() == 0


async def test_pipelined_requests(target: Target) -> None:
    # Without half-closing: aiohttp drops complete requests of a client that already
    # sent EOF, so there would be nothing to see.
    good = _post(
        target.hooks["any"], b"Content-Type: application/json\r\nContent-Length: 2\r\n", b"{}"
    )
    last = good.replace(b"Content-Length", b"Connection: close\r\nContent-Length")
    garbage = b"\x00\xff garbage\r\n\r\n"
    accepted = 0
    for batch in (good + last, good + garbage, good + good + garbage, garbage + good):
        sent = await exchange(target.port, batch)
        statuses = [reply.status for reply in parse_replies(sent.raw)]
        assert all(status < 500 for status in statuses), sent.raw[:600]
        # aiohttp drops a whole batch it cannot parse; what it answered 202 is stored.
        accepted += statuses.count(202)
        assert await target.event_count() == accepted, (batch[-40:], statuses)
        await healthz(target.port)
    assert accepted >= 2  # the clean batch


# -- regressions: bugs the fuzzing above found ------------------------------------------


async def _post_once(target: Target, headers: bytes, body: bytes) -> Reply:
    framing = headers + b"Content-Length: %d\r\nConnection: close\r\n" % len(body)
    sent = await exchange(target.port, _post(target.hooks["any"], framing, body))
    return parse_reply(sent.raw)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"a": "\\ud800"}', id="in-a-value"),
        pytest.param(b'{"k\\udfff": 1}', id="in-a-key"),
        pytest.param(b'["\\ude00\\ud83d"]', id="pair-reversed"),
    ],
)
async def test_json_body_with_a_lone_surrogate_is_400(target: Target, body: bytes) -> None:
    # Once a 500: the store cannot encode the surrogate (UnicodeEncodeError).
    reply = await _post_once(target, b"Content-Type: application/json\r\n", body)
    assert reply.status == 400, reply
    assert "lone surrogate" in reply.json()["error"]
    assert await target.event_count() == 0
    assert not target.errors.records, target.errors.records[0].getMessage()


async def test_json_body_with_a_surrogate_pair_is_one_character(target: Target) -> None:
    body = b'{"a": "\\ud83d\\ude00"}'
    reply = await _post_once(target, b"Content-Type: application/json\r\n", body)
    assert reply.status == 202, reply
    stored = await target.store.get_event(reply.json()["event_id"])
    assert stored is not None
    assert stored.data["body"]["json"] == {"a": "\U0001f600"}


@pytest.mark.parametrize(
    ("header", "stored"),
    [
        pytest.param(b"X-Note: caf\xe9", "caf\ufffd", id="latin-1"),
        pytest.param(b"X-Note: \xff\xfe ok", "\ufffd\ufffd ok", id="invalid-utf8"),
        pytest.param(b"X-Note: \xed\xa0\x80", "\ufffd\ufffd\ufffd", id="utf8-surrogate"),
        pytest.param("X-Note: café ✓".encode(), "café ✓", id="valid-utf8"),
    ],
)
async def test_header_bytes_that_are_not_utf8_are_stored_replaced(
    target: Target, header: bytes, stored: str
) -> None:
    # aiohttp decodes them to lone surrogates, which once made the store fail (500).
    reply = await _post_once(target, header + b"\r\n", b"")
    assert reply.status == 202, reply
    event = await target.store.get_event(reply.json()["event_id"])
    assert event is not None
    assert event.data["headers"]["x-note"] == stored
    assert not target.errors.records, target.errors.records[0].getMessage()


@pytest.mark.parametrize("key", [b"\xff\xfe", b"caf\xe9", b"k\xed\xa0\x80"])
async def test_idempotency_key_that_is_not_utf8_is_400(target: Target, key: bytes) -> None:
    # Replacing its bytes would make different keys equal, so it is refused.
    reply = await _post_once(target, b"Idempotency-Key: " + key + b"\r\n", b"")
    assert reply.status == 400, reply
    assert reply.json() == {"error": "Idempotency-Key is not valid UTF-8"}
    assert await target.event_count() == 0
    assert not target.errors.records, target.errors.records[0].getMessage()


@pytest.mark.parametrize("body", [b"[1e999]", b'{"a": -1e400}', b"1" * 400 + b".5", b"[0.1e99999]"])
async def test_json_numbers_that_overflow_to_infinity_are_400(target: Target, body: bytes) -> None:
    # Once stored as inf, which the API then served as the non-JSON token Infinity.
    reply = await _post_once(target, b"Content-Type: application/json\r\n", body)
    assert reply.status == 400, reply
    message = reply.json()["error"]
    assert message.startswith("body is not valid JSON: number ") and "out of range" in message
    assert_one_line(message)
    assert await target.event_count() == 0


async def test_client_disconnect_mid_body_is_not_an_internal_error(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    # Once logged as "internal error" with a traceback, and answered 500.
    caplog.set_level(logging.DEBUG, logger="pawflow.server")
    data = _post(target.hooks["any"], b"Content-Length: 1000\r\n", b"0123456789")
    reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
    writer.write(data)
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    del reader

    def went_away() -> bool:
        return any("client went away" in r.getMessage() for r in caplog.records)

    # The handler notices the disconnect within milliseconds; the deadline is generous
    # for a busy machine.
    deadline = asyncio.get_running_loop().time() + 10.0
    while not went_away() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)
    assert went_away(), [r.getMessage() for r in caplog.records]
    assert not target.errors.records, target.errors.records[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.records
    await healthz(target.port)
    assert await target.event_count() == 0


async def test_deep_and_huge_json_under_the_default_body_limit(
    tmp_path: Path, store: SQLiteStore
) -> None:
    # With the default limit (1 MiB) a 10^5-deep body reaches the JSON parser.
    async with running(tmp_path, store, ServerConfig.max_body_bytes) as server:
        huge = json.dumps({"items": [{"n": i, "s": "x" * 50} for i in range(12_000)]}).encode()
        cases = [
            (b"[" * 100_000 + b"]" * 100_000, 400),
            (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, 400),
            (b"[" * 100_000, 400),
            (b"[" * 600_000 + b"]" * 600_000, 413),
            (huge, 202),
        ]
        for body, expected in cases:
            req = Request(
                method=b"POST",
                hook="any",
                unknown_slug=b"",
                query=b"",
                headers=((b"Content-Type", b"application/json"),),
                body=body,
                chunked=False,
            )
            sent = await exchange(server.port, req.encode(server.hooks))
            reply = parse_reply(sent.raw)
            assert reply.status == expected, (body[:20], len(body), reply)
            await check_outcome(server, req, reply)
            await healthz(server.port)
        assert await server.event_count() == server.accepted == 1

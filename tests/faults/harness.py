"""Shared machinery for the fault, concurrency and load tests.

* `S3Wire` sits exactly where moto's in-process S3 plugs into a boto3 client (the `before-send` event, i.e. the
  HTTP layer, *below* botocore's retry loop). Every HTTP attempt passes through it, so it can
  - inject faults before the "server" sees the request (503 SlowDown, connection reset) or after the server
    applied it and the response was lost (500 InternalError, read timeout), per operation and call number;
  - serialize request processing server-side (real S3 applies each request atomically; moto in-process does
    not promise that under threads), while the client-side logic stays fully concurrent;
  - log every attempt: operation, key, call number, attempt number, what the server answered, what was
    injected, and the body of every PutObject that the server applied;
  - emulate `x-amz-copy-source-if-match`, which moto 5.x ignores (S3 answers 412 PreconditionFailed).
* `audit` / `bucket_audit` classify each upload as exactly one of processed / quarantined / pending.
* `s3_event` builds direct S3 notifications with a realistic, increasing `sequencer`.
"""

from __future__ import annotations

import copy
import io
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote_plus, unquote, urlsplit

from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.exceptions import ConnectionClosedError, ReadTimeoutError

from tests.conftest import BUCKET, EVENTS_DIR

INCOMING, MEDIA, FAILED = "incoming/", "media/", "failed/"
SUFFIXES = ("", "_thumb", "_small")  # main, thumb:150x150, small:320x320 (the default THUMBNAILS)

# ---------------------------------------------------------------------------------------------------------------
# Events


_sequencer = iter(range(0x1000, 0x10**12))
_sequencer_lock = threading.Lock()


def next_sequencer() -> str:
    """S3 sequencers of one key grow with each PUT; hex, here of constant length."""
    with _sequencer_lock:
        return f"{next(_sequencer):016X}"


def s3_event(key: str, etag: str | None, size: int | None, sequencer: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS_DIR / "s3-put.json").read_text())
    obj = event["Records"][0]["s3"]["object"]
    obj["key"] = quote_plus(key, safe="/")
    for name, value in (("eTag", etag), ("size", size), ("sequencer", sequencer)):
        if value is None:
            obj.pop(name, None)
        else:
            obj[name] = value
    return event


@dataclass(frozen=True)
class Upload:
    key: str
    data: bytes
    etag: str  # unquoted
    event: dict[str, Any]
    expect: str | None = None  # "processed" | "quarantined" | None (unknown)


def upload(s3: Any, key: str, data: bytes, expect: str | None = None) -> Upload:
    """PUT the object (with the test's own client, never intercepted) and build the event S3 would send."""
    response = s3.put_object(Bucket=BUCKET, Key=key, Body=data)
    etag = response["ETag"].strip('"')
    return Upload(key, data, etag, s3_event(key, etag, len(data), next_sequencer()), expect)


def clone(event: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(event)


# ---------------------------------------------------------------------------------------------------------------
# Keys


def rendition_keys(key: str) -> list[str]:
    """incoming/<path>/<stem>.<ext> -> media/<path>/<stem>{,_thumb,_small}.jpg (computed independently of src)."""
    relative = PurePosixPath(key[len(INCOMING) :])
    stem = str(relative.with_suffix("")) if relative.suffix else str(relative)
    return [f"{MEDIA}{stem}{suffix}.jpg" for suffix in SUFFIXES]


def failed_key(key: str) -> str:
    return FAILED + key[len(INCOMING) :]


# ---------------------------------------------------------------------------------------------------------------
# The wire


class _Raw(io.BytesIO):
    def stream(self, **_: Any) -> Any:
        while chunk := self.read(65536):
            yield chunk


def _error_xml(code: str, message: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
        f"<RequestId>FAULT0000</RequestId><HostId>fault-injection</HostId></Error>"
    ).encode()


def error_response(request: Any, status: int, code: str, message: str) -> AWSResponse:
    body = b"" if request.method == "HEAD" else _error_xml(code, message)
    headers = HTTPHeaders()
    headers["Content-Type"] = "application/xml"
    headers["Content-Length"] = str(len(body))
    headers["x-amz-request-id"] = "FAULT0000"
    return AWSResponse(request.url, status, headers, _Raw(body))


# What each kind does, and whether the server applied the request first ("post") or never saw it ("pre").
KINDS: dict[str, str] = {
    "slowdown_503": "pre",  # S3 throttling: 503 SlowDown, request not applied
    "internal_500": "post",  # 500 InternalError returned although the request was applied
    "read_timeout": "post",  # the request was applied; the response never arrived
    "connection_reset": "pre",  # the connection dropped while sending: the server never saw the request
}


# Body faults on GetObject: the status line and headers arrive, the body does not (all of it). botocore's retry
# loop has already returned by then, so these are not retried by botocore: the invocation must fail.
BODY_KINDS: dict[str, str] = {"truncated_body": "post", "body_reset": "post"}


class _ResettingRaw(_Raw):
    """Delivers at most the first half of the body, then the peer resets the connection."""

    def read(self, *args: Any) -> bytes:
        from urllib3.exceptions import ProtocolError

        half = len(self.getbuffer()) // 2
        amount = args[0] if args and args[0] is not None and args[0] >= 0 else None
        if amount is None or self.tell() >= half:
            raise ProtocolError("Connection broken: ConnectionResetError(104, 'Connection reset by peer')")
        return super().read(min(amount, half - self.tell()))


def body_fault(kind: str, response: AWSResponse) -> AWSResponse:
    data = response.content
    headers = HTTPHeaders()
    for name, value in response.headers.items():
        headers[name] = value
    headers["Content-Length"] = str(len(data))
    raw = _Raw(data[: len(data) // 2]) if kind == "truncated_body" else _ResettingRaw(data)
    return AWSResponse(response.url, response.status_code, headers, raw)


def make_fault(kind: str, request: Any, response: AWSResponse | None = None) -> AWSResponse:
    """Return the failed response for `kind`, or raise the transport exception."""
    if kind in BODY_KINDS:
        assert response is not None
        return body_fault(kind, response)
    if kind == "slowdown_503":
        return error_response(request, 503, "SlowDown", "Please reduce your request rate.")
    if kind == "internal_500":
        return error_response(request, 500, "InternalError", "We encountered an internal error. Please try again.")
    if kind == "read_timeout":
        raise ReadTimeoutError(endpoint_url=request.url)
    if kind == "connection_reset":
        raise ConnectionClosedError(endpoint_url=request.url)
    raise AssertionError(kind)


@dataclass(frozen=True)
class Fault:
    operation: str  # "PutObject", ...
    call: int  # which call of that operation (1-based) in the invocation(s) seen since arming
    kind: str
    mode: str  # "once": the first attempt of that call only; "always": every attempt of that call

    @property
    def timing(self) -> str:
        return {**KINDS, **BODY_KINDS}[self.kind]


@dataclass
class Attempt:
    thread: str
    operation: str
    key: str
    call: int
    attempt: int
    status: int | None  # what the server answered (None: the server never saw it)
    injected: str | None
    source_etag: str | None = None  # x-amz-meta-source-etag of a PutObject


def _operation_and_key(request: Any) -> tuple[str, str]:
    """(bucket, key) of a virtual-hosted (bucket.s3.amazonaws.com/key) or path-style (host/bucket/key) URL."""
    parts = urlsplit(request.url)
    path = unquote(parts.path).lstrip("/")
    host = parts.hostname or ""
    if ".s3." in host or host.endswith(".s3.amazonaws.com"):
        return host.split(".s3.", 1)[0], path
    bucket, _, key = path.partition("/")
    return bucket, key


class S3Wire:
    """Interposes on moto's `before-send` stubber for one or more clients (see module docstring)."""

    def __init__(self, serialize: bool = True) -> None:
        from moto.core.models import botocore_stubber

        self._stubber = botocore_stubber
        self._server_lock = threading.RLock() if serialize else None
        self._log_lock = threading.Lock()
        self._local = threading.local()
        self.calls: Counter[str] = Counter()
        self.attempts: list[Attempt] = []
        self.faults: list[Fault] = []
        # observers(operation, key, request) run under the server lock just before the server applies a request
        self.observers: list[Callable[[str, str, Any], None]] = []
        # pauses(operation, key, status) run after the server answered, outside the lock (to stage races)
        self.after: list[Callable[[str, str, int | None], None]] = []

    # -- wiring
    def attach(self, client: Any) -> Any:
        events = client.meta.events
        events.unregister("before-send", self._stubber)
        events.register("before-send.s3", self._send)
        events.register_first("before-call.s3", self._before_call)
        return client

    def arm(self, *faults: Fault) -> None:
        with self._log_lock:
            self.faults = list(faults)
            self.calls.clear()

    def disarm(self) -> None:
        with self._log_lock:
            self.faults = []

    # -- hooks
    def _before_call(self, model: Any, **_: Any) -> None:
        with self._log_lock:
            self.calls[model.name] += 1
            self._local.current = (model.name, self.calls[model.name])

    def _send(self, request: Any, event_name: str, **kwargs: Any) -> AWSResponse | None:
        operation = event_name.rsplit(".", 1)[-1]
        _, key = _operation_and_key(request)
        current = getattr(self._local, "current", (operation, 0))
        call = current[1] if current[0] == operation else 0
        attempt = _attempt_number(request)
        fault = next(
            (
                f
                for f in self.faults
                if f.operation == operation and f.call == call and (f.mode == "always" or attempt == 1)
            ),
            None,
        )
        record = Attempt(
            threading.current_thread().name,
            operation,
            key,
            call,
            attempt,
            None,
            fault.kind if fault else None,
            source_etag=_header(request, "x-amz-meta-source-etag"),
        )
        try:
            if fault and fault.timing == "pre":
                return make_fault(fault.kind, request)
            response = self._serve(operation, key, request, record)
            if fault:  # "post": applied, then the answer is lost (or mangled)
                return make_fault(fault.kind, request, response)
            return response
        finally:
            with self._log_lock:
                self.attempts.append(record)
            for hook in self.after:
                hook(operation, key, record.status)

    def _serve(self, operation: str, key: str, request: Any, record: Attempt) -> AWSResponse:
        lock = self._server_lock or _NullLock()
        with lock:
            for observer in self.observers:
                observer(operation, key, request)
            response = self._copy_source_if_match(operation, request)
            if response is None:
                response = self._stubber("before-send", request=request)
            assert response is not None, f"moto did not serve {request.method} {request.url}"
            record.status = response.status_code
            return response

    def _copy_source_if_match(self, operation: str, request: Any) -> AWSResponse | None:
        """moto 5.x ignores x-amz-copy-source-if-match; S3 answers 412. Emulate it faithfully."""
        wanted = _header(request, "x-amz-copy-source-if-match")
        if operation != "CopyObject" or not wanted:
            return None
        source = unquote(_header(request, "x-amz-copy-source") or "").lstrip("/").split("?", 1)[0]
        bucket, _, source_key = source.partition("/")
        current = _moto_backend().get_object(bucket, source_key)
        if current is None:
            return None  # moto answers NoSuchKey itself
        if current.etag.strip('"') != wanted.strip('"'):
            return error_response(request, 412, "PreconditionFailed", "At least one of the pre-conditions failed")
        return None

    # -- queries
    def applied(self, operation: str, key: str | None = None, status: int = 200) -> list[Attempt]:
        with self._log_lock:
            return [
                a
                for a in self.attempts
                if a.operation == operation and a.status == status and (key is None or a.key == key)
            ]

    def injected(self) -> list[Attempt]:
        with self._log_lock:
            return [a for a in self.attempts if a.injected]

    def attempts_of(self, operation: str, call: int) -> list[Attempt]:
        with self._log_lock:
            return [a for a in self.attempts if a.operation == operation and a.call == call]

    def reset_log(self) -> None:
        with self._log_lock:
            self.attempts.clear()
            self.calls.clear()


class _NullLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: Any) -> None:
        return None


def _header(request: Any, name: str) -> str | None:
    value = request.headers.get(name)
    if isinstance(value, bytes):
        value = value.decode()
    return None if value is None else str(value)


def _attempt_number(request: Any) -> int:
    value = _header(request, "amz-sdk-request") or ""
    for part in value.split(";"):
        name, _, number = part.strip().partition("=")
        if name == "attempt":
            return int(number)
    return 1


def _moto_backend() -> Any:
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    return s3_backends[DEFAULT_ACCOUNT_ID]["aws"]


class InstantSleep:
    """Stands in for `botocore.endpoint.time`: records the backoff delays instead of sleeping them."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self._lock = threading.Lock()

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.delays.append(seconds)


# ---------------------------------------------------------------------------------------------------------------
# Auditing


@dataclass
class Audit:
    key: str
    state: str  # processed | quarantined | pending | LOST | AMBIGUOUS
    detail: str = ""


def _head(s3: Any, key: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    try:
        return dict(s3.head_object(Bucket=BUCKET, Key=key))
    except ClientError as error:
        if error.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
            return None
        raise


def _is_jpeg(s3: Any, key: str) -> bool:
    from PIL import Image

    data = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    with Image.open(io.BytesIO(data)) as image:
        return image.format == "JPEG" and image.width > 0


def audit(s3: Any, item: Upload, check_jpeg: bool = True) -> Audit:
    """Exactly one end state for one upload, judged from the bucket alone (with the test's own client)."""
    original = _head(s3, item.key)
    original_here = original is not None and original["ETag"].strip('"') == item.etag
    renditions = {key: _head(s3, key) for key in rendition_keys(item.key)}
    mine = {
        key: head
        for key, head in renditions.items()
        if head is not None and head["Metadata"].get("source-etag") == item.etag
    }
    quarantine = _head(s3, failed_key(item.key))
    quarantined_here = False
    if quarantine is not None:
        body = s3.get_object(Bucket=BUCKET, Key=failed_key(item.key))["Body"].read()
        metadata = quarantine["Metadata"]
        quarantined_here = body == item.data and bool(metadata.get("reason")) and bool(metadata.get("error-kind"))
    processed = not original_here and len(mine) == len(SUFFIXES) and not quarantined_here
    quarantined_state = not original_here and quarantined_here and not mine
    states = [
        name
        for name, holds in (("processed", processed), ("quarantined", quarantined_state), ("pending", original_here))
        if holds
    ]
    detail = (
        f"original={'here' if original_here else ('other ' + original['ETag'] if original else 'gone')} "
        f"renditions_of_this_upload={sorted(mine)} failed_copy={quarantined_here}"
    )
    if len(states) != 1:
        return Audit(item.key, "LOST" if not states else "AMBIGUOUS", detail)
    state = states[0]
    if state == "processed":
        for key in mine:
            head = mine[key]
            if head["ContentType"] != "image/jpeg" or (check_jpeg and not _is_jpeg(s3, key)):
                return Audit(item.key, "AMBIGUOUS", f"{key} is not a JPEG rendition; {detail}")
    return Audit(item.key, state, detail)


def all_keys(s3: Any, prefix: str = "") -> list[str]:
    paginator = s3.get_paginator("list_objects_v2")
    return sorted(
        obj["Key"] for page in paginator.paginate(Bucket=BUCKET, Prefix=prefix) for obj in page.get("Contents", [])
    )


def bucket_audit(
    s3: Any, uploads: Iterable[Upload], check_jpeg: bool = True, workers: int = 1
) -> tuple[dict[str, Audit], Counter[str]]:
    """Classify every upload; fail on LOST/AMBIGUOUS uploads and on objects that belong to no upload."""
    from concurrent.futures import ThreadPoolExecutor

    uploads = list(uploads)
    with ThreadPoolExecutor(workers) as pool:
        audits = list(pool.map(lambda item: audit(s3, item, check_jpeg), uploads))
    results = {item.key: result for item, result in zip(uploads, audits, strict=True)}
    counts = Counter(result.state for result in results.values())
    broken = [
        f"{r.key}: {r.state} ({r.detail})"
        for r in results.values()
        if r.state not in ("processed", "quarantined", "pending")
    ]
    assert not broken, "uploads in no (or more than one) end state:\n" + "\n".join(broken)
    expected_objects = set()
    for item in uploads:
        expected_objects.update([item.key, failed_key(item.key), *rendition_keys(item.key)])
    strays = sorted(set(all_keys(s3)) - expected_objects)
    assert not strays, f"objects that belong to no upload: {strays[:20]}"
    return results, counts


def snapshot(s3: Any, prefix: str) -> dict[str, tuple[str, bytes, dict[str, str]]]:
    """key -> (ETag, body, metadata) of everything under `prefix`."""
    out = {}
    for key in all_keys(s3, prefix):
        response = s3.get_object(Bucket=BUCKET, Key=key)
        out[key] = (response["ETag"], response["Body"].read(), dict(response["Metadata"]))
    return out


def install_delete_guard(wire: S3Wire, s3: Any) -> tuple[list[str], list[str]]:
    """Invariant 1 at the instant the server is about to apply a DeleteObject of an original.

    If the delete is going to succeed (the key holds the If-Match ETag), every rendition must already carry that
    ETag as source-etag, or the failed/ copy must hold the same bytes with a reason. Returns (violations,
    originals checked); hooks cannot raise (botocore would treat it as a transport error), so tests assert on them.
    """
    violations: list[str] = []
    checked: list[str] = []

    def guard(operation: str, key: str, request: Any) -> None:
        if operation != "DeleteObject" or not key.startswith(INCOMING):
            return
        wanted = (_header(request, "If-Match") or "").strip('"')
        current_head = _head(s3, key)
        if current_head is None:
            return  # the server answers 404
        current = current_head["ETag"].strip('"')
        if not wanted:
            violations.append(f"unconditional delete of {key}")
        elif current != wanted:
            return  # the server answers 412: the newer upload survives
        checked.append(key)
        renditions_ok = all(
            (head := _head(s3, rendition)) is not None and head["Metadata"].get("source-etag") == current
            for rendition in rendition_keys(key)
        )
        quarantined = False
        moved_head = _head(s3, failed_key(key))
        if moved_head is not None and moved_head["Metadata"].get("reason"):
            original = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
            quarantined = s3.get_object(Bucket=BUCKET, Key=failed_key(key))["Body"].read() == original
        if not (renditions_ok or quarantined):
            violations.append(f"{key} (etag {current}) deleted before its renditions / failed copy existed")

    wire.observers.append(guard)
    return violations, checked

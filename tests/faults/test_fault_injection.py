"""Faults at the HTTP layer of the handler's real boto3 client, with moto serving S3 in-process.

Invariants checked for every case:
 1. an original is deleted only after every rendition of that version exists (checked *at the moment the server
    applies the DeleteObject*, and again on the final bucket state);
 2. every upload ends in exactly one of processed / quarantined / pending, and pending only with a failed
    invocation; a second, fault-free delivery of the same event completes the work;
 3. no rendition is ever written twice (each PutObject the server applied is counted);
 6. transient errors are retried by botocore with backoff (standard mode, 5 attempts), then fail the invocation;
    permanent image errors are never retried.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import botocore.endpoint
import pytest

from image_optimizer import handler
from tests.conftest import BUCKET, FIXTURES_DIR, gradient, jpeg_bytes, png_bytes
from tests.faults.harness import (
    KINDS,
    SUFFIXES,
    Fault,
    InstantSleep,
    S3Wire,
    Upload,
    audit,
    bucket_audit,
    failed_key,
    install_delete_guard,
    rendition_keys,
    upload,
)

# storage.RETRY_CONFIG = standard mode, max_attempts=5. In botocore's Config, `max_attempts` counts *retries*
# after the first request (`total_max_attempts` would count all), so one call is tried 1 + 5 = 6 times.
MAX_ATTEMPTS = 6


@dataclass(frozen=True)
class Case:
    path: str  # "processed" (a real image) or "rejected" (text uploaded as .jpg)
    operation: str
    call: int
    kind: str
    mode: str

    @property
    def id(self) -> str:
        return f"{self.path}-{self.operation}#{self.call}-{self.kind}-{self.mode}"

    @property
    def fault(self) -> Fault:
        return Fault(self.operation, self.call, self.kind, self.mode)

    @property
    def timing_post(self) -> bool:
        """The server applied the request before the fault (its answer was lost)."""
        return KINDS[self.kind] == "post"

    @property
    def expected_end(self) -> str:
        return "processed" if self.path == "processed" else "quarantined"


# Calls one upload makes, phase by phase (call number = which call of that operation). processed: GET the original;
# HEAD it again (is it still the object at its key?); every rendition's PUT while its key is free (If-None-Match),
# the renditions concurrently, so which rendition makes "PutObject #2" depends on arrival; DELETE the original.
# A PUT whose condition fails is followed by a HEAD of that rendition, outside this plan (a retry's path).
PROCESSED_PHASES = [
    [("GetObject", 1)],
    [("HeadObject", 1)],
    [("PutObject", 1), ("PutObject", 2), ("PutObject", 3)],
    [("DeleteObject", 1)],
]
# (the HEAD: is failed/<path> free, or another rejected upload's, before the copy)
REJECTED_PHASES = [[("GetObject", 1)], [("HeadObject", 1)], [("CopyObject", 1)], [("DeleteObject", 1)]]
PROCESSED_CALLS = [call for phase in PROCESSED_PHASES for call in phase]
REJECTED_CALLS = [call for phase in REJECTED_PHASES for call in phase]


def in_phases(calls: list[tuple[str, int]], phases: list[list[tuple[str, int]]]) -> bool:
    """The calls are the phases' calls, phase after phase, in any order within a phase."""
    start = 0
    for phase in phases:
        if sorted(calls[start : start + len(phase)]) != sorted(phase):
            return False
        start += len(phase)
    return start == len(calls)


CASES = [
    Case(path, operation, call, kind, mode)
    for path, calls in (("processed", PROCESSED_CALLS), ("rejected", REJECTED_CALLS))
    for (operation, call), kind, mode in itertools.product(calls, KINDS, ("once", "always"))
]


@dataclass
class Rig:
    s3: Any
    wire: S3Wire
    sleeper: InstantSleep
    guard_violations: list[str]
    guard_checked: list[str]  # originals the guard saw about to be deleted (so it provably ran)


@pytest.fixture
def rig(s3: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    service = handler.get_service()
    wire = S3Wire()
    wire.attach(service.storage.client)
    sleeper = InstantSleep()
    monkeypatch.setattr(botocore.endpoint, "time", sleeper)
    violations, checked = install_delete_guard(wire, s3)
    yield Rig(s3, wire, sleeper, violations, checked)


def make_upload(s3: Any, case_id: str, path: str) -> Upload:
    if path == "processed":
        return upload(s3, f"incoming/faults/{case_id}.png", png_bytes(gradient(480, 320)), "processed")
    return upload(s3, f"incoming/faults/{case_id}.jpg", b"not an image, just text\n" * 4, "quarantined")


def test_retry_configuration_is_what_the_matrix_assumes() -> None:
    """storage.RETRY_CONFIG says standard mode, max_attempts=5 (retries); botocore rewrites that dict in place to
    total_max_attempts=6 once a client is built, so accept either spelling of the same 6 attempts."""
    from image_optimizer.aws.storage import RETRY_CONFIG

    retries = dict(getattr(RETRY_CONFIG, "retries"))  # noqa: B009 - Config attributes are untyped
    assert retries.get("mode") == "standard"
    assert retries.get("total_max_attempts", retries.get("max_attempts", -1) + 1) == MAX_ATTEMPTS
    client = handler.get_service.__wrapped__().storage.client
    client_retries = getattr(client.meta.config, "retries")  # noqa: B009
    assert client_retries["mode"] == "standard" and client_retries["total_max_attempts"] == MAX_ATTEMPTS


def test_matrix_size(capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        print(
            f"\n[fault matrix] {len(CASES)} cases: {len(PROCESSED_CALLS)} call points on the processed path + "
            f"{len(REJECTED_CALLS)} on the rejected path, x {len(KINDS)} kinds {sorted(KINDS)} x 2 modes (once, always)"
        )
    assert len(CASES) >= 40
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_fault(case: Case, rig: Rig, context: Any) -> None:
    s3, wire = rig.s3, rig.wire
    item = make_upload(s3, case.id.replace("#", "-"), case.path)

    # -- first delivery, with the fault armed
    wire.arm(case.fault)
    if case.mode == "once":
        [result] = handler.lambda_handler(item.event, context)["results"]
        assert result["status"] == ("processed" if case.path == "processed" else "rejected"), result
    else:
        with pytest.raises(handler.RecordsFailed):
            handler.lambda_handler(item.event, context)
    wire.disarm()

    # the fault really hit, botocore retried it with backoff, and nothing else was retried
    hit = wire.attempts_of(case.operation, case.call)
    injected = wire.injected()
    if case.mode == "once":
        assert [a.attempt for a in hit] == [1, 2] and [a.injected for a in hit] == [case.kind, None]
        assert len(injected) == 1
        assert len(rig.sleeper.delays) == 1
    else:
        assert [a.attempt for a in hit] == list(range(1, MAX_ATTEMPTS + 1))
        assert all(a.injected == case.kind for a in hit) and len(injected) == MAX_ATTEMPTS
        assert len(rig.sleeper.delays) == MAX_ATTEMPTS - 1
        # the invocation stopped at the failing call: nothing after it was attempted
        phases = PROCESSED_PHASES if case.path == "processed" else REJECTED_PHASES
        failing = next(index for index, phase in enumerate(phases) if (case.operation, case.call) in phase)
        later = [call for phase in phases[failing + 1 :] for call in phase]
        assert not any(wire.attempts_of(op, n) for op, n in later)
    assert all(0 <= delay <= 20 for delay in rig.sleeper.delays)

    # -- the bucket after the first delivery
    state = audit(s3, item)
    if case.mode == "once":
        assert state.state == case.expected_end, state
    elif case.operation == "DeleteObject" and case.timing_post:
        assert state.state == case.expected_end, state  # the delete was applied; only its answer was lost
    else:
        assert state.state == "pending", state  # the invocation failed, so the original must still be there
    assert not rig.guard_violations, rig.guard_violations

    # -- a second delivery of the same event, no faults: the work completes, nothing breaks
    [again] = handler.lambda_handler(item.event, context)["results"]
    assert again["status"] in ("processed", "rejected", "skipped"), again
    _, counts = bucket_audit(s3, [item])
    assert counts == {case.expected_end: 1}, counts
    assert not rig.guard_violations, rig.guard_violations
    assert item.key in rig.guard_checked  # the delete of the original happened under the guard's eyes

    # -- invariant 3: every rendition was written by exactly one PutObject the server applied
    for key in rendition_keys(item.key):
        writes = wire.applied("PutObject", key)
        expected_writes = 1 if case.path == "processed" else 0
        assert len(writes) == expected_writes, (key, writes)
    if case.path == "rejected":
        assert wire.applied("PutObject") == []
        moved = s3.get_object(Bucket=BUCKET, Key=failed_key(item.key))
        assert moved["Body"].read() == item.data
        assert moved["Metadata"]["error-kind"] == "unsupported_format"
        assert moved["Metadata"]["reason"]


# --- body faults on GetObject: headers arrive, the body does not. botocore cannot retry these (its retry loop
# returned already), so the invocation must fail and leave the original, never quarantine a "truncated image".
UPLOADS = {  # name -> (the upload, the end it reaches once its download works)
    "jpeg": (lambda: jpeg_bytes(gradient(640, 480), quality=90), "processed"),
    "png": (lambda: png_bytes(gradient(640, 480)), "processed"),
    # decoding rejects a text file from its first bytes; the rest must still arrive before it is quarantined
    "text": (lambda: b"Not an image, only text.\n" * 10_000, "quarantined"),
}


@pytest.mark.parametrize("kind", ["truncated_body", "body_reset"])
@pytest.mark.parametrize("image", UPLOADS)
def test_broken_download_is_transient_not_a_corrupt_image(kind: str, image: str, rig: Rig, context: Any) -> None:
    """An upload is judged only once received whole: a broken download fails the invocation, whatever the bytes
    that did arrive would say, and the retry reaches the upload's own end."""
    s3, wire = rig.s3, rig.wire
    make, end = UPLOADS[image]
    item = upload(s3, f"incoming/body/{kind}.{image}", make(), end)
    wire.arm(Fault("GetObject", 1, kind, "once"))
    with pytest.raises(handler.RecordsFailed):
        handler.lambda_handler(item.event, context)
    wire.disarm()
    assert [a.injected for a in wire.attempts_of("GetObject", 1)] == [kind]
    assert audit(s3, item).state == "pending"
    # not quarantined, nothing written, nothing deleted
    assert wire.applied("CopyObject") == wire.applied("PutObject") == wire.applied("DeleteObject") == []
    [again] = handler.lambda_handler(item.event, context)["results"]
    if end == "quarantined":
        assert again["status"] == "rejected" and again["error_kind"] == "unsupported_format"
    else:
        assert again["status"] == "processed"
    assert again["bytes_in"] == len(item.data)
    assert bucket_audit(s3, [item])[1] == {end: 1}


# --- permanent image errors: no botocore retry, no failed invocation (so no Lambda retry), one call each


def _permanent_inputs() -> list[Any]:
    image = jpeg_bytes(gradient(400, 300))
    rows = [
        ("text", "incoming/perm/text.jpg", b"A text file: spoofed!\n", "unsupported_format"),
        ("truncated", "incoming/perm/truncated.jpg", (FIXTURES_DIR / "truncated_jpeg_pillow.jpg").read_bytes(), ""),
        (
            "corrupt_png",
            "incoming/perm/corrupt.png",
            (FIXTURES_DIR / "corrupt_png_missing_idat_xdtn0g01.png").read_bytes(),
            "",
        ),
        ("half_jpeg", "incoming/perm/half.jpg", image[: len(image) // 3], ""),
        ("empty", "incoming/perm/empty.jpg", b"", ""),
    ]
    return [pytest.param(*row, id=row[0]) for row in rows]


@pytest.mark.parametrize("name,key,data,kind", _permanent_inputs())
def test_permanent_rejection_is_never_retried(
    name: str, key: str, data: bytes, kind: str, rig: Rig, context: Any
) -> None:
    s3, wire = rig.s3, rig.wire
    item = upload(s3, key, data, "quarantined")
    [result] = handler.lambda_handler(item.event, context)["results"]
    assert result["status"] == "rejected", result
    if kind:
        assert result["error_kind"] == kind
    assert rig.sleeper.delays == []
    assert [(a.operation, a.attempt) for a in wire.attempts] == [
        ("GetObject", 1),
        ("HeadObject", 1),
        ("CopyObject", 1),
        ("DeleteObject", 1),
    ]
    assert bucket_audit(s3, [item])[1] == {"quarantined": 1}
    assert not rig.guard_violations


def test_oversized_upload_is_rejected_with_one_look_one_copy_and_one_delete(rig: Rig, context: Any) -> None:
    s3, wire = rig.s3, rig.wire
    service = handler.get_service()
    item = upload(s3, "incoming/perm/big.jpg", jpeg_bytes(gradient(400, 300)), "quarantined")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(service, "settings", replace(service.settings, max_input_bytes=100))
        [result] = handler.lambda_handler(item.event, context)["results"]
    assert result["status"] == "rejected" and result["error_kind"] == "too_large"
    assert [(a.operation, a.attempt) for a in wire.attempts] == [
        ("HeadObject", 1),
        ("CopyObject", 1),
        ("DeleteObject", 1),
    ]
    assert rig.sleeper.delays == []
    assert bucket_audit(s3, [item])[1] == {"quarantined": 1}


def test_the_wire_really_reaches_moto_and_sees_every_attempt(rig: Rig, context: Any) -> None:
    """Guards the harness itself: a plain upload makes exactly the calls the matrix assumes."""
    s3, wire = rig.s3, rig.wire
    item = upload(s3, "incoming/plain/ok.png", png_bytes(gradient(300, 200)), "processed")
    [result] = handler.lambda_handler(item.event, context)["results"]
    assert result["status"] == "processed"
    assert in_phases([(a.operation, a.call) for a in wire.attempts], PROCESSED_PHASES)
    for key in rendition_keys(item.key):  # each rendition: one request, the write itself
        assert [a.operation for a in wire.attempts if a.key == key] == ["PutObject"]
    assert all(a.attempt == 1 and a.status in (200, 204, 404) for a in wire.attempts)
    text = upload(s3, "incoming/plain/bad.jpg", b"text", "quarantined")
    wire.reset_log()
    handler.lambda_handler(text.event, context)
    assert in_phases([(a.operation, a.call) for a in wire.attempts], REJECTED_PHASES)
    assert bucket_audit(s3, [item, text])[1] == {"processed": 1, "quarantined": 1}


def test_renditions_are_written_concurrently(rig: Rig, context: Any) -> None:
    """Each PUT waits until all three are in flight: a sequential write phase would break the barrier."""
    item = upload(rig.s3, "incoming/plain/together.png", png_bytes(gradient(300, 200)), "processed")
    barrier = threading.Barrier(len(SUFFIXES), timeout=10)

    def meet(**_: Any) -> None:
        barrier.wait()

    events = handler.get_service().storage.client.meta.events
    events.register("before-call.s3.PutObject", meet, unique_id="meet-all-puts")
    try:
        [result] = handler.lambda_handler(item.event, context)["results"]
    finally:
        events.unregister("before-call.s3.PutObject", unique_id="meet-all-puts")
    assert result["status"] == "processed", result
    assert not barrier.broken
    assert bucket_audit(rig.s3, [item])[1] == {"processed": 1}


def test_copy_source_if_match_is_enforced_like_s3(rig: Rig) -> None:
    """moto ignores x-amz-copy-source-if-match; the wire emulates S3's 412 so stale copies are caught."""
    from botocore.exceptions import ClientError

    s3 = rig.s3
    client = handler.get_service().storage.client
    s3.put_object(Bucket=BUCKET, Key="incoming/c.jpg", Body=b"one")
    with pytest.raises(ClientError) as error:
        client.copy_object(
            Bucket=BUCKET,
            Key="failed/c.jpg",
            CopySource={"Bucket": BUCKET, "Key": "incoming/c.jpg"},
            CopySourceIfMatch='"0123"',
        )
    assert error.value.response["Error"]["Code"] == "PreconditionFailed"
    etag = s3.head_object(Bucket=BUCKET, Key="incoming/c.jpg")["ETag"]
    client.copy_object(
        Bucket=BUCKET,
        Key="failed/c.jpg",
        CopySource={"Bucket": BUCKET, "Key": "incoming/c.jpg"},
        CopySourceIfMatch=etag,
    )
    assert s3.get_object(Bucket=BUCKET, Key="failed/c.jpg")["Body"].read() == b"one"

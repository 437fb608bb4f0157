"""Invariants 3-5 with threads against one moto bucket.

 3. a duplicate event (same key and ETag) is a successful no-op once the work is done;
 4. a stale event never overwrites renditions of a newer upload, and never deletes the newer original;
 5. two invocations of the same upload at the same moment end consistent: same renditions, one delete, no error.

moto in-process S3 does not promise that one request is applied atomically under threads; the `S3Wire`
serializes request processing server-side (as S3 does) while everything client-side runs concurrently. Every
PutObject the server applies is logged with its x-amz-meta-source-etag, so "no second write"
and "never overwrites a newer upload" are checked on the actual write history, not only on the end state.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import botocore.endpoint
import pytest

from image_optimizer import handler
from image_optimizer.aws.service import ImageService
from image_optimizer.aws.storage import S3Storage, make_s3_client
from tests.conftest import BUCKET, gradient, jpeg_bytes, png_bytes
from tests.faults.harness import (
    SUFFIXES,
    InstantSleep,
    S3Wire,
    Upload,
    bucket_audit,
    clone,
    failed_key,
    install_delete_guard,
    next_sequencer,
    rendition_keys,
    s3_event,
    snapshot,
    upload,
)

THREADS = 8


@dataclass
class Rig:
    s3: Any
    wire: S3Wire
    violations: list[str]
    checked: list[str]
    context: Any


@pytest.fixture(params=["shared-client", "client-per-container"])
def rig(request: pytest.FixtureRequest, s3: Any, context: Any) -> Iterator[Rig]:
    """shared-client: the handler's one cached service/client used by every thread (as the brief's container);
    client-per-container: each thread gets its own service and boto3 client, like concurrent Lambda containers.
    Patches are undone by this fixture itself, before `s3` tears down (an autouse fixture may have created the
    shared `monkeypatch` earlier, which would undo them only after `s3`'s teardown)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        wire = S3Wire(serialize=True)
        monkeypatch.setattr(botocore.endpoint, "time", InstantSleep())
        if request.param == "shared-client":
            wire.attach(handler.get_service().storage.client)
        else:
            local = threading.local()

            def per_thread_service() -> ImageService:
                if not hasattr(local, "service"):
                    local.service = ImageService(S3Storage(wire.attach(make_s3_client())), handler.settings)
                service: ImageService = local.service
                return service

            monkeypatch.setattr(handler, "get_service", per_thread_service)
        # Concurrent Lambda containers each have their own metrics; these threads share one process's Powertools
        # Metrics, whose add and flush are not thread-safe (one thread's flush can empty the set another is
        # serialising: "Must contain at least one metric"). One at a time, as in separate containers.
        metrics_lock = threading.RLock()
        for name in ("add_metric", "flush_metrics"):
            monkeypatch.setattr(
                handler.metrics.provider, name, one_at_a_time(metrics_lock, getattr(handler.metrics.provider, name))
            )
        # a little scheduling noise after each server answer, so the interleavings differ from run to run
        rng = random.Random(1234)
        wire.after.append(lambda *_: time.sleep(rng.random() * 0.002))
        violations, checked = install_delete_guard(wire, s3)
        yield Rig(s3, wire, violations, checked, context)
    assert not violations, violations


def one_at_a_time(lock: threading.RLock, function: Callable[..., Any]) -> Callable[..., Any]:
    def locked(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return function(*args, **kwargs)

    return locked


def invoke(rig: Rig, event: dict[str, Any]) -> dict[str, Any]:
    [result] = handler.lambda_handler(clone(event), rig.context)["results"]
    return dict(result)


def run_together(jobs: list[Callable[[], Any]]) -> list[Any]:
    """Start every job at the same instant (Barrier); re-raise nothing, return results or exceptions."""
    barrier = threading.Barrier(len(jobs))

    def run(job: Callable[[], Any]) -> Any:
        barrier.wait()
        try:
            return job()
        except BaseException as error:
            return error

    with ThreadPoolExecutor(len(jobs)) as pool:
        return list(pool.map(run, jobs))


def reference_renditions(rig: Rig, data: bytes, name: str) -> dict[str, bytes]:
    """What one clean, single run makes of `data` (by suffix), processed under another key."""
    item = upload(rig.s3, f"incoming/reference/{name}.png", data, "processed")
    assert invoke(rig, item.event)["status"] == "processed"
    out = {}
    for suffix, key in zip(SUFFIXES, rendition_keys(item.key), strict=True):
        out[suffix] = rig.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        rig.s3.delete_object(Bucket=BUCKET, Key=key)
    return out


def rendition_bytes(rig: Rig, key: str) -> dict[str, bytes]:
    return {
        suffix: rig.s3.get_object(Bucket=BUCKET, Key=rendition)["Body"].read()
        for suffix, rendition in zip(SUFFIXES, rendition_keys(key), strict=True)
    }


def assert_single_writes(rig: Rig, item: Upload) -> None:
    for key in rendition_keys(item.key):
        writes = rig.wire.applied("PutObject", key)
        assert len(writes) == 1, f"{key} written {len(writes)} times"
        assert writes[0].source_etag == item.etag
    assert len(rig.wire.applied("DeleteObject", item.key, status=204)) == 1  # the original deleted once


IMAGE = png_bytes(gradient(640, 400))
TEXT = b"just some text pretending to be a JPEG\n"


# --- invariant 3: duplicates ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["image", "text"])
def test_duplicate_event_after_success_is_a_no_op(kind: str, rig: Rig) -> None:
    s3 = rig.s3
    item = upload(s3, f"incoming/dup/seq.{'png' if kind == 'image' else 'jpg'}", IMAGE if kind == "image" else TEXT)
    first = invoke(rig, item.event)
    assert first["status"] == ("processed" if kind == "image" else "rejected")
    before = snapshot(s3, "")
    for _ in range(3):
        again = invoke(rig, item.event)
        assert again["status"] == "skipped", again
    assert snapshot(s3, "") == before  # same keys, ETags, bytes and metadata
    expected = "processed" if kind == "image" else "quarantined"
    assert bucket_audit(s3, [item])[1] == {expected: 1}
    if kind == "image":
        assert_single_writes(rig, item)
    else:
        assert len(rig.wire.applied("CopyObject", failed_key(item.key))) == 1
        assert rig.wire.applied("PutObject") == []


@pytest.mark.parametrize("round_", range(3))
def test_concurrent_duplicates_of_an_image(round_: int, rig: Rig) -> None:
    s3 = rig.s3
    reference = reference_renditions(rig, IMAGE, f"img{round_}")
    rig.wire.reset_log()
    item = upload(s3, f"incoming/dup/race{round_}.png", IMAGE, "processed")
    results = run_together([lambda: invoke(rig, item.event)] * THREADS)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    statuses = sorted(r["status"] for r in results)
    assert set(statuses) <= {"processed", "skipped"} and "processed" in statuses, statuses
    assert bucket_audit(s3, [item])[1] == {"processed": 1}
    assert rendition_bytes(rig, item.key) == reference  # identical to a single clean run
    assert_single_writes(rig, item)  # no second write at all, let alone one that changes bytes
    assert item.key in rig.checked


@pytest.mark.parametrize("round_", range(3))
def test_concurrent_duplicates_of_a_rejected_upload(round_: int, rig: Rig) -> None:
    s3 = rig.s3
    item = upload(s3, f"incoming/dup/bad{round_}.jpg", TEXT, "quarantined")
    results = run_together([lambda: invoke(rig, item.event)] * THREADS)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    statuses = {r["status"] for r in results}
    assert statuses <= {"rejected", "skipped"} and "rejected" in statuses, statuses
    assert bucket_audit(s3, [item])[1] == {"quarantined": 1}
    moved = s3.get_object(Bucket=BUCKET, Key=failed_key(item.key))
    assert moved["Body"].read() == TEXT and moved["Metadata"]["error-kind"] == "unsupported_format"
    assert len(rig.wire.applied("DeleteObject", item.key, status=204)) == 1
    assert rig.wire.applied("PutObject") == []


# --- invariant 4: stale events ---------------------------------------------------------------------------------

A_IMAGE = png_bytes(gradient(640, 400))
B_IMAGE = jpeg_bytes(gradient(300, 500), quality=92)  # visibly different renditions


def reupload(s3: Any, key: str, data: bytes) -> Upload:
    """The client uploads again at the same key: S3 sends a new event with a greater sequencer."""
    response = s3.put_object(Bucket=BUCKET, Key=key, Body=data)
    etag = response["ETag"].strip('"')
    return Upload(key, data, etag, s3_event(key, etag, len(data), next_sequencer()), "processed")


def assert_newer_wins(rig: Rig, newer: Upload, reference: dict[str, bytes]) -> None:
    """Renditions are the newer upload's, bytes included; no rendition ever went back to an older source."""
    s3 = rig.s3
    assert bucket_audit(s3, [newer])[1] == {"processed": 1}
    assert rendition_bytes(rig, newer.key) == reference
    for key in rendition_keys(newer.key):
        history = [w.source_etag for w in rig.wire.applied("PutObject", key)]
        assert newer.etag in history
        assert history[history.index(newer.etag) :] == [newer.etag], f"{key}: newer renditions overwritten {history}"


def test_stale_event_after_the_newer_upload_was_processed(rig: Rig) -> None:
    s3 = rig.s3
    reference = reference_renditions(rig, B_IMAGE, "b-seq")
    rig.wire.reset_log()
    old = upload(s3, "incoming/stale/seq.png", A_IMAGE)
    new = reupload(s3, old.key, B_IMAGE)
    assert invoke(rig, new.event)["status"] == "processed"
    before = snapshot(s3, "media/")
    stale = invoke(rig, old.event)
    assert stale["status"] == "skipped", stale
    assert snapshot(s3, "media/") == before
    assert_newer_wins(rig, new, reference)


def test_stale_event_while_the_newer_upload_waits(rig: Rig) -> None:
    s3 = rig.s3
    old = upload(s3, "incoming/stale/waiting.png", A_IMAGE)
    new = reupload(s3, old.key, B_IMAGE)
    stale = invoke(rig, old.event)
    assert stale["status"] == "skipped" and "stale" in stale["reason"]
    current = s3.get_object(Bucket=BUCKET, Key=new.key)
    assert current["ETag"].strip('"') == new.etag and current["Body"].read() == B_IMAGE  # newer original untouched
    assert snapshot(s3, "media/") == {}
    assert invoke(rig, new.event)["status"] == "processed"
    assert bucket_audit(s3, [new])[1] == {"processed": 1}


class Gate:
    """Once armed, pauses the first thread that gets `operation`'s answer for a key under `key_prefix` (the armed
    invocation's own thread, or one of its concurrent rendition writers), until released. Arm it only while no
    other invocation runs."""

    def __init__(self, wire: S3Wire, operation: str, key_prefix: str = "") -> None:
        self.operation, self.key_prefix = operation, key_prefix
        self.armed, self.reached, self.release = threading.Event(), threading.Event(), threading.Event()
        self._lock = threading.Lock()  # two writers may get their answers at once: one of them is first
        wire.after.append(self._hook)

    def arm(self) -> None:
        self.armed.set()

    def _hook(self, operation: str, key: str, status: int | None) -> None:
        with self._lock:
            first = (
                self.armed.is_set()
                and operation == self.operation
                and key.startswith(self.key_prefix)
                and not self.reached.is_set()
            )
            if first:
                self.reached.set()
        if first:
            assert self.release.wait(30), "gate never released"


def stale_in_background(rig: Rig, old: Upload, gate: Gate) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []

    def run() -> None:
        gate.arm()
        try:
            out.append(invoke(rig, old.event))
        except BaseException as error:
            out.append(error)

    thread = threading.Thread(target=run, name=f"stale-{old.etag[:6]}")
    thread.start()
    assert gate.reached.wait(30), "the stale invocation never reached the gate"
    return thread, out


@pytest.mark.parametrize(
    "pause_after,newer_runs",
    [
        ("GetObject", "before-release"),  # read A; B lands and is fully processed; A resumes
        ("GetObject", "after-release"),  # read A; B lands; A finishes; then B's event
        ("PutObject", "before-release"),  # A wrote its main rendition; B lands and is processed; A resumes
        ("GetObject", "racing"),  # read A; B lands; A and B run at the same time
    ],
)
def test_stale_event_that_read_the_old_upload_before_the_reupload(pause_after: str, newer_runs: str, rig: Rig) -> None:
    s3 = rig.s3
    reference = reference_renditions(rig, B_IMAGE, f"b-{pause_after}-{newer_runs}")
    rig.wire.reset_log()
    old = upload(s3, f"incoming/stale/{pause_after}-{newer_runs}.png", A_IMAGE)
    gate = Gate(rig.wire, pause_after, "media/" if pause_after == "PutObject" else "incoming/")
    thread, stale_out = stale_in_background(rig, old, gate)
    new = reupload(s3, old.key, B_IMAGE)
    new_out: list[Any] = []
    if newer_runs == "before-release":
        new_out.append(invoke(rig, new.event))
        gate.release.set()
        thread.join(30)
    elif newer_runs == "after-release":
        gate.release.set()
        thread.join(30)
        current = s3.get_object(Bucket=BUCKET, Key=new.key)  # the stale run must not have deleted B
        assert current["ETag"].strip('"') == new.etag and current["Body"].read() == B_IMAGE
        new_out.append(invoke(rig, new.event))
    else:
        racer = threading.Thread(target=lambda: new_out.append(invoke(rig, new.event)))
        racer.start()
        gate.release.set()
        thread.join(30)
        racer.join(30)
    assert not thread.is_alive()
    [stale_result] = stale_out
    assert not isinstance(stale_result, BaseException), stale_result
    assert stale_result["status"] in ("processed", "skipped"), stale_result
    assert [r["status"] for r in new_out] == ["processed"], new_out
    assert_newer_wins(rig, new, reference)


@pytest.mark.parametrize("round_", range(4))
def test_stale_and_new_events_racing(round_: int, rig: Rig) -> None:
    """Old and new event of the same key, plus duplicates of each, all released at once."""
    s3 = rig.s3
    reference = reference_renditions(rig, B_IMAGE, f"b-race{round_}")
    rig.wire.reset_log()
    old = upload(s3, f"incoming/stale/race{round_}.png", A_IMAGE)
    new = reupload(s3, old.key, B_IMAGE)
    jobs = [lambda: invoke(rig, old.event), lambda: invoke(rig, new.event)] * 3
    results = run_together(jobs)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    assert all(r["status"] == "skipped" for r in results[0::2]), results  # A's GET finds B: stale
    assert "processed" in {r["status"] for r in results[1::2]}
    assert_newer_wins(rig, new, reference)


# --- ordering without a sequencer (Batch Operations), within one LastModified second ------------------------------------------------------


def batch_event(key: str) -> dict[str, Any]:
    from urllib.parse import quote_plus

    from tests.conftest import EVENTS_DIR

    event: dict[str, Any] = json.loads((EVENTS_DIR / "s3-batch-operations-1.0.json").read_text())
    event["tasks"][0]["s3Key"] = quote_plus(key, safe="/")
    return event


def run_batch(rig: Rig, key: str) -> dict[str, Any]:
    response = handler.lambda_handler(batch_event(key), rig.context)
    [result] = response["results"]
    return dict(result)


@pytest.mark.parametrize("who_is_stale", ["stale-event-vs-batch", "stale-batch-vs-event"])
def test_stale_run_without_sequencer_same_second(who_is_stale: str, rig: Rig) -> None:
    """S3 Batch Operations tasks carry no sequencer, and LastModified has one-second resolution: a run that read
    an upload replaced within the same second must still lose to the newer upload (service._still_current)."""
    s3 = rig.s3
    reference = reference_renditions(rig, B_IMAGE, f"b-{who_is_stale}")
    rig.wire.reset_log()
    while time.time() % 1 > 0.3:  # start early in a second so A and B share their LastModified second
        time.sleep(0.01)
    key = f"incoming/stale/{who_is_stale}.png"
    old = upload(s3, key, A_IMAGE)
    old_modified = s3.head_object(Bucket=BUCKET, Key=key)["LastModified"]
    gate = Gate(rig.wire, "GetObject", "incoming/")
    out: list[Any] = []

    def stale() -> None:
        gate.arm()
        try:
            out.append(run_batch(rig, key) if who_is_stale == "stale-batch-vs-event" else invoke(rig, old.event))
        except BaseException as error:
            out.append(error)

    thread = threading.Thread(target=stale)
    thread.start()
    assert gate.reached.wait(30)
    new = reupload(s3, key, B_IMAGE)
    new_modified = s3.head_object(Bucket=BUCKET, Key=key)["LastModified"]
    if who_is_stale == "stale-batch-vs-event":
        assert invoke(rig, new.event)["status"] == "processed"
    else:
        assert run_batch(rig, key)["resultCode"] == "Succeeded"
    gate.release.set()
    thread.join(30)
    assert not isinstance(out[0], BaseException), out
    assert old_modified == new_modified  # same second: the premise of the bug
    assert_newer_wins(rig, new, reference)

"""Poison uploads: an upload whose every attempt crashed the process, ran out of memory or out of time ends in
FAILED_PREFIX by itself, like any other bad upload, without being decoded again.

Trigger=SQS: on the last receive the ingest queue allows (ApproximateReceiveCount >= MAX_RECEIVE_COUNT, the
queue's maxReceiveCount) the upload is quarantined. A crash sends every unfinished message of its batch back with
it, so a batch is worked in an order that lets the other uploads finish before the last receive: last receives
first (they never decode), then fresh messages, then by receive count; messages received equally often go by
message id, forwards on odd receives and backwards on even ones, so an upload behind the poison one in one
receive is ahead of it in the next (so MAX_RECEIVE_COUNT is at least 3: two receives that decode, then the
last). Trigger=S3: dead_letters.py reads Lambda's failure records instead."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ..errors import FailedEveryAttempt
from .objects import ObjectRef, Outcome
from .service import ImageService

REASON = "failed on every attempt (crash, out of memory or timeout)"


def receive_count(record: dict[str, Any]) -> int:
    """How many times SQS has handed this message out, this time included."""
    try:
        return int(record.get("attributes", {}).get("ApproximateReceiveCount", 1))
    except (TypeError, ValueError):
        return 1


def is_last_receive(record: dict[str, Any], max_receive_count: int) -> bool:
    return receive_count(record) >= max_receive_count


def delivery_order(records: list[dict[str, Any]], max_receive_count: int) -> list[dict[str, Any]]:
    """The SQS records in the order to work them (see the module's docstring)."""
    last = [record for record in records if is_last_receive(record, max_receive_count)]
    by_count: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        if not is_last_receive(record, max_receive_count):
            by_count[receive_count(record)].append(record)
    ordered = list(last)
    for count in sorted(by_count):
        ordered += sorted(by_count[count], key=lambda record: str(record.get("messageId", "")), reverse=count % 2 == 0)
    return ordered


def quarantine(service: ImageService, ref: ObjectRef) -> Outcome:
    """Move the upload the event names to FAILED_PREFIX with REASON, its body unread. A no-op once it has left
    its key: processed, moved, or replaced by a newer upload that has an event of its own."""
    settings = service.settings
    if not ref.key.startswith(settings.incoming_prefix) or ref.key.endswith("/"):
        return Outcome(
            "ignored", ref.bucket, ref.key, f"not an upload under INCOMING_PREFIX {settings.incoming_prefix!r}"
        )
    head = service.storage.held(ref.bucket, ref.key, ref.etag, ref.version_id)
    if head is None:
        return Outcome("skipped", ref.bucket, ref.key, "original no longer at its key (processed or moved)")
    # Moved undecoded, conditional on the ETag as S3 gives it (quoted)
    return service.rejections.reject(ref, head.etag, FailedEveryAttempt(REASON), ref.size or 0)

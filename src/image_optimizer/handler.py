"""Lambda entry point: detect the event's shape, hand each object to the service, report."""

from __future__ import annotations

from dataclasses import asdict
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from . import events
from .observability import logger, metrics, tracer
from .service import ImageService, ObjectRef, Outcome
from .settings import get_settings
from .storage import S3Storage, make_s3_client

settings = get_settings()  # a bad setting fails the cold start here, before any work


class RecordsFailed(Exception):
    """Some records hit transient errors; failing the invocation makes Lambda retry the event."""


@lru_cache(maxsize=1)
def get_service() -> ImageService:
    """Created on first use and kept for the container's life (one boto3 client per container)."""
    return ImageService(S3Storage(make_s3_client()), settings)


def parse_event(event: dict[str, Any]) -> list[events.Parsed]:
    if events.is_eventbridge(event):
        return events.from_eventbridge(event)
    return events.from_s3_notification(event)


@tracer.capture_method
def handle_ref(ref: ObjectRef) -> Outcome:
    logger.append_keys(bucket=ref.bucket, key=ref.key)
    try:
        outcome = get_service().process(ref)
    finally:
        logger.remove_keys(["bucket", "key"])
    record_outcome(outcome)
    return outcome


def record_outcome(outcome: Outcome) -> None:
    fields = {
        "bucket": outcome.bucket,
        "key": outcome.key,
        "status": outcome.status,
        "duration_ms": outcome.duration_ms,
    }
    if outcome.status == "processed":
        metrics.add_metric(name="ImagesProcessed", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="BytesIn", unit=MetricUnit.Bytes, value=outcome.bytes_in)
        metrics.add_metric(name="BytesOut", unit=MetricUnit.Bytes, value=outcome.bytes_out)
        logger.info(
            "processed",
            extra={
                **fields,
                "bytes_in": outcome.bytes_in,
                "bytes_out": outcome.bytes_out,
                "outputs": [output.key for output in outcome.outputs],
            },
        )
    elif outcome.status == "rejected":
        metrics.add_metric(name="ImagesRejected", unit=MetricUnit.Count, value=1)
        logger.warning(f"rejected: {outcome.reason}", extra={**fields, "error_kind": outcome.error_kind})
    else:
        logger.info(f"{outcome.status}: {outcome.reason}", extra=fields)


def process_all(parsed: list[events.Parsed]) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    failures: list[str] = []
    for item in parsed:
        if isinstance(item, events.Ignored):
            logger.info(f"ignored: {item.reason}", extra={"key": item.key})
            results.append({"status": "ignored", "key": item.key, "reason": item.reason})
            continue
        try:
            results.append(asdict(handle_ref(item)))
        except Exception as error:  # transient: keep going, then fail the invocation so the event is retried
            logger.exception("failed; the original stays in place for a retry", extra={"key": item.key})
            failures.append(f"{item.key}: {type(error).__name__}: {error}")
    if failures:
        raise RecordsFailed("; ".join(failures))
    return results


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(raise_on_empty_metrics=False)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return {"results": process_all(parse_event(event))}

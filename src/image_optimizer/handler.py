"""Lambda entry point: detect the event's shape, hand each object to the service, answer in that shape.

Shapes: S3 notification (direct), SQS carrying S3 notifications or EventBridge events (partial batch
responses), EventBridge "Object Created", S3 Batch Operations (schema 1.0 and 2.0)."""

from __future__ import annotations

from dataclasses import asdict
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from .aws import deadline, events, poison
from .aws.objects import ObjectRef, Outcome
from .aws.observability import logger, metrics, traced_handler
from .aws.service import ImageService
from .aws.storage import EventPublisher, S3Storage, make_s3_client
from .errors import FailedEveryAttempt
from .settings import get_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch import BatchProcessor
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

settings = get_settings()  # a bad setting fails the cold start here, before any work


class RecordsFailed(Exception):
    """Some records hit transient errors; failing the invocation (or the record) makes them come back."""


@lru_cache(maxsize=1)
def get_sqs_processor() -> BatchProcessor:
    """Powertools' batch utilities are imported only when an SQS batch arrives (cold-start cost)."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

    return BatchProcessor(event_type=EventType.SQS)


@lru_cache(maxsize=1)
def get_service() -> ImageService:
    """Created on first use and kept for the container's life (one boto3 client per container)."""
    publisher = EventPublisher(settings.event_bus_name) if settings.event_bus_name else None
    return ImageService(S3Storage(make_s3_client()), settings, publisher=publisher)


def handle_ref(ref: ObjectRef, quarantine: bool = False, *, rerender: bool = False) -> Outcome:
    """Process the upload; or (`quarantine`: a poison upload, poison.py) move it to FAILED_PREFIX undecoded; or
    (`rerender`: a Batch Operations task on an archived original, rerender.py) re-render it."""
    deadline.check()  # nothing starts past the invocation's stopping point
    logger.append_keys(bucket=ref.bucket, key=ref.key)
    try:
        if quarantine:
            outcome = poison.quarantine(get_service(), ref)
        elif rerender:
            from .aws.rerender import Rerenderer

            outcome = Rerenderer(get_service(), ref.bucket).task(ref)
        else:
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
        outputs = [output.key for output in outcome.outputs]
        logger.info(
            "processed",
            extra={**fields, "bytes_in": outcome.bytes_in, "bytes_out": outcome.bytes_out, "outputs": outputs},
        )
    elif outcome.status == "rejected":
        metrics.add_metric(name="ImagesRejected", unit=MetricUnit.Count, value=1)
        if outcome.error_kind == FailedEveryAttempt.kind:
            metrics.add_metric(name="PoisonUploads", unit=MetricUnit.Count, value=1)
        logger.warning(f"rejected: {outcome.reason}", extra={**fields, "error_kind": outcome.error_kind})
    else:
        logger.info(f"{outcome.status}: {outcome.reason}", extra=fields)


def process_all(parsed: list[events.Parsed], quarantine: bool = False) -> list[dict[str, Any]]:
    """Every record is tried; transient failures are collected and raised together at the end."""
    results: list[dict[str, Any]] = []
    failures: list[str] = []
    for item in parsed:
        if isinstance(item, events.Ignored):
            logger.info(f"ignored: {item.reason}", extra={"key": item.key})
            results.append({"status": "ignored", "key": item.key, "reason": item.reason})
            continue
        outcome = attempt(item, quarantine)
        if isinstance(outcome, Outcome):
            results.append(asdict(outcome))
        else:
            failures.append(f"{item.key}: {outcome}")
    if failures:
        metrics.add_metric(name="ImagesFailed", unit=MetricUnit.Count, value=len(failures))
        raise RecordsFailed("; ".join(failures))
    return results


def attempt(ref: ObjectRef, quarantine: bool = False, *, rerender: bool = False) -> Outcome | str:
    """The outcome, or a transient failure as one line (logged): the original stays, the event must come back."""
    try:
        return handle_ref(ref, quarantine, rerender=rerender)
    except (Exception, deadline.OutOfTime) as error:
        logger.exception("failed; the original stays in place for a retry", extra={"key": ref.key})
        return f"{type(error).__name__}: {error}"


def sqs_record_handler(record: SQSRecord) -> list[dict[str, Any]]:
    """One SQS message; raising marks only this message failed (it returns, then goes to the DLQ). On the last
    receive the queue allows, the upload is quarantined undecoded: every attempt before died (poison.py)."""
    last = poison.is_last_receive(record.raw_event, settings.max_receive_count)
    return process_all(events.from_sqs_body(record.body), quarantine=last)


def batch_operation(event: dict[str, Any]) -> dict[str, Any]:
    """S3 Batch Operations: one result per task. Rejections are permanent; anything else is retried."""
    from aws_lambda_powertools.utilities.data_classes.s3_batch_operation_event import (
        S3BatchOperationEvent,
        S3BatchOperationResponse,
        S3BatchOperationResponseRecord,
    )

    batch = S3BatchOperationEvent(event)
    response = S3BatchOperationResponse(batch.invocation_schema_version, batch.invocation_id, "PermanentFailure")
    failures = 0
    for task in batch.tasks:
        ref = events.from_batch_task(task)
        # A task naming an archive copy (rerender --manifest) re-renders that upload; only this path takes them.
        outcome = attempt(ref, rerender=bool(settings.archive_prefix) and ref.key.startswith(settings.archive_prefix))
        if not isinstance(outcome, Outcome):  # S3 Batch Operations retries a temporary failure
            response.add_result(S3BatchOperationResponseRecord(task.task_id, "TemporaryFailure", outcome))
            failures += 1
            continue
        code: Literal["Succeeded", "PermanentFailure"] = (
            "PermanentFailure" if outcome.status == "rejected" else "Succeeded"
        )
        detail = outcome.reason or ", ".join(output.key for output in outcome.outputs)
        response.add_result(S3BatchOperationResponseRecord(task.task_id, code, f"{outcome.status}: {detail}"[:1024]))
    if failures:  # the invocation succeeds (the job retries the task), so this metric is the signal of it
        metrics.add_metric(name="ImagesFailed", unit=MetricUnit.Count, value=failures)
    return response.asdict()


def dispatch(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if events.is_batch_operation(event):
        return batch_operation(event)
    if events.is_sqs(event):
        from aws_lambda_powertools.utilities.batch import process_partial_response

        event = {**event, "Records": poison.delivery_order(event["Records"], settings.max_receive_count)}
        return dict(
            process_partial_response(
                event=event, record_handler=sqs_record_handler, processor=get_sqs_processor(), context=context
            )
        )
    return {"results": process_all(events.from_message(event))}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(raise_on_empty_metrics=False)
@traced_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    with deadline.stop_before_timeout(context):  # a transient failure before Lambda's timeout, not a kill
        return dispatch(event, context)

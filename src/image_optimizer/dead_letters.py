"""Trigger=S3: the consumer of the dead-letter queue (its own function, `dead_letters.lambda_handler`).

With the direct trigger Lambda invokes the function asynchronously; after the retries, a failed event arrives
here as Lambda's failure record: the event itself (`requestPayload`) and how the last attempt ended
(`responsePayload`). When every attempt died (a crash, out of memory, Lambda's timeout) or stopped out of time
(deadline.py), the upload it names is a poison upload: moved to FAILED_PREFIX with poison.REASON, undecoded. Any
other failure (S3 errors past every retry, a broken deploy that cannot import) is not the upload's fault: the
record is kept, as is a record whose move fails; the queue's redrive takes what stays to the unresolved queue."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from .aws import events
from .aws.deadline import OutOfTime, StoppedEarly
from .aws.objects import ObjectRef
from .aws.observability import logger, metrics, traced_handler
from .handler import get_sqs_processor, handle_ref

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

# How an attempt ends when no Python code could report it (Lambda's errorType in the failure record).
DIED = {"Runtime.ExitError", "Runtime.OutOfMemory", "Sandbox.Timedout"}


class Unresolved(Exception):
    """The record is kept in the queue (its failure is not a poison upload's, or the move failed)."""


def died(failure: dict[str, Any], ref: ObjectRef) -> bool:
    """Did the attempts at this upload end the way a poison upload's do?"""
    response = failure.get("responsePayload")
    if not isinstance(response, dict) or failure.get("requestContext", {}).get("condition") != "RetriesExhausted":
        return False
    error_type = str(response.get("errorType", ""))
    message = str(response.get("errorMessage", ""))
    if error_type in DIED or "Task timed out" in message:
        return True
    # Stopped cleanly before the timeout: handler.RecordsFailed naming this one upload, only as out of time, or the
    # stop reached the invocation's edge (the event names this one upload).
    if error_type == StoppedEarly.__name__:
        return True
    return error_type == "RecordsFailed" and message.startswith(f"{ref.key}: {OutOfTime.__name__}:")


def named_upload(failure: dict[str, Any]) -> ObjectRef:
    payload = failure.get("requestPayload")
    if not isinstance(payload, dict):
        raise Unresolved("not a Lambda failure record (no requestPayload)")
    refs = [item for item in events.from_message(payload) if isinstance(item, ObjectRef)]
    if len(refs) != 1:  # S3 sends one record per event: several would leave unknown which one failed
        raise Unresolved(f"the event names {len(refs)} uploads; only a single upload is quarantined")
    return refs[0]


def record_handler(record: SQSRecord) -> list[dict[str, Any]]:
    try:
        return resolve(record)
    except Unresolved as error:
        logger.warning(f"kept: {error}", extra={"message_id": record.message_id})
        raise


def resolve(record: SQSRecord) -> list[dict[str, Any]]:
    failure = json.loads(record.body)
    if not isinstance(failure, dict):
        raise Unresolved("the message is not a JSON object")
    ref = named_upload(failure)
    response = failure.get("responsePayload") or {}
    if not died(failure, ref):
        raise Unresolved(f"{ref.key}: not a poison upload ({response.get('errorType', 'no error type')}); kept")
    return [asdict(handle_ref(ref, quarantine=True))]


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(raise_on_empty_metrics=False)
@traced_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Partial batch response: a kept record returns to the queue, every other one is done."""
    from aws_lambda_powertools.utilities.batch import process_partial_response

    return dict(
        process_partial_response(
            event=event, record_handler=record_handler, processor=get_sqs_processor(), context=context
        )
    )

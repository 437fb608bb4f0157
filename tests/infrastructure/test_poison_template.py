"""The template's side of poison uploads: Trigger=S3 gets a dead-letter consumer (its own function and role), the
unresolved queue for what it keeps, and both triggers an alarm on PoisonUploads."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from image_optimizer.dead_letters import lambda_handler
from tests.policy import DEAD_LETTER_OBJECT_GRANTS


def _statements(rendered, role: str) -> list[dict]:
    props = rendered.resources[role]["Properties"]
    return [stmt for policy in props["Policies"] for stmt in policy["PolicyDocument"]["Statement"]]


def test_s3_trigger_has_a_dead_letter_consumer(render) -> None:
    r = render(Trigger="S3")
    function = r.resources["DeadLetterFunction"]["Properties"]
    handler = function["Handler"]
    module, name = handler.rsplit(".", 1)
    assert (module, name) == ("image_optimizer.dead_letters", lambda_handler.__name__)
    assert function["Timeout"] == 30 and function["LoggingConfig"] == {"LogGroup": {"Ref": "DeadLetterLogGroup"}}
    env = function["Environment"]["Variables"]
    for name in ("INCOMING_PREFIX", "OUTPUT_PREFIX", "FAILED_PREFIX", "EVENT_BUS_NAME"):
        assert env[name] == r.function["Properties"]["Environment"]["Variables"][name], name

    esm = r.resources["DeadLetterEventSourceMapping"]["Properties"]
    assert esm["EventSourceArn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    assert esm["FunctionName"] == {"Ref": "DeadLetterFunction"}
    assert esm["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    dlq = r.resources["DeadLetterQueue"]["Properties"]
    assert dlq["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["UnresolvedQueue", "Arn"]}
    assert dlq["VisibilityTimeout"] >= 6 * function["Timeout"]
    assert r.resources["UnresolvedQueue"]["Properties"]["SqsManagedSseEnabled"] is True
    assert {"UnresolvedQueueUrl", "DeadLetterFunctionName"} <= set(r.outputs)


def test_sqs_trigger_has_no_consumer_the_last_receive_quarantines(render) -> None:
    r = render(Trigger="SQS")
    for absent in ("DeadLetterFunction", "DeadLetterEventSourceMapping", "UnresolvedQueue", "DeadLetterLogGroup"):
        assert absent not in r.resources
    assert "RedrivePolicy" not in r.resources["DeadLetterQueue"]["Properties"]


@pytest.mark.parametrize("event_bus", ["", "my-bus"])
def test_dead_letter_consumer_role_grants_exactly_what_it_needs(render, event_bus: str) -> None:
    r = render(Trigger="S3", EventBusName=event_bus)
    object_grants: dict[str, set[str]] = {}
    sqs = set()
    for stmt in _statements(r, "DeadLetterFunctionRole"):
        assert stmt["Effect"] == "Allow"
        actions = stmt["Action"]
        if all(action.startswith("sqs:") for action in actions):
            assert stmt["Resource"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
            sqs |= set(actions)
            continue
        if actions == ["s3:ListBucket"] or actions == ["events:PutEvents"]:
            continue
        for resource in stmt["Resource"]:
            fmt = resource["Fn::Sub"][0]
            match = re.fullmatch(r"arn:\$\{AWS::Partition\}:s3:::\$\{Name\}/\$\{(\w+)\}\*", fmt)
            assert match, fmt
            object_grants.setdefault(match[1], set()).update(actions)
    assert object_grants == DEAD_LETTER_OBJECT_GRANTS
    assert sqs == {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"}
    sids = {stmt.get("Sid") for stmt in _statements(r, "DeadLetterFunctionRole")}
    assert ("PublishEvents" in sids) is bool(event_bus)


@pytest.mark.parametrize("trigger", ["S3", "SQS"])
def test_poison_uploads_alarm(render, trigger: str) -> None:
    alarm = render(Trigger=trigger).resources["PoisonUploadsAlarm"]["Properties"]
    # Powertools' metrics carry the service dimension (observability.SERVICE)
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "image-optimizer"}]
    assert (alarm["MetricName"], alarm["Statistic"], alarm["Threshold"]) == ("PoisonUploads", "Sum", 0)

"""Static checks of template.yaml: lint/validate, both Trigger modes, IAM scoping, config."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from infra_helpers import (
    FUNCTION_ID,
    PROJECT_ROOT,
    TEMPLATE,
    load_template,
    tool_env,
    venv_tool,
)

from image_optimizer.settings import MAX_THREADS, SETTINGS
from tests.policy import ALLOWED_OBJECT_GRANTS

# Every setting the function reads, with the default settings.py declares: one source of truth.
EXPECTED_ENV_DEFAULTS = {setting.name: setting.default for setting in SETTINGS} | {"EVENT_BUS_NAME": ""}
POWERTOOLS_ENV = {
    "POWERTOOLS_SERVICE_NAME": "image-optimizer",
    "POWERTOOLS_METRICS_NAMESPACE": "ImageOptimizer",
    "POWERTOOLS_LOG_LEVEL": "INFO",
}


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=PROJECT_ROOT, env=tool_env(), capture_output=True, text=True, timeout=300)


# --------------------------------------------------------------------------- lint
def test_sam_validate_lint():
    sam = venv_tool("sam")
    assert sam, "sam CLI not found"
    proc = _run([sam, "validate", "--lint", "--template", str(TEMPLATE)])
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("trigger", ["S3", "SQS"])
def test_cfn_lint_per_trigger(trigger, tmp_path):
    """cfn-lint with the Trigger default switched, so each mode is linted as the deployed one."""
    cfn_lint = venv_tool("cfn-lint")
    assert cfn_lint, "cfn-lint not found"
    text = TEMPLATE.read_text()
    text, n = re.subn(r"(  Trigger:\n    Type: String\n    Default: )S3\n", rf"\g<1>{trigger}\n", text)
    assert n == 1
    path = tmp_path / "template.yaml"
    path.write_text(text)
    assert load_template(path)["Parameters"]["Trigger"]["Default"] == trigger
    proc = _run([cfn_lint, "--regions", "us-east-1", "eu-west-1", "--", str(path)])
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --------------------------------------------------------------------------- globals / function
def test_globals(template):
    fn = template["Globals"]["Function"]
    assert fn["Runtime"] == "python3.12"
    assert fn["Architectures"] == [{"Ref": "Architecture"}]
    assert fn["Tracing"] == "Active"
    assert fn["Timeout"] == {"Ref": "FunctionTimeout"}
    assert fn["MemorySize"] == {"Ref": "FunctionMemorySize"}
    assert fn["Environment"]["Variables"] == POWERTOOLS_ENV
    params = template["Parameters"]
    assert params["Architecture"]["Default"] == "arm64"
    assert sorted(params["Architecture"]["AllowedValues"]) == ["arm64", "x86_64"]
    assert params["FunctionMemorySize"]["Default"] == 1024
    assert params["FunctionTimeout"]["Default"] == 60
    quality = re.compile(params["FixedJpegQuality"]["AllowedPattern"])
    assert [value for value in ("", "1", "9", "10", "85", "95") if not quality.fullmatch(value)] == []
    assert [value for value in ("0", "96", "100", "08", "high") if quality.fullmatch(value)] == []
    assert (params["QualityTarget"]["MinValue"], params["QualityTarget"]["MaxValue"]) == (50, 95)
    assert params["JpegEncoder"]["AllowedValues"] == ["auto", "pillow"]
    formats = re.compile(params["ExtraFormats"]["AllowedPattern"])
    assert all(formats.fullmatch(value) for value in ("", "webp", "avif", "webp,avif", "avif,webp"))
    assert not any(
        formats.fullmatch(value) for value in ("webp,webp", "avif,avif", "jxl", "webp,")
    )  # cold-start errors
    assert "JpegQuality" not in params  # renamed: upgraded stacks would re-send their old fixed 85
    threads = re.compile(params["PipelineThreads"]["AllowedPattern"])
    accepted = ["auto", *map(str, range(1, MAX_THREADS + 1))]
    assert [value for value in ("0", str(MAX_THREADS + 1), "10", "Auto", "") if threads.fullmatch(value)] == []
    assert all(threads.fullmatch(value) for value in accepted)


def test_function_environment_defaults(render):
    r = render()
    props = r.function["Properties"]
    env = props["Environment"]["Variables"]
    resolved = {k: (r.params[v["Ref"]] if isinstance(v, dict) else v) for k, v in env.items()}
    assert resolved == {**POWERTOOLS_ENV, **EXPECTED_ENV_DEFAULTS}
    assert props["Handler"] == "image_optimizer.handler.lambda_handler"
    assert props["Runtime"] == "python3.12"
    assert props["Architectures"] == [{"Ref": "Architecture"}]
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["RecursiveLoop"] == "Terminate"
    assert props["LoggingConfig"] == {"LogGroup": {"Ref": "FunctionLogGroup"}}
    assert len(props["Layers"]) == 1
    log_group = r.resources["FunctionLogGroup"]["Properties"]
    assert log_group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert r.params["LogRetentionDays"] == "30"


def test_layer(render, template):
    layers = render().of_type("AWS::Lambda::LayerVersion")
    assert len(layers) == 1
    (layer,) = layers.values()
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.12"]
    assert layer["Properties"]["CompatibleArchitectures"] == [{"Ref": "Architecture"}]
    meta = template["Resources"]["PillowLayer"]["Metadata"]
    assert meta == {"BuildMethod": "makefile", "BuildArchitecture": {"Ref": "Architecture"}}
    assert template["Resources"][FUNCTION_ID]["Metadata"]["BuildMethod"] == "makefile"


@pytest.mark.parametrize("value,expected", [("", False), ("0", False), ("5", True)])
def test_reserved_concurrency_optional(render, value, expected):
    props = render(ReservedConcurrency=value).function["Properties"]
    assert ("ReservedConcurrentExecutions" in props) is expected


# --------------------------------------------------------------------------- bucket
def test_bucket_hardening(render):
    r = render()
    bucket = r.resources["Bucket"]["Properties"]
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    sse = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    rules = {rule["Id"]: rule for rule in bucket["LifecycleConfiguration"]["Rules"]}
    failed = rules["expire-failed-uploads"]
    assert failed["Prefix"] == {"Ref": "FailedPrefix"}
    assert failed["ExpirationInDays"] == {"Ref": "FailedRetentionDays"}
    assert r.params["FailedRetentionDays"] == "30"

    (policy,) = r.of_type("AWS::S3::BucketPolicy").values()
    (deny,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert len(deny["Resource"]) == 2


@pytest.mark.parametrize(
    "params,expected",
    [
        ({}, None),  # no archive: no rule
        ({"ArchivePrefix": "originals/"}, None),  # kept in its storage class for good: no rule needed
        ({"ArchiveExpirationDays": "365"}, None),  # no archive: its parameters do nothing
        (
            {"ArchivePrefix": "originals/", "ArchiveTransitionDays": "90", "ArchiveExpirationDays": "3650"},
            {
                "Transitions": [
                    {
                        "StorageClass": {"Ref": "ArchiveTransitionStorageClass"},
                        "TransitionInDays": {"Ref": "ArchiveTransitionDays"},
                    }
                ],
                "ExpirationInDays": {"Ref": "ArchiveExpirationDays"},
            },
        ),
        (
            {"ArchivePrefix": "originals/", "ArchiveExpirationDays": "30"},
            {"ExpirationInDays": {"Ref": "ArchiveExpirationDays"}},
        ),
    ],
)
def test_archive_lifecycle_rule_and_trigger(render, params, expected):
    r = render(**params)
    rules = {rule["Id"]: rule for rule in r.resources["Bucket"]["Properties"]["LifecycleConfiguration"]["Rules"]}
    rule = rules.get("archive-transition-and-expiry")
    if expected is None:
        assert rule is None
    else:
        assert rule == {
            "Id": "archive-transition-and-expiry",
            "Status": "Enabled",
            "Prefix": {"Ref": "ArchivePrefix"},
            **expected,
        }
    env = r.function["Properties"]["Environment"]["Variables"]
    assert env["ARCHIVE_PREFIX"] == {"Ref": "ArchivePrefix"}
    assert env["ARCHIVE_STORAGE_CLASS"] == {"Ref": "ArchiveStorageClass"}
    # The trigger stays on the incoming prefix: the archive prefix never invokes the function.
    notification = json.dumps(r.resources["Bucket"]["Properties"]["NotificationConfiguration"])
    assert "ArchivePrefix" not in notification and '"Ref": "IncomingPrefix"' in notification


def test_browser_upload_cors_only_for_named_origins(render):
    assert "CorsConfiguration" not in render().resources["Bucket"]["Properties"]
    origins = "https://www.example.com,http://127.0.0.1:8000"
    (rule,) = render(UploadOrigins=origins).resources["Bucket"]["Properties"]["CorsConfiguration"]["CorsRules"]
    assert rule["AllowedMethods"] == ["POST"]  # presigned POST uploads; reads go through presigned GET URLs
    assert rule["AllowedOrigins"] == {"Fn::Split": [",", {"Ref": "UploadOrigins"}]}


@pytest.mark.parametrize("name,expected", [("", "computed"), ("my-images", "my-images")])
def test_bucket_name(render, name, expected):
    r = render(BucketName=name)
    value = r.resources["Bucket"]["Properties"]["BucketName"]
    if expected == "computed":
        # lowercase literal + account + region + first block of the (lowercase) stack UUID
        assert "Fn::Join" in value
        assert "AWS::StackName" not in json.dumps(value)
    else:
        assert value == {"Ref": "BucketName"}


# --------------------------------------------------------------------------- triggers
def _prefix_filter(config):
    return config["Filter"]["S3Key"]["Rules"]


def test_trigger_s3(render):
    r = render(Trigger="S3")
    notif = r.resources["Bucket"]["Properties"]["NotificationConfiguration"]
    assert set(notif) == {"LambdaConfigurations"}
    (cfg,) = notif["LambdaConfigurations"]
    assert cfg["Event"] == "s3:ObjectCreated:*"
    assert cfg["Function"] == {"Fn::GetAtt": [FUNCTION_ID, "Arn"]}
    assert _prefix_filter(cfg) == [{"Name": "prefix", "Value": {"Ref": "IncomingPrefix"}}]

    perm = r.resources["S3InvokePermission"]["Properties"]
    assert perm["Principal"] == "s3.amazonaws.com"
    assert perm["SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert "SourceArn" in perm
    # the bucket must wait for the permission (S3 validates the target on PutBucketNotification)
    assert r.resources["Bucket"]["Metadata"]["NotificationTargetReady"] == {"Ref": "S3InvokePermission"}

    eic = r.resources["FunctionEventInvokeConfig"]["Properties"]
    assert eic["MaximumRetryAttempts"] == 2
    assert eic["MaximumEventAgeInSeconds"] == 3600
    assert eic["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}

    for absent in ("IngestQueue", "IngestQueuePolicy", "IngestEventSourceMapping"):
        assert absent not in r.resources
    assert "IngestQueueUrl" not in r.outputs
    # the only event source mapping reads the dead-letter queue, for the dead-letter consumer (poison uploads)
    assert set(r.of_type("AWS::Lambda::EventSourceMapping")) == {"DeadLetterEventSourceMapping"}
    sids = {s.get("Sid") for s in r.role_statements}
    assert "OnFailureDestination" in sids and "ConsumeIngestQueue" not in sids


def test_trigger_sqs(render):
    r = render(Trigger="SQS")
    notif = r.resources["Bucket"]["Properties"]["NotificationConfiguration"]
    assert set(notif) == {"QueueConfigurations"}
    (cfg,) = notif["QueueConfigurations"]
    assert cfg["Event"] == "s3:ObjectCreated:*"
    assert cfg["Queue"] == {"Fn::GetAtt": ["IngestQueue", "Arn"]}
    assert _prefix_filter(cfg) == [{"Name": "prefix", "Value": {"Ref": "IncomingPrefix"}}]
    assert r.resources["Bucket"]["Metadata"]["NotificationTargetReady"] == {"Ref": "IngestQueuePolicy"}

    queue = r.resources["IngestQueue"]["Properties"]
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
        "maxReceiveCount": {"Ref": "MaxReceiveCount"},
    }
    assert r.params["MaxReceiveCount"] == "5"
    # the function learns the same count: on that receive it quarantines the upload (poison.py)
    assert r.function["Properties"]["Environment"]["Variables"]["MAX_RECEIVE_COUNT"] == {"Ref": "MaxReceiveCount"}
    assert queue["VisibilityTimeout"] == {"Fn::FindInMap": ["QueueVisibility", {"Ref": "FunctionTimeout"}, "Seconds"]}

    qp = r.resources["IngestQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    allow = next(s for s in qp if s["Effect"] == "Allow")
    assert allow["Principal"] == {"Service": "s3.amazonaws.com"}
    assert allow["Action"] == "sqs:SendMessage"
    assert set(allow["Condition"]) == {"ArnEquals", "StringEquals"}
    assert "aws:SourceArn" in allow["Condition"]["ArnEquals"]
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}

    esm = r.resources["IngestEventSourceMapping"]["Properties"]
    assert esm["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert esm["BatchSize"] == {"Ref": "BatchSize"}
    assert esm["MaximumBatchingWindowInSeconds"] == {"Ref": "MaximumBatchingWindowInSeconds"}
    assert r.params["BatchSize"] == "10" and r.params["MaximumBatchingWindowInSeconds"] == "5"

    for absent in ("S3InvokePermission", "FunctionEventInvokeConfig"):
        assert absent not in r.resources
    assert "IngestQueueUrl" in r.outputs
    sids = {s.get("Sid") for s in r.role_statements}
    assert "ConsumeIngestQueue" in sids and "OnFailureDestination" not in sids


def test_queue_visibility_is_six_times_timeout(template):
    allowed = template["Parameters"]["FunctionTimeout"]["AllowedValues"]
    mapping = template["Mappings"]["QueueVisibility"]
    assert {str(t) for t in allowed} == set(mapping)
    for timeout in allowed:
        assert mapping[str(timeout)]["Seconds"] == 6 * timeout
        assert mapping[str(timeout)]["Seconds"] <= 43200


@pytest.mark.parametrize("trigger", ["S3", "SQS"])
def test_alarms_and_outputs(render, trigger):
    r = render(Trigger=trigger)
    alarms = r.of_type("AWS::CloudWatch::Alarm")
    metrics = {a["Properties"]["MetricName"]: a["Properties"] for a in alarms.values()}
    assert metrics["Errors"]["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": FUNCTION_ID}}]
    # what needs a person: with Trigger=S3 the dead-letter consumer drains the DLQ, and what it keeps waits here
    waiting = "UnresolvedQueue" if trigger == "S3" else "DeadLetterQueue"
    assert metrics["ApproximateNumberOfMessagesVisible"]["Dimensions"][0]["Value"] == {
        "Fn::GetAtt": [waiting, "QueueName"]
    }
    assert metrics["PoisonUploads"]["Namespace"] == "ImageOptimizer"
    for props in metrics.values():
        assert props["Threshold"] == 0 and props["ComparisonOperator"] == "GreaterThanThreshold"
        assert "AlarmActions" not in props  # AlarmTopicArn empty by default
    with_topic = render(Trigger=trigger, AlarmTopicArn="arn:aws:sns:us-east-1:123456789012:alerts")
    for alarm in with_topic.of_type("AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopicArn"}]
    assert {"BucketName", "FunctionArn", "DeadLetterQueueUrl"} <= set(r.outputs)


# --------------------------------------------------------------------------- IAM
def _sub_template(resource) -> str:
    """The format string of a `!Sub [fmt, {...}]` / `!Sub fmt` resource."""
    assert isinstance(resource, dict) and "Fn::Sub" in resource, resource
    sub = resource["Fn::Sub"]
    return sub[0] if isinstance(sub, list) else sub


@pytest.mark.parametrize("trigger", ["S3", "SQS"])
@pytest.mark.parametrize("event_bus", ["", "my-bus"])
@pytest.mark.parametrize("archive", ["", "originals/"])
def test_function_policy_is_prefix_scoped(render, trigger, event_bus, archive):
    r = render(Trigger=trigger, EventBusName=event_bus, ArchivePrefix=archive)
    role = r.resources[f"{FUNCTION_ID}Role"]["Properties"]
    # only the SAM-added managed policies (logs + X-Ray), nothing granting S3
    for arn in role["ManagedPolicyArns"]:
        name = arn if isinstance(arn, str) else json.dumps(arn)
        assert name.endswith(("AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess")), name

    object_grants: dict[str, set[str]] = {}
    for stmt in r.role_statements:
        assert stmt["Effect"] == "Allow"
        actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
        resources = stmt["Resource"] if isinstance(stmt["Resource"], list) else [stmt["Resource"]]
        assert "*" not in resources, stmt
        s3_actions = [a for a in actions if a.lower().startswith("s3:")]
        assert all("*" not in a for a in actions), stmt
        if not s3_actions:
            continue
        assert len(s3_actions) == len(actions), "do not mix S3 and other services in a statement"
        for res in resources:
            fmt = _sub_template(res)
            if s3_actions == ["s3:ListBucket"]:
                assert fmt == "arn:${AWS::Partition}:s3:::${Name}", fmt
                continue
            m = re.fullmatch(r"arn:\$\{AWS::Partition\}:s3:::\$\{Name\}/\$\{(\w+)\}\*", fmt)
            assert m, f"object resource not scoped to a prefix parameter: {fmt}"
            object_grants.setdefault(m.group(1), set()).update(s3_actions)
            # bucket name computed, never a Ref/GetAtt of the bucket (would be circular)
            assert 'Bucket"' not in json.dumps(res["Fn::Sub"][1]).replace("BucketName", "")

    # An empty ArchivePrefix would make `${Name}/${ArchivePrefix}*` the whole bucket: no grant at all then.
    assert object_grants == {k: v for k, v in ALLOWED_OBJECT_GRANTS.items() if archive or k != "ArchivePrefix"}

    sids = {s.get("Sid") for s in r.role_statements}
    assert ("PublishEvents" in sids) is bool(event_bus)
    if event_bus:
        stmt = next(s for s in r.role_statements if s.get("Sid") == "PublishEvents")
        assert stmt["Action"] == ["events:PutEvents"]
        assert _sub_template(stmt["Resource"]).endswith(":event-bus/${EventBusName}")


def test_prefixes_only_come_from_parameters(template):
    """No hard-coded prefix outside the parameter defaults: policy, trigger and lifecycle follow them."""
    body = {k: v for k, v in template.items() if k != "Parameters"}
    text = json.dumps(body)
    for literal in ("incoming/", "media/", "failed/"):
        assert literal not in text, literal


def test_make_deploy_passes_extra_parameters():
    """`make deploy PARAMS=...` (shown in the README; deploying needs AWS) hands them to sam deploy."""
    plan = subprocess.run(
        ["make", "-n", "deploy", "PARAMS=EventBusName=default UploadOrigins=https://www.example.com"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert (
        "sam deploy --parameter-overrides Architecture=arm64 Trigger=S3 EventBusName=default"
        " UploadOrigins=https://www.example.com" in plan
    )

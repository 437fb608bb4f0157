"""checkov over template.yaml, offline (--skip-download), as deployed with either trigger: no failed check, and
every check the template skips says why in one line (`Metadata: checkov: skip:` of the resource)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from infra_helpers import PROJECT_ROOT, TEMPLATE, load_template, tool_env

# Its own venv (requirements/checkov.txt): checkov's pins conflict with the project's (boto3, packaging, networkx).
CHECKOV = PROJECT_ROOT / ".venv" / "checkov" / "bin" / "checkov"


def scan(trigger: str, tmp_path: Path) -> dict:
    assert CHECKOV.exists(), f"{CHECKOV} missing: run `make install` (requirements/checkov.txt)"
    text, count = re.subn(
        r"(  Trigger:\n    Type: String\n    Default: )S3\n", rf"\g<1>{trigger}\n", TEMPLATE.read_text()
    )
    assert count == 1
    path = tmp_path / "template.yaml"
    path.write_text(text)
    assert load_template(path)["Parameters"]["Trigger"]["Default"] == trigger
    command = [str(CHECKOV), "-f", str(path), "--framework", "cloudformation", "--skip-download", "-o", "json"]
    proc = subprocess.run(command, env=tool_env(), capture_output=True, text=True, timeout=300, check=False)
    report = json.loads(proc.stdout)
    assert report["summary"]["parsing_errors"] == 0, proc.stdout
    return report


@pytest.mark.parametrize("trigger", ["S3", "SQS"])
def test_checkov_finds_nothing_unexplained(trigger: str, tmp_path: Path) -> None:
    report = scan(trigger, tmp_path)
    results = report["results"]
    failed = [f"{check['check_id']} {check['resource']}" for check in results["failed_checks"]]
    assert failed == [], f"checkov failures without a checkov:skip reason: {failed}"
    assert report["summary"]["passed"] >= 11
    for check in results["skipped_checks"]:
        comment = check["check_result"].get("suppress_comment") or ""
        assert len(comment) > 20 and "\n" not in comment, f"{check['check_id']} {check['resource']}: no reason"
    skipped = {(check["check_id"], check["resource"].split(".")[-1]) for check in results["skipped_checks"]}
    # The scan covers the resources of this trigger: both functions' and every queue's checks ran.
    queues = {"DeadLetterQueue", "IngestQueue"} if trigger == "SQS" else {"DeadLetterQueue"}
    assert {resource for check_id, resource in skipped if check_id == "CKV_AWS_27"} >= queues


def test_queues_skipped_for_kms_are_encrypted_with_sse_sqs(template: dict) -> None:
    """The reason given for CKV_AWS_27 holds: every queue has server-side encryption."""
    queues = {name: res for name, res in template["Resources"].items() if res["Type"] == "AWS::SQS::Queue"}
    assert len(queues) >= 2
    assert {name: res["Properties"].get("SqsManagedSseEnabled") for name, res in queues.items()} == dict.fromkeys(
        queues, True
    )


def test_versioning_and_access_logging_are_parameters(render) -> None:
    bucket = render().resources["Bucket"]["Properties"]
    assert "VersioningConfiguration" not in bucket and "LoggingConfiguration" not in bucket
    rules = {rule["Id"]: rule for rule in bucket["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-noncurrent-versions"]["Status"] == "Disabled"

    opted = render(BucketVersioning="Enabled", AccessLogBucketName="my-logs").resources["Bucket"]["Properties"]
    assert opted["VersioningConfiguration"] == {"Status": "Enabled"}
    assert opted["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": "AccessLogBucketName"}
    rules = {rule["Id"]: rule for rule in opted["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-noncurrent-versions"]["Status"] == "Enabled"

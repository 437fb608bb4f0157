"""`python -m image_optimizer rerender --bucket B [...]`: re-render every archived upload with the current
settings (rerender.py), with progress and a summary; or `--manifest FILE.csv` for an S3 Batch Operations job."""

from __future__ import annotations

import argparse
import csv
import json
import shlex
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TextIO
from urllib.parse import quote

from . import USAGE_ERROR

if TYPE_CHECKING:  # imported when the command runs: the parser is built for every command
    from ..aws.rerender import Result
    from ..aws.storage import Listed
    from ..settings import Settings

SUMMARY = ("re-rendered", "unchanged", "pruned", "failed")
BAR_WIDTH = 30


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rerender = commands.add_parser(
        "rerender", help="re-render every upload kept under ARCHIVE_PREFIX with the current settings"
    )
    rerender.add_argument("--bucket", required=True)
    rerender.add_argument("--endpoint-url", help="an S3-compatible server instead of AWS")
    rerender.add_argument("--prefix", default="", help="only uploads under this prefix inside ARCHIVE_PREFIX")
    rerender.add_argument("--prune", action="store_true", help="remove renditions the settings no longer name")
    rerender.add_argument(
        "--from-main",
        action="store_true",
        help="uploads without an archive copy: derive the renditions no larger than their main image from it",
    )
    rerender.add_argument("--json", action="store_true", help="one JSON line per upload, then one with the summary")
    rerender.add_argument(
        "--manifest",
        type=Path,
        metavar="FILE.csv",
        help="write an S3 Batch Operations manifest instead, and print the command that starts the job",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ..aws.backlog import Backlog, RestoreFirst
    from ..aws.rerender import Rerenderer
    from ..aws.service import ImageService
    from ..aws.storage import S3Storage, make_s3_client

    if not settings.archive_prefix and not args.from_main:
        print("error: ARCHIVE_PREFIX is not set: no originals are kept (see --from-main)", file=sys.stderr)
        return USAGE_ERROR
    service = ImageService(S3Storage(make_s3_client(args.endpoint_url)), settings)
    rerenderer = Rerenderer(service, args.bucket)
    backlog = Backlog(service.storage, settings, args.bucket)
    try:
        archived = backlog.archived(args.prefix) if settings.archive_prefix else []
        backlog.refuse_unrestored(archived)
    except RestoreFirst as refusal:
        print(f"error: {refusal}", file=sys.stderr)
        return USAGE_ERROR
    except Exception as error:  # the listing: no such bucket, no credentials, access denied
        print(f"error: cannot list s3://{args.bucket}/{settings.archive_prefix}{args.prefix}: {error}", file=sys.stderr)
        return USAGE_ERROR
    if args.manifest:
        write_manifest(args.manifest, args.bucket, archived)
        print_job_command(args.manifest, args.bucket, len(archived))
        return 0
    work: list[tuple[str, Callable[[], Result]]] = [
        (item.key, partial(rerenderer.rerender, item.key, etag=item.etag, prune=args.prune)) for item in archived
    ]
    if args.from_main:
        work += [(main, partial(rerenderer.from_main, main, prune=args.prune)) for main in backlog.mains(args.prefix)]
    counts: Counter[str] = Counter()
    progress = Progress(len(work), sys.stderr, as_json=args.json)
    for done, (key, job) in enumerate(work, 1):
        result = attempt(key, job)
        counts[result.status] += 1
        counts["pruned"] += len(result.pruned)
        counts["listed"] += len(result.unnamed) - len(result.pruned)
        progress.update(done, result)
    progress.close()
    print_summary(counts, as_json=args.json, prune=args.prune)
    return 1 if counts["failed"] else 0


def attempt(key: str, job: Callable[[], Result]) -> Result:
    """One upload; whatever goes wrong is that upload's failure, and the run goes on."""
    from ..aws.rerender import Result
    from ..aws.storage import NeedsRestore

    try:
        return job()
    except NeedsRestore:
        return Result(key, key, "failed", reason="in DEEP_ARCHIVE and not restored")
    except Exception as error:
        return Result(key, key, "failed", reason=f"{type(error).__name__}: {error}")


class Progress:
    """A bar on a terminal; with --json, one JSON line per upload on stdout; else one line per upload."""

    def __init__(self, total: int, stream: TextIO, *, as_json: bool) -> None:
        self.total, self.stream, self.as_json = total, stream, as_json
        self.bar = not as_json and stream.isatty()

    def update(self, done: int, result: Result) -> None:
        if self.as_json:
            print(json.dumps(asdict(result), separators=(",", ":")), flush=True)
        elif self.bar:
            filled = BAR_WIDTH * done // max(1, self.total)
            line = f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{self.total} {result.key[-40:]}"
            self.stream.write(line.ljust(BAR_WIDTH + 60))
            self.stream.flush()
        else:
            detail = f" ({result.reason})" if result.reason else ""
            print(f"{done}/{self.total} {result.status}: {result.key}{detail}", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar:
            self.stream.write("\n")


def print_summary(counts: Counter[str], *, as_json: bool, prune: bool) -> None:
    rows = {name: counts[name] for name in SUMMARY}
    extra = {"skipped": counts["skipped"], "no longer named, kept": counts["listed"]}
    rows |= {name: value for name, value in extra.items() if value}
    if as_json:
        print(json.dumps({"summary": rows}, separators=(",", ":")))
        return
    width = max(len(name) for name in rows)
    for name, value in rows.items():
        print(f"{name:<{width}}  {value:>7}")
    if counts["listed"] and not prune:
        print("renditions no longer named are kept: run again with --prune to remove them")


def write_manifest(path: Path, bucket: str, items: list[Listed]) -> None:
    """S3 Batch Operations' CSV manifest: `bucket,key` per line, keys URL-encoded (as its user guide asks)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as file:
        writer = csv.writer(file, lineterminator="\n")
        for item in items:
            writer.writerow([bucket, quote(item.key, safe="/")])


def print_job_command(path: Path, bucket: str, count: int) -> None:
    """The commands that upload the manifest and start the job (they need AWS). The tasks name archive keys,
    which the function's Batch Operations path takes as re-render tasks (handler.py)."""
    manifest_key = f"batch/{path.name}"
    etag = f"$(aws s3api head-object --bucket {bucket} --key {manifest_key} --query ETag --output text | tr -d '\"')"
    operation = {"LambdaInvoke": {"FunctionArn": "$FUNCTION_ARN", "InvocationSchemaVersion": "2.0"}}
    manifest = {
        "Spec": {"Format": "S3BatchOperations_CSV_20180820", "Fields": ["Bucket", "Key"]},
        "Location": {"ObjectArn": f"arn:aws:s3:::{bucket}/{manifest_key}", "ETag": "$MANIFEST_ETAG"},
    }
    report = {
        "Bucket": f"arn:aws:s3:::{bucket}",
        "Prefix": "batch/reports",
        "Format": "Report_CSV_20180820",
        "Enabled": True,
        "ReportScope": "FailedTasksOnly",
    }

    def quoted_json(value: object) -> str:
        """JSON in single quotes, with the shell variables spliced in."""
        text = json.dumps(value, separators=(",", ":"))
        for variable in ("$FUNCTION_ARN", "$MANIFEST_ETAG"):
            text = text.replace(variable, f"'\"{variable}\"'")
        return f"'{text}'"

    print(f"wrote {path}: {count} archived uploads. To re-render them with S3 Batch Operations (needs AWS):")
    print(f"aws s3 cp {shlex.quote(str(path))} s3://{bucket}/{manifest_key}")
    print(f'MANIFEST_ETAG="{etag}"')
    print(
        'aws s3control create-job --account-id "$ACCOUNT"'
        f" --operation {quoted_json(operation)} --manifest {quoted_json(manifest)} --report {quoted_json(report)}"
        ' --priority 10 --role-arn "$BATCH_ROLE_ARN" --no-confirmation-required'
    )
    print("# $ACCOUNT: your account id; $FUNCTION_ARN: the stack output FunctionArn; $BATCH_ROLE_ARN: a role")
    print("# S3 Batch Operations can assume, with lambda:InvokeFunction on it (docs/operations.md, Backfilling)")

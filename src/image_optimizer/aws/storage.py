"""The only module that talks to S3 (boto3). Conditional requests keep stale work from clobbering new uploads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from urllib3.exceptions import HTTPError

from .download import Download

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CopySourceTypeDef

# Transient S3 errors (SlowDown, 5xx, throttles, timeouts, resets) are retried here with backoff; past that the
# call raises and the invocation fails, so Lambda retries the event.
RETRY_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5},
    connect_timeout=5,
    read_timeout=30,
)
# What a GET's body raises when the transfer breaks off (botocore's read timeouts, streaming and length errors,
# urllib3's protocol errors, socket errors): download.ReadFailed, to be retried, never a bad image.
BODY_READ_ERRORS: tuple[type[BaseException], ...] = (BotoCoreError, HTTPError, OSError)
_GONE = {"NoSuchKey", "404", "NotFound", "NoSuchVersion"}
# The object is not what a condition expected. 409 ConditionalRequestConflict: another conditional write to the
# key was in flight; S3 asks to retry, which for the caller is the same as a 412: look again and re-decide.
_PRECONDITION = {"PreconditionFailed", "412", "ConditionalRequestConflict"}
_ARCHIVED = {"InvalidObjectState"}  # a GET of a DEEP_ARCHIVE (or GLACIER) object that is not restored


class ObjectGone(Exception):
    """The object (or that version of it) no longer exists."""


class ObjectChanged(Exception):
    """The object at the key is no longer the one the event announced (ETag mismatch)."""


class ObjectTooLarge(Exception):
    """Over the byte limit, found without downloading the body; carries which upload that was."""

    def __init__(self, size: int, etag: str, version_id: str | None) -> None:
        super().__init__(f"{size} bytes")
        self.size, self.etag, self.version_id = size, etag, version_id


class NeedsRestore(Exception):
    """The object is in DEEP_ARCHIVE (or GLACIER) and not restored: it cannot be read until it is."""


@dataclass(frozen=True)
class StoredObject:
    body: Download
    etag: str
    version_id: str | None
    content_type: str | None
    last_modified: str = ""
    metadata: dict[str, str] = field(default_factory=dict)  # the upload's user metadata (x-amz-meta-*)


@dataclass(frozen=True)
class ObjectHead:
    etag: str
    metadata: dict[str, str]
    version_id: str | None = None
    size: int | None = None
    storage_class: str = "STANDARD"  # S3 names the class only when it is another
    restore: str | None = None  # x-amz-restore of an archived object: `ongoing-request="false", expiry-date=...`


@dataclass(frozen=True)
class Listed:
    key: str
    etag: str
    size: int
    storage_class: str
    last_modified: str


def make_s3_client(endpoint_url: str | None = None) -> S3Client:
    """One client per container; botocore itself honours AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_S3."""
    # A session of its own: boto3's default session caches the credentials it first resolved, for the process.
    client: S3Client = boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=RETRY_CONFIG)
    return client


def quoted(etag: str) -> str:
    return etag if etag.startswith('"') else f'"{etag}"'


def _error_code(error: ClientError) -> str:
    code = error.response.get("Error", {}).get("Code", "")
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code or str(status)


def _translate(error: ClientError) -> Exception:
    code = _error_code(error)
    if code in _GONE:
        return ObjectGone(code)
    if code in _PRECONDITION:
        return ObjectChanged(code)
    if code in _ARCHIVED:
        return NeedsRestore(code)
    return error


class S3Storage:
    def __init__(self, client: S3Client) -> None:
        self.client = client

    def open(self, bucket: str, key: str, *, etag: str | None, version_id: str | None, max_bytes: int) -> StoredObject:
        """Start reading the exact upload the event names: by version when known, else conditional on its ETag.
        Its body arrives as it is read (`Download`); the caller closes it."""
        request: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version_id:
            request["VersionId"] = version_id
        elif etag:
            request["IfMatch"] = quoted(etag)
        try:
            response = self.client.get_object(**request)
        except ClientError as error:
            raise _translate(error) from error
        body = response["Body"]
        size = response.get("ContentLength", 0)
        if size > max_bytes:
            body.close()
            raise ObjectTooLarge(size, response["ETag"], response.get("VersionId"))
        modified = response.get("LastModified")
        return StoredObject(
            Download(body, size, BODY_READ_ERRORS),
            response["ETag"],
            response.get("VersionId"),
            response.get("ContentType"),
            modified.isoformat() if modified else "",
            dict(response.get("Metadata", {})),
        )

    def put(
        self,
        bucket: str,
        key: str,
        data: bytes,
        *,
        content_type: str,
        cache_control: str,
        metadata: dict[str, str],
        replacing: str | None,
    ) -> None:
        """Write only over the object we last saw: `replacing` its ETag, or (None) only while the key is free."""
        condition: dict[str, Any] = {"IfMatch": replacing} if replacing else {"IfNoneMatch": "*"}
        try:
            self.client.put_object(
                Bucket=bucket,
                Key=key,
                Body=data,
                ContentType=content_type,
                CacheControl=cache_control,
                Metadata=metadata,
                **condition,
            )
        except ClientError as error:
            raise _translate(error) from error

    def head(self, bucket: str, key: str) -> ObjectHead | None:
        try:
            response = self.client.head_object(Bucket=bucket, Key=key)
        except ClientError as error:
            translated = _translate(error)
            if isinstance(translated, ObjectGone):
                return None
            raise translated from error
        return ObjectHead(
            response["ETag"],
            dict(response.get("Metadata", {})),
            response.get("VersionId"),
            response.get("ContentLength"),
            response.get("StorageClass") or "STANDARD",
            response.get("Restore"),
        )

    def held(self, bucket: str, key: str, etag: str | None, version_id: str | None) -> ObjectHead | None:
        """The object at `key` when it is this upload (this version, or else this ETag, quoted or not as events
        give it; with neither, whatever is there); None when the key holds another upload or nothing."""
        head = self.head(bucket, key)
        if head is None:
            return None
        if version_id:
            return head if head.version_id == version_id else None
        return head if not etag or head.etag == quoted(etag) else None

    def holds(self, bucket: str, key: str, etag: str | None, version_id: str | None) -> bool:
        """Is this upload still the object at its key (held)? Deleted counts as no."""
        return self.held(bucket, key, etag, version_id) is not None

    def list(self, bucket: str, prefix: str) -> Iterator[Listed]:
        """Every object under `prefix`, page by page (the re-render command; the function's role cannot list)."""
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                modified = item.get("LastModified")
                yield Listed(
                    item["Key"],
                    item.get("ETag", ""),
                    item.get("Size", 0),
                    item.get("StorageClass") or "STANDARD",
                    modified.isoformat() if modified else "",
                )

    def copy(
        self,
        bucket: str,
        source_key: str,
        target_key: str,
        *,
        etag: str | None,
        version_id: str | None,
        metadata: dict[str, str],
        content_type: str | None = None,
        storage_class: str | None = None,
        replacing: str | None = None,
        only_if_free: bool = False,
    ) -> None:
        """Server-side copy of exactly that upload, with new metadata (REPLACE drops the Content-Type unless
        it is given again). `replacing` (an ETag) or `only_if_free`: only over that object, or only while the
        target key is free, as `put` (S3 answers 412 or 409 otherwise, raised as ObjectChanged)."""
        source: CopySourceTypeDef = {"Bucket": bucket, "Key": source_key}
        request: dict[str, Any] = {"ContentType": content_type} if content_type else {}
        if storage_class:
            request["StorageClass"] = storage_class
        if replacing:
            request["IfMatch"] = quoted(replacing)
        elif only_if_free:
            request["IfNoneMatch"] = "*"
        if version_id:
            source["VersionId"] = version_id
        elif etag:
            request["CopySourceIfMatch"] = quoted(etag)
        try:
            self.client.copy_object(
                Bucket=bucket,
                Key=target_key,
                CopySource=source,
                MetadataDirective="REPLACE",
                Metadata=metadata,
                # Without the upload's tags: copying them needs s3:GetObjectTagging and s3:PutObjectTagging,
                # which the role does not hold (a tagged upload would fail every attempt).
                TaggingDirective="REPLACE",
                **request,
            )
        except ClientError as error:
            raise _translate(error) from error

    def delete(self, bucket: str, key: str, *, etag: str | None) -> None:
        """Delete the key only while it still holds the upload that was processed (`If-Match` on its ETag).
        On a versioned bucket this leaves a delete marker: deleting the version itself would make an older
        upload of the key current again, to be processed over the newer one's renditions."""
        request: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if etag:
            request["IfMatch"] = quoted(etag)
        try:
            self.client.delete_object(**request)
        except ClientError as error:
            raise _translate(error) from error


class PublishFailed(Exception):
    """EventBridge did not accept the completion event (transient: the invocation is retried)."""


class EventPublisher:
    """Completion events on an EventBridge bus. The client is created at the first event, so a function
    without EVENT_BUS_NAME (or a cold start before any upload) never pays for it."""

    SOURCE = "image-optimizer"

    def __init__(self, bus_name: str, client: Any = None) -> None:
        self.bus_name = bus_name
        self._client = client

    def publish(self, detail_type: str, detail: dict[str, Any], resources: list[str]) -> None:
        if self._client is None:
            self._client = make_client("events")
        entry = {
            "EventBusName": self.bus_name,
            "Source": self.SOURCE,
            "DetailType": detail_type,
            "Detail": json.dumps(detail, separators=(",", ":")),
            "Resources": resources,
        }
        response = self._client.put_events(Entries=[entry])
        if response.get("FailedEntryCount"):
            failure = response["Entries"][0]
            raise PublishFailed(f"{detail_type}: {failure.get('ErrorCode')} {failure.get('ErrorMessage')}")


def make_client(service: str, endpoint_url: str | None = None) -> Any:
    """Clients other than S3 (EventBridge; SQS of the local tooling), so boto3 stays imported here only."""
    return boto3.session.Session().client(service, endpoint_url=endpoint_url, config=RETRY_CONFIG)  # type: ignore[call-overload]

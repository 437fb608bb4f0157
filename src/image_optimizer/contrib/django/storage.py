"""A django-storages S3 backend that writes raw uploads to INCOMING_PREFIX and names files by their renditions."""

from __future__ import annotations

import contextlib
import posixpath
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import ClientError
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured, SuspiciousFileOperation, SuspiciousOperation
from django.core.files.base import File
from django.core.files.utils import validate_file_name
from django.utils.crypto import get_random_string
from storages.backends.s3 import S3Storage
from storages.utils import ReadBytesWrapper, clean_name, safe_join

from ...imaging.crop import FOCUS_METADATA, format_focus
from ...settings import SETTINGS
from ...specs import MAIN, ThumbnailSpec, parse_extra_formats, parse_thumbnails, rendition_name, stem_of

_DEFAULTS = {setting.name: setting for setting in SETTINGS}
# Storage option -> (Django setting, the function's setting it must agree with).
PREFIX_OPTIONS = {
    "incoming_prefix": ("IMAGE_OPTIMIZER_INCOMING_PREFIX", "INCOMING_PREFIX"),
    "output_prefix": ("IMAGE_OPTIMIZER_OUTPUT_PREFIX", "OUTPUT_PREFIX"),
    "failed_prefix": ("IMAGE_OPTIMIZER_FAILED_PREFIX", "FAILED_PREFIX"),
}
NAME_ATTEMPTS = 100
WRITE_ATTEMPTS = 3  # a raw key written meanwhile by a client that does not claim names: choose again
CLAIM_SUFFIX = "claim"
_LOST_RACE = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}


def _django_setting(name: str, default: Any) -> Any:
    return getattr(django_settings, name, default)


class IncomingImageStorage(S3Storage):
    """Saving writes the raw bytes to `<incoming_prefix><path>/<name>` and returns the final name
    `<path>/<stem>.jpg`, which is what the model stores; every read (`url`, `open`, `exists`, `size`) is of the
    rendition under `<output_prefix>`, and `delete` removes all renditions (and a still pending original).

    Names are unique across the incoming, output and failed prefixes: a new upload never replaces another's
    pending original, renditions or quarantined file. Each stem is claimed atomically (`claim_key`) and the raw
    write itself is conditional (If-None-Match), so concurrent uploads never share a name either.
    Objects get no ACL: the bucket stays private and `url()` presigns (AWS_QUERYSTRING_AUTH, the default).

    One class past the size guide, on purpose: Django calls a storage through its own methods (get_available_name,
    save, url, exists, open, size, listdir, delete), and each of them here is a few lines over the naming rule."""

    def get_default_settings(self) -> dict[str, Any]:
        defaults: dict[str, Any] = super().get_default_settings()
        for option, (django_name, function_name) in PREFIX_OPTIONS.items():
            defaults[option] = _django_setting(django_name, _DEFAULTS[function_name].default)
        defaults["thumbnails"] = _django_setting("IMAGE_OPTIMIZER_THUMBNAILS", _DEFAULTS["THUMBNAILS"].default)
        defaults["extra_formats"] = _django_setting("IMAGE_OPTIMIZER_EXTRA_FORMATS", _DEFAULTS["EXTRA_FORMATS"].default)
        defaults["file_overwrite"] = False
        defaults["default_acl"] = None
        return defaults

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        if self.location:
            raise ImproperlyConfigured(
                "IncomingImageStorage: leave `location` (AWS_LOCATION) empty; "
                "use incoming_prefix / output_prefix (IMAGE_OPTIMIZER_*_PREFIX), the same values as the function's"
            )
        for option, (django_name, function_name) in PREFIX_OPTIONS.items():
            try:
                _DEFAULTS[function_name].parse(getattr(self, option))
            except ValueError:
                raise ImproperlyConfigured(
                    f"IncomingImageStorage: {option} ({django_name}) = {getattr(self, option)!r}: "
                    f"expected {_DEFAULTS[function_name].accepted}, as the function's {function_name}"
                ) from None
        try:
            specs = self.thumbnails if isinstance(self.thumbnails, tuple) else parse_thumbnails(self.thumbnails)
        except ValueError as error:
            raise ImproperlyConfigured(
                f"IncomingImageStorage: thumbnails (IMAGE_OPTIMIZER_THUMBNAILS) = {self.thumbnails!r}: {error}"
            ) from None
        self.thumbnail_specs: tuple[ThumbnailSpec, ...] = specs
        try:
            extras = (
                parse_extra_formats(",".join(self.extra_formats))
                if isinstance(self.extra_formats, list | tuple)
                else parse_extra_formats(self.extra_formats)
            )
        except ValueError as error:
            raise ImproperlyConfigured(
                f"IncomingImageStorage: extra_formats (IMAGE_OPTIMIZER_EXTRA_FORMATS) = {self.extra_formats!r}:"
                f" {error}; expected {_DEFAULTS['EXTRA_FORMATS'].accepted}, as the function's EXTRA_FORMATS"
            ) from None
        self.formats: tuple[str, ...] = ("jpeg", *extras)  # what the function writes for every rendition

    # ---- the naming rule, shared with the function (image_optimizer.specs) ----

    @property
    def rendition_names(self) -> tuple[str, ...]:
        return (MAIN, *(spec.name for spec in self.thumbnail_specs))

    def final_name(self, upload_name: str) -> str:
        """`photos/cat.png` -> `photos/cat.jpg`: the name of the main rendition, relative to output_prefix."""
        return rendition_name(stem_of(clean_name(upload_name)), MAIN)

    def rendition_key(self, name: str, rendition: str = MAIN, fmt: str = "jpeg") -> str:
        """Bucket key of a rendition of a stored (final) name, as JPEG or one of the configured extra formats;
        raises ValueError for an unknown rendition or format."""
        if rendition not in self.rendition_names:
            raise ValueError(f"unknown rendition {rendition!r}; configured: {', '.join(self.rendition_names)}")
        if fmt not in self.formats:
            raise ValueError(f"format {fmt!r} is not written; configured: {', '.join(self.formats)}")
        return self._key(self.output_prefix, rendition_name(stem_of(clean_name(name)), rendition, fmt))

    def incoming_key(self, upload_name: str) -> str:
        return self._key(self.incoming_prefix, clean_name(upload_name))

    def _key(self, prefix: str, name: str) -> str:
        try:
            return str(safe_join(prefix, name))
        except ValueError:
            raise SuspiciousOperation(f"Attempted access to {name!r} outside {prefix!r} denied.") from None

    # ---- choosing and claiming a name ----

    def claim_key(self, upload_name: str) -> str:
        """`<output_prefix><path>/<stem>.claim`: an empty object created with If-None-Match, so exactly one upload
        gets a stem however many race for it (whatever their extensions). It outlives a rejected upload's
        expiring failed/ copy, so a stored name is never handed out again until `delete()` frees it."""
        return self._key(self.output_prefix, f"{stem_of(clean_name(upload_name))}.{CLAIM_SUFFIX}")

    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        """A raw upload name that is free now (see `is_free`); `max_length` bounds the final name (what the model
        stores). No side effects: `save` and `presigned_post` use `claim_available_name`."""
        return self._available_name(name, max_length, claim=False)

    def claim_available_name(self, name: str, max_length: int | None = None) -> str:
        """As get_available_name, and the name's stem is now claimed for this upload (`claim_key`)."""
        return self._available_name(name, max_length, claim=True)

    def _available_name(self, name: str, max_length: int | None, *, claim: bool) -> str:
        name = clean_name(str(name))
        directory, file_name = posixpath.split(name)
        if ".." in PurePosixPath(directory).parts:
            raise SuspiciousFileOperation(f"Detected path traversal attempt in {directory!r}")
        validate_file_name(file_name)
        root, extension = posixpath.splitext(file_name)
        suffix = ""
        for _ in range(NAME_ATTEMPTS):
            base = root
            candidate = posixpath.join(directory, base + suffix + extension)
            excess = 0 if max_length is None else len(self.final_name(candidate)) - max_length
            if excess > 0:  # trim the original part, never the random suffix
                if excess >= len(base):
                    raise SuspiciousFileOperation(f"no name for {name!r} fits max_length={max_length}")
                candidate = posixpath.join(directory, base[:-excess] + suffix + extension)
            if self.is_free(candidate) and (not claim or self._claim(candidate)):
                return candidate
            suffix = f"_{get_random_string(7)}"
        raise SuspiciousFileOperation(f"no free name for {name!r} after {NAME_ATTEMPTS} attempts")

    def is_free(self, upload_name: str) -> bool:
        stem = stem_of(upload_name)
        suffixes = [f"_{spec.name}" for spec in self.thumbnail_specs]
        if any(stem.endswith(suffix) for suffix in suffixes):
            return False  # its main rendition would be another upload's thumbnail
        clashing = {stem, *(stem + suffix for suffix in suffixes)}
        prefixes = (self.incoming_prefix, self.output_prefix, self.failed_prefix)
        return not any(next(self._keys_of(prefix, stem, clashing), None) for prefix in prefixes)

    def _claim(self, upload_name: str) -> bool:
        return self._put_new(self.claim_key(upload_name), b"", {"ContentType": "application/x-empty"})

    def _release(self, upload_name: str) -> None:
        with contextlib.suppress(ClientError):
            self.connection.meta.client.delete_object(Bucket=self.bucket_name, Key=self.claim_key(upload_name))

    def _put_new(self, key: str, body: Any, params: dict[str, Any]) -> bool:
        """PutObject only if the key is new (If-None-Match: *); False when another writer got there first."""
        try:
            self.connection.meta.client.put_object(
                Bucket=self.bucket_name, Key=key, Body=body, IfNoneMatch="*", **params
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _LOST_RACE:
                return False
            raise
        return True

    def _keys_of(self, prefix: str, stem: str, stems: set[str]) -> Iterator[str]:
        """Keys under `prefix` whose stem is one of `stems` (all of which start with `stem`), lazily listed."""
        paginator = self.connection.meta.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket_name, Prefix=self._key(prefix, stem)):
            for item in page.get("Contents", ()):
                if stem_of(item["Key"][len(prefix) :]) in stems:
                    yield item["Key"]

    # ---- writing: raw bytes to incoming/ ----

    def save(
        self, name: str | None, content: Any, max_length: int | None = None, *, focus: tuple[float, float] | None = None
    ) -> str:
        """As Storage.save, but the stored name is the final one, and a raw key taken meanwhile by a client that
        does not claim names (a plain PUT) means another name, not an overwrite. `focus` (or a `focus` attribute
        on `content`, which is how a model field's save can carry one): the subject's point (x, y), fractions
        0-1 of the upright image, that every cropped thumbnail keeps (x-amz-meta-focus)."""
        if name is None:
            name = content.name
        focus = focus if focus is not None else getattr(content, "focus", None)
        metadata = (
            {FOCUS_METADATA: format_focus(focus)} if focus is not None else {}
        )  # a bad point fails before any write
        if not hasattr(content, "chunks"):
            content = File(content, name)
        validate_file_name(name, allow_relative_path=True)
        for _ in range(WRITE_ATTEMPTS):
            name = self.claim_available_name(name, max_length=max_length)
            try:
                written = self._write_original(name, content, metadata)
            except BaseException:
                self._release(name)  # the upload never happened: its name must not stay reserved
                raise
            if written:
                final = self.final_name(name)
                validate_file_name(final, allow_relative_path=True)
                return final
        raise SuspiciousFileOperation(f"could not write a new original for {name!r} in {WRITE_ATTEMPTS} attempts")

    def _save(self, name: str, content: Any) -> str:
        if not self._write_original(name, content):
            raise FileExistsError(f"{self.incoming_key(name)} already exists")
        return self.final_name(name)

    def _write_original(self, name: str, content: Any, metadata: dict[str, str] | None = None) -> bool:
        key = self.incoming_key(name)
        params = self._get_write_parameters(key, content)
        params.pop("ACL", None)  # never public: the bucket serves presigned URLs only
        if metadata:
            params["Metadata"] = {**params.get("Metadata", {}), **metadata}
        content.seek(0)
        return self._put_new(key, ReadBytesWrapper(content), params)

    # ---- reading: the main rendition under output_prefix ----

    def url(self, name: str, parameters: Any = None, expire: Any = None, http_method: Any = None) -> str:
        return self.rendition_url(name, MAIN, parameters, expire, http_method)

    def rendition_url(
        self,
        name: str,
        rendition: str,
        parameters: Any = None,
        expire: Any = None,
        http_method: Any = None,
        *,
        fmt: str = "jpeg",
    ) -> str:
        return str(super().url(self.rendition_key(name, rendition, fmt), parameters, expire, http_method))

    def exists(self, name: str) -> bool:
        return bool(super().exists(self.rendition_key(name)))

    def _open(self, name: str, mode: str = "rb") -> Any:
        return super()._open(self.rendition_key(name), mode)

    def size(self, name: str) -> int:
        return int(super().size(self.rendition_key(name)))

    def get_modified_time(self, name: str) -> Any:
        return super().get_modified_time(self.rendition_key(name))

    def listdir(self, name: str) -> tuple[list[str], list[str]]:
        directories, files = super().listdir(self._key(self.output_prefix, clean_name(name)))
        return directories, [file for file in files if not file.endswith(f".{CLAIM_SUFFIX}")]

    def head(self, key: str) -> dict[str, Any] | None:
        """HeadObject's answer for a bucket key, or None when nothing is there."""
        try:
            return dict(self.connection.meta.client.head_object(Bucket=self.bucket_name, Key=key))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    # ---- progress of one upload ----

    def is_ready(self, name: str) -> bool:
        """Every rendition exists (one HEAD each; true by the time the function announces ImageOptimized)."""
        return all(super(IncomingImageStorage, self).exists(key) for key in self.rendition_keys(name))

    def rendition_keys(self, name: str) -> list[str]:
        """Every object the function writes for this name: each rendition in JPEG and every extra format."""
        return [self.rendition_key(name, rendition, fmt) for fmt in self.formats for rendition in self.rendition_names]

    def pending_originals(self, name: str) -> list[str]:
        """Keys in incoming/ with this name's stem: uploads the function has not finished yet."""
        return self._originals(self.incoming_prefix, name)

    def rejection(self, name: str) -> tuple[str, str] | None:
        """(quarantined key, reason) when the upload behind this name was moved to failed/, else None."""
        stem = stem_of(clean_name(name))
        key = next(self._keys_of(self.failed_prefix, stem, {stem}), None)
        if key is None:
            return None
        metadata = self.connection.meta.client.head_object(Bucket=self.bucket_name, Key=key)["Metadata"]
        return key, unquote(metadata.get("reason", "rejected"))

    def _originals(self, prefix: str, name: str) -> list[str]:
        stem = stem_of(clean_name(name))
        return list(self._keys_of(prefix, stem, {stem}))

    def delete(self, name: str) -> None:
        """Every rendition of the name, its original if it is still waiting in incoming/, and its claim (the name
        is free again afterwards). S3 answers 200 with per-key errors: any of them raises."""
        doomed = [*self.rendition_keys(name), *self.pending_originals(name), self.claim_key(name)]
        response = self.connection.meta.client.delete_objects(
            Bucket=self.bucket_name, Delete={"Objects": [{"Key": key} for key in doomed], "Quiet": True}
        )
        if response.get("Errors"):
            failures = ", ".join(f"{error['Key']}: {error.get('Code')}" for error in response["Errors"])
            raise OSError(f"could not delete {failures}")

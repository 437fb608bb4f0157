"""The one Logger, Metrics and Tracer of the service (Powertools).

The Tracer pulls in the X-Ray SDK (~150 ms of imports), so it is created on the first invocation, not at
import: the cold start's init phase stays close to a bare `import boto3`."""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from aws_lambda_powertools import Logger, Metrics

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

SERVICE = "image-optimizer"
Handler = TypeVar("Handler", bound=Callable[..., Any])
_P = ParamSpec("_P")
_T = TypeVar("_T")

# An ignored or skipped record publishes no metric; that is expected, not worth a warning per invocation.
warnings.filterwarnings("ignore", message="No application metrics to publish")

logger = Logger(service=SERVICE)
metrics = Metrics(namespace="ImageOptimizer", service=SERVICE)


@functools.lru_cache(maxsize=1)
def get_tracer() -> Tracer:
    from aws_lambda_powertools import Tracer

    return Tracer(service=SERVICE)


def traced_handler(handler: Handler) -> Handler:
    """`tracer.capture_lambda_handler`, with the Tracer made on first call."""

    @functools.lru_cache(maxsize=1)
    def wrapped() -> Callable[..., Any]:
        return get_tracer().capture_lambda_handler(handler, capture_response=False)

    @functools.wraps(handler)
    def call(*args: Any, **kwargs: Any) -> Any:
        return wrapped()(*args, **kwargs)

    return call  # type: ignore[return-value]


def in_this_trace(function: Callable[_P, _T]) -> Callable[_P, _T]:
    """`function`, to run on another thread inside the calling thread's current X-Ray segment or subsegment. The
    SDK keeps that per thread: without this, the S3 calls of the service's writer threads would hang off the
    invocation's segment instead of the handler's subsegment. Unchanged when this process traces nothing."""
    if not get_tracer.cache_info().currsize or get_tracer().disabled:
        return function
    from aws_xray_sdk.core import xray_recorder

    entity = xray_recorder.get_trace_entity()

    def traced(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            xray_recorder.set_trace_entity(entity)
        except Exception:  # tracing must never fail the work: run it untraced
            return function(*args, **kwargs)
        try:
            return function(*args, **kwargs)
        finally:
            with contextlib.suppress(Exception):
                xray_recorder.clear_trace_entities()

    return traced

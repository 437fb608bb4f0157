"""The one Logger, Metrics and Tracer of the service (Powertools).

The Tracer pulls in the X-Ray SDK (~150 ms of imports), so it is created on the first invocation, not at
import: the cold start's init phase stays close to a bare `import boto3`."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools import Logger, Metrics

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

SERVICE = "image-optimizer"
Handler = TypeVar("Handler", bound=Callable[..., Any])

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

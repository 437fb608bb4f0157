"""The one Logger, Metrics and Tracer of the service (Powertools)."""

from __future__ import annotations

import warnings

from aws_lambda_powertools import Logger, Metrics, Tracer

# An ignored or skipped record publishes no metric; that is expected, not worth a warning per invocation.
warnings.filterwarnings("ignore", message="No application metrics to publish")

SERVICE = "image-optimizer"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace="ImageOptimizer", service=SERVICE)
tracer = Tracer(service=SERVICE)

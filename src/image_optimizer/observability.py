"""The one Logger, Metrics and Tracer of the service (Powertools)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "image-optimizer"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace="ImageOptimizer", service=SERVICE)
tracer = Tracer(service=SERVICE)

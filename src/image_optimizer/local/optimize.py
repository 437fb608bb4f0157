"""`python -m image_optimizer optimize INPUT... --out DIR [--json]`: the pipeline on local files."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ..errors import ImageRejected
from ..imaging.pipeline import optimize
from ..specs import PipelineConfig, rendition_name


def optimize_files(inputs: list[Path], out: Path, config: PipelineConfig) -> list[dict[str, Any]]:
    """Write each input's renditions under the naming rule; one report per input, in order."""
    out.mkdir(parents=True, exist_ok=True)
    reports = []
    for path in inputs:
        report: dict[str, Any] = {"input": str(path), "ok": False, "error": None, "renditions": []}
        try:
            result = optimize(path.read_bytes(), config)
        except ImageRejected as rejection:
            report["error"] = {"kind": rejection.kind, "message": rejection.message}
            print(f"{path}: rejected ({rejection.kind}): {rejection.message}", file=sys.stderr)
        else:
            report["ok"] = True
            for rendition in result.renditions:
                target = out / rendition_name(path.stem, rendition.name, rendition.format)
                target.write_bytes(rendition.data)
                report["renditions"].append(
                    {
                        "name": rendition.name,
                        "path": str(target),
                        "width": rendition.width,
                        "height": rendition.height,
                        "bytes": len(rendition.data),
                        "format": rendition.format,
                    }
                )
        reports.append(report)
    return reports


def print_table(reports: list[dict[str, Any]]) -> None:
    for report in reports:
        if not report["ok"]:
            print(f"{report['input']}: rejected: {report['error']['message']}")
            continue
        for rendition in report["renditions"]:
            print(
                f"{report['input']} -> {rendition['path']} {rendition['width']}x{rendition['height']} {rendition['bytes']} B"
            )


def run_optimize(inputs: list[Path], out: Path, *, as_json: bool, config: PipelineConfig) -> int:
    reports = optimize_files(inputs, out, config)
    if as_json:
        json.dump(reports, sys.stdout, indent=2)
        print()
    else:
        print_table(reports)
    return 0 if all(report["ok"] for report in reports) else 1

"""Helpers for the deployment (template / build) tests (imported by path, see conftest.py).

Everything here works offline: the SAM transform runs locally through samtranslator and the
CloudFormation conditions / Fn::If / AWS::NoValue are evaluated by a small resolver below, so
the tests can assert what CloudFormation would create for a given set of parameter values.
"""

from __future__ import annotations

import copy
import os
import shutil
import sys
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = PROJECT_ROOT / "template.yaml"
FUNCTION_ID = "ImageOptimizerFunction"
LAYER_ID = "PillowLayer"


def venv_tool(name: str) -> str | None:
    """A console script next to the running interpreter (the project venv), else on PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    return shutil.which(name)


def tool_env() -> dict[str, str]:
    env = dict(os.environ)
    env["SAM_CLI_TELEMETRY"] = "0"
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    env.setdefault("AWS_REGION", env["AWS_DEFAULT_REGION"])
    return env


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    from samcli.yamlhelper import yaml_parse

    return yaml_parse(path.read_text())


# --------------------------------------------------------------------------- rendering
class _NoManagedPolicies:
    def load(self) -> dict[str, str]:
        return {}


def sam_transform(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, Any]:
    """Run the SAM transform offline (local code URIs replaced by dummy S3 URIs)."""
    from samtranslator.translator.transform import transform

    template = copy.deepcopy(template)
    for res in template["Resources"].values():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::Serverless::Function":
            props["CodeUri"] = "s3://bucket/function.zip"
        elif res["Type"] == "AWS::Serverless::LayerVersion":
            props["ContentUri"] = "s3://bucket/layer.zip"
    old = {k: os.environ.get(k) for k in ("AWS_DEFAULT_REGION", "AWS_REGION")}
    os.environ["AWS_DEFAULT_REGION"] = os.environ["AWS_REGION"] = "us-east-1"
    try:
        return transform(template, dict(parameters), _NoManagedPolicies())
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


_NO_VALUE = object()


class Rendered:
    """A transformed template with conditions applied for concrete parameter values."""

    def __init__(self, cfn: dict[str, Any], parameters: dict[str, str]):
        self.raw = cfn
        self.params = {name: str(spec.get("Default", "")) for name, spec in cfn.get("Parameters", {}).items()}
        self.params.update({k: str(v) for k, v in parameters.items()})
        self._conditions: dict[str, bool] = {}
        self.conditions = {name: self._condition(name) for name in cfn.get("Conditions", {})}
        self.resources: dict[str, dict[str, Any]] = {}
        for logical_id, res in cfn["Resources"].items():
            cond = res.get("Condition")
            if cond and not self.conditions[cond]:
                continue
            self.resources[logical_id] = self.resolve(res)
        self.outputs = {
            name: self.resolve(out)
            for name, out in cfn.get("Outputs", {}).items()
            if not out.get("Condition") or self.conditions[out["Condition"]]
        }

    # -- conditions
    def _condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = self._eval(self.raw["Conditions"][name])
        return self._conditions[name]

    def _value(self, node: Any) -> Any:
        if isinstance(node, dict) and set(node) == {"Ref"}:
            return self.params[node["Ref"]]
        return node

    def _eval(self, node: Any) -> bool:
        ((fn, args),) = node.items()
        if fn == "Fn::Equals":
            return str(self._value(args[0])) == str(self._value(args[1]))
        if fn == "Fn::Not":
            return not self._eval(args[0])
        if fn == "Fn::Or":
            return any(self._eval(a) for a in args)
        if fn == "Fn::And":
            return all(self._eval(a) for a in args)
        if fn == "Condition":
            return self._condition(args)
        raise AssertionError(f"unsupported condition function {fn}")

    # -- Fn::If / AWS::NoValue (everything else is left as written)
    def resolve(self, node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"Fn::If"}:
                cond, yes, no = node["Fn::If"]
                return self.resolve(yes if self.conditions[cond] else no)
            if node == {"Ref": "AWS::NoValue"}:
                return _NO_VALUE
            out = {}
            for k, v in node.items():
                r = self.resolve(v)
                if r is not _NO_VALUE:
                    out[k] = r
            return out
        if isinstance(node, list):
            return [r for r in (self.resolve(v) for v in node) if r is not _NO_VALUE]
        return node

    # -- convenience
    def of_type(self, cfn_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v["Type"] == cfn_type}

    @property
    def function(self) -> dict[str, Any]:
        return self.resources[FUNCTION_ID]

    @property
    def role_statements(self) -> list[dict[str, Any]]:
        role = self.resources[f"{FUNCTION_ID}Role"]
        statements: list[dict[str, Any]] = []
        for policy in role["Properties"].get("Policies", []):
            stmts = policy["PolicyDocument"]["Statement"]
            statements.extend(stmts if isinstance(stmts, list) else [stmts])
        return statements

"""Field types shared by the runbook sections: durations, percentages, resource references."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)

from flexmigrate.durations import PATTERN, format_duration, parse_duration

# Patterns of the fields that name things; the loader words each of them for an error message.
SLUG = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
ACCOUNT = r"^\d{12}$"
REGION = r"^[a-z]{2}(-gov)?-[a-z]+-\d$"
K8S_VERSION = r"^1\.\d{1,2}$"
IAM_ARN = r"^arn:aws[a-z-]*:(iam|sts)::\d{12}:(role|user|assumed-role)/.+$"


def _duration(value: Any) -> float:
    if isinstance(value, str | int | float):
        return parse_duration(value)
    raise ValueError(f"{value!r} is not a duration (use 30s, 5m, 24h, 7d)")


Duration = Annotated[
    float,
    BeforeValidator(_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": PATTERN, "examples": ["30s", "5m", "24h", "7d"]}),
]
"""Seconds, written in the runbook as ``30s``, ``5m``, ``24h`` or ``7d``."""


def _percentage(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ValueError(f"{value!r} is not a percentage (a whole number 1–100)")
    if not 1 <= value <= 100:
        raise ValueError(f"{value} is not a percentage (1–100)")
    return int(value)


Percentage = Annotated[
    int,
    BeforeValidator(_percentage),
    WithJsonSchema({"type": "integer", "minimum": 1, "maximum": 100}),
]


def _fraction(value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{value} is not a fraction between 0 and 1 (0.01 means 1 %)")
    return value


Fraction = Annotated[float, AfterValidator(_fraction)]


class Strict(BaseModel):
    """Base of every runbook section: unknown keys are errors (with a did-you-mean)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class TagSelector(Strict):
    """Find a resource by its tags, resolved at run time: ``{tag: {Name: my-backend}}``."""

    tag: dict[str, str] = Field(min_length=1)


class NameSelector(Strict):
    """Find a resource by its name: ``{name: my-alb}``."""

    name: str = Field(min_length=1)


ResourceRef = str | TagSelector | NameSelector
"""An ID or ARN (a plain string), or a name or tag selector resolved at run time, so one
runbook works in any account."""


def describe_ref(ref: ResourceRef) -> str:
    if isinstance(ref, str):
        return ref
    if isinstance(ref, NameSelector):
        return f"name={ref.name}"
    return "tag " + ",".join(f"{k}={v}" for k, v in ref.tag.items())

"""Load a runbook: YAML with line numbers (ruamel.yaml), validated by the pydantic models.

Every problem is reported as ``FILE:LINE field.path: what is wrong`` so an operator can go
straight to it; unknown keys get a did-you-mean. All problems are reported at once.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

from flexmigrate.errors import RunbookError
from flexmigrate.runbook.locate import display_path

_NAME_LINE = re.compile(r"^name:\s*[\"']?([a-z0-9-]+)[\"']?\s*(#.*)?$", re.MULTILINE)
_PATTERN_WORDS = {
    r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$": "lowercase letters, digits and '-' (at most 63)",
    r"^\d{12}$": "a 12-digit AWS account ID",
    r"^[a-z]{2}(-gov)?-[a-z]+-\d$": "an AWS region such as af-south-1",
    r"^1\.\d{1,2}$": "a Kubernetes minor version such as '1.33' (quote it in YAML)",
}


def runbook_name(path: Path) -> str:
    """The runbook's ``name`` without a full validation: ``status`` must stay cheap."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RunbookError([f"{display_path(path)}: cannot read runbook ({exc.strerror})"]) from exc
    match = _NAME_LINE.search(text)
    if match:
        return match.group(1)
    from flexmigrate.runbook.types import SLUG

    shown = display_path(path)
    data = _read_yaml(path, shown)
    name = data.get("name")
    if not isinstance(name, str) or not re.match(SLUG, name):
        line = data.lc.key("name")[0] + 1 if "name" in data else 1
        expected = _PATTERN_WORDS[SLUG]
        raise RunbookError(
            [f"{shown}:{line} name: {_show(name)} is not valid: expected {expected}"]
        )
    return name


def load_runbook(path: Path, model: Any = None) -> Any:
    """Parse and validate ``path`` against ``model`` (a registry's composed runbook model; the
    engine's own sections when None); raises RunbookError listing every problem."""
    from pydantic import ValidationError

    if model is None:
        from flexmigrate.runbook.model import Runbook as model

    shown = display_path(path)
    data = _read_yaml(path, shown)
    # A section may read files the runbook names (relative to it) to fill in what the runbook
    # leaves out, and say what it filled in: a note per value, for ``runbook validate``.
    notes: list[str] = []
    context = {"runbook_dir": path.resolve().parent, "notes": notes}
    plain = _expanded(data, shown)
    try:
        runbook = model.model_validate(plain, context=context)
    except ValidationError as exc:
        raise RunbookError(_describe(exc, data, shown, model)) from None
    runbook._path = path.resolve()
    runbook._notes = tuple(notes)
    return runbook


def _read_yaml(path: Path, shown: str) -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        size = path.stat().st_size
        if size > _MAX_BYTES:
            raise RunbookError(
                [
                    f"{shown}: {size} bytes is not a runbook (a runbook is a few kilobytes; "
                    f"at most {_MAX_BYTES // 1024} KiB are read)"
                ]
            )
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RunbookError([f"{shown}: no such runbook file"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RunbookError([f"{shown}: cannot read runbook ({exc})"]) from None
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        data = yaml.load(text)
    except RecursionError:
        raise RunbookError(
            [f"{shown}:1: not valid YAML: values nested too deep to read (a runbook is flat)"]
        ) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        raise RunbookError([f"{shown}:{line}: not valid YAML: {problem}"]) from None
    except YAMLError as exc:
        raise RunbookError([f"{shown}:1: not valid YAML: {exc}"]) from None
    from ruamel.yaml.comments import CommentedMap

    if not isinstance(data, CommentedMap):
        kind = "an empty file" if data is None else f"a {type(data).__name__}"
        raise RunbookError([f"{shown}:1: a runbook is a YAML mapping of sections, not {kind}"])
    return data


# A runbook is a few hundred values. Anchors and aliases may repeat a node, but an alias bomb
# (each level repeating the one before nine times) expands to billions: refuse it early.
_MAX_VALUES = 100_000
_MAX_BYTES = 256 * 1024
_MAX_DEPTH = 64


class _TooLarge(Exception):
    pass


def _expanded(data: Any, shown: str) -> Any:
    try:
        return _plain(data, [0], ())
    except _TooLarge as exc:
        raise RunbookError([f"{shown}:1: {exc}"]) from None


def _plain(data: Any, count: list[int], parents: tuple[int, ...]) -> Any:
    """ruamel's round-trip containers as plain dicts, lists and scalars for pydantic, with
    aliases expanded within bounds."""
    count[0] += 1
    if count[0] > _MAX_VALUES:
        raise _TooLarge(
            f"the runbook expands to more than {_MAX_VALUES} values (anchors and aliases "
            "repeated into each other?); a runbook is a few hundred"
        )
    if isinstance(data, dict | list):
        if id(data) in parents:
            raise _TooLarge("an alias refers to a node that contains it (a recursive alias)")
        if len(parents) >= _MAX_DEPTH:
            raise _TooLarge(f"values nested more than {_MAX_DEPTH} deep")
        inner = (*parents, id(data))
        if isinstance(data, dict):
            return {str(k): _plain(v, count, inner) for k, v in data.items()}
        return [_plain(v, count, inner) for v in data]
    if isinstance(data, str):
        return str(data)
    if isinstance(data, bool):
        return bool(data)
    if isinstance(data, int):
        return int(data)
    if isinstance(data, float):
        return float(data)
    return data


def _describe(exc: Any, data: Any, shown: str, model: Any) -> list[str]:
    problems: list[tuple[int, str]] = []
    seen_union: set[tuple[Any, ...]] = set()
    for error in exc.errors():
        keys, is_union = _data_path(error["loc"], data)
        field = _format_path(keys)
        line = _line_of(data, keys, error["type"] == "missing")
        kind = error["type"]
        if kind == "extra_forbidden":
            parent_keys = keys[:-1]
            allowed = _model_fields(model, parent_keys)
            guess = difflib.get_close_matches(str(keys[-1]), allowed, n=1, cutoff=0.6)
            hint = f' (did you mean "{guess[0]}"?)' if guess else ""
            known = f"; known keys: {', '.join(allowed)}" if allowed and not guess else ""
            message = f"unknown key{hint}{known}"
        elif kind == "missing":
            what = "section" if len(keys) == 1 else "field"
            about = _description(model, keys)
            message = f"required {what} is missing" + (f" ({about})" if about else "")
        elif is_union:
            if tuple(keys) in seen_union:
                continue
            seen_union.add(tuple(keys))
            message = (
                f"{_show(error.get('input'))} is not a resource reference "
                "(an ID or ARN, {name: NAME} or {tag: {KEY: VALUE}})"
            )
        else:
            message = _message(error)
        problems.append((line, f"{shown}:{line} {field}: {message}"))
    problems.sort(key=lambda p: p[0])
    return [text for _, text in problems]


def _data_path(loc: tuple[Any, ...], data: Any) -> tuple[list[Any], bool]:
    """Keys of ``loc`` that exist in the data; pydantic adds union member names between them."""
    keys: list[Any] = []
    node = data
    is_union = False
    for part in loc:
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and part < len(node)
        if in_dict or in_list:
            keys.append(part)
            node = node[part]
        elif isinstance(part, str) and (
            part in ("str", "int", "float", "bool") or part[:1].isupper() or "[" in part
        ):
            is_union = True
        else:
            keys.append(part)
            node = None
    return keys, is_union


def _format_path(keys: list[Any]) -> str:
    out = ""
    for key in keys:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out or "(top level)"


def _line_of(data: Any, keys: list[Any], missing: bool) -> int:
    """1-based line of ``keys`` in the YAML; for a missing key, the line of its parent."""
    node = data
    line = 1
    path = keys[:-1] if missing else keys
    for key in path:
        lc = getattr(node, "lc", None)
        try:
            if isinstance(node, dict) and key in node:
                if lc is not None:
                    line = lc.key(key)[0] + 1
                node = node[key]
            elif isinstance(node, list) and isinstance(key, int) and key < len(node):
                if lc is not None:
                    line = lc.item(key)[0] + 1
                node = node[key]
            else:
                break
        except (KeyError, IndexError, TypeError):
            break
    return line


def _model_fields(model: Any, keys: list[Any]) -> list[str]:
    """Field names accepted at ``keys`` (following nested models, lists and unions)."""
    current: Any = model
    for key in keys:
        if isinstance(key, int):
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or key not in fields:
            return []
        current = _model_in(fields[key].annotation)
        if current is None:
            return []
    fields = getattr(current, "model_fields", None)
    return list(fields) if fields else []


def _description(model: Any, keys: list[Any]) -> str:
    """The model's description of the field at ``keys``, to say what a missing field is."""
    if len(keys) < 2:
        return ""
    current: Any = model
    for key in keys[:-1]:
        if isinstance(key, int):
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or key not in fields:
            return ""
        current = _model_in(fields[key].annotation)
    fields = getattr(current, "model_fields", None) or {}
    info = fields.get(keys[-1])
    text = (info.description or "").rstrip(".") if info is not None else ""
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def _model_in(annotation: Any) -> Any:
    from typing import get_args

    if hasattr(annotation, "model_fields"):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _message(error: Any) -> str:
    kind = error["type"]
    text = str(error["msg"])
    value = error.get("input")
    if kind == "value_error":
        return text.removeprefix("Value error, ")
    if kind == "string_pattern_mismatch":
        pattern = error.get("ctx", {}).get("pattern", "")
        expected = _PATTERN_WORDS.get(pattern, f"the form {pattern}")
        return f"{_show(value)} is not valid: expected {expected}"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return f"{_show(value)}: {text[0].lower()}{text[1:]}"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"{_show(value)} is not one of {expected}"
    if kind == "string_type" and isinstance(value, int | float) and not isinstance(value, bool):
        return f'{value} is read as a number; quote it ("{value}")'
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"{_show(value)} is not valid: {text[0].lower()}{text[1:]}"
    if kind == "too_short":
        return f"{text[0].lower()}{text[1:]}"
    return f"{_show(value)}: {text}"


def _show(value: Any) -> str:
    """A value as an error message quotes it: whole when short, its start when long (a huge
    value would bury the message it is part of)."""
    if isinstance(value, str):
        return repr(value) if len(value) <= 80 else repr(value[:77]) + f"… ({len(value)} chars)"
    if isinstance(value, dict | list):
        text = repr(value)
        return text if len(text) <= 60 else text[:57] + "..."
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."

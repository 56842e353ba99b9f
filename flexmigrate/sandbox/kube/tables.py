"""Server-side printing: ``meta.k8s.io/v1 Table`` responses for ``kubectl get``.

kubectl asks for ``application/json;as=Table;v=v1;g=meta.k8s.io`` and prints the columns the
server sends, so the columns here are the ones kube-apiserver's printers use (READY,
UP-TO-DATE, AVAILABLE for Deployments, STATUS for Namespaces, and so on). Custom kinds get
NAME, their CRD's additionalPrinterColumns, and AGE.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flexmigrate.sandbox.kube.printers import AGE, COLUMNS, NAME, Column, age, field_at
from flexmigrate.sandbox.kube.resources import ResourceType

Obj = dict[str, Any]


def wants_table(accept: str) -> bool:
    for media in accept.split(","):
        params = {p.strip() for p in media.split(";")[1:]}
        if {"as=Table", "g=meta.k8s.io"} <= params and ("v=v1" in params or "v=v1beta1" in params):
            return True
    return False


def _custom_columns(rt: ResourceType) -> list[Column]:
    columns: list[Column] = [NAME]
    has_age = False
    for spec in rt.printer_columns:
        if not isinstance(spec, dict):
            continue
        path = str(spec.get("jsonPath", "")).lstrip(".").split(".")
        kind = str(spec.get("type", "string"))
        if path == ["metadata", "creationTimestamp"]:
            has_age = True
            columns.append(
                (str(spec.get("name", "Age")), "date", int(spec.get("priority", 0)), age)
            )
            continue
        columns.append(
            (str(spec.get("name", "")), kind, int(spec.get("priority", 0)), _path_cell(path))
        )
    if not has_age:
        columns.append(AGE)
    return columns


def _path_cell(path: list[str]) -> Callable[[Obj, float], Any]:
    return lambda obj, _now: field_at(obj, *path)


def table(rt: ResourceType, items: list[Obj], rv: str, now: float, include_object: str) -> Obj:
    columns = _custom_columns(rt) if rt.is_custom else COLUMNS.get(rt.plural, [NAME, AGE])
    rows = []
    for obj in items:
        row: Obj = {"cells": [cell(obj, now) for _name, _type, _prio, cell in columns]}
        if include_object != "None":
            row["object"] = obj if include_object == "Object" else _partial(obj)
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": rv},
        "columnDefinitions": [
            {
                "name": name,
                "type": "string" if kind == "date" else kind,
                "format": "name" if name == "Name" else "",
                "description": name,
                "priority": prio,
            }
            for name, kind, prio, _cell in columns
        ],
        "rows": rows,
    }


def _partial(obj: Obj) -> Obj:
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj["metadata"],
    }

"""Monthly cost before and after the migration, from the runbook and a price table.

The before side is the runbook's ``cost.before``; the after side is what the phases say they
add (``Phase.extras["cost"]``: cluster, node groups, their disks, add-ons) plus
``cost.after``. Each item is priced from a table in YAML — ``runbooks/prices/<region>.yaml``
unless the runbook names its own — whose every row carries its region, date and source. A
price the table does not know, or knows as ``null``, is unknown: the item shows as unknown and
so does its side's total, never zero.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

_HOURS_PER_MONTH = 730.0


def _table_path(runbook: Any) -> Path | None:
    from flexmigrate.runbook.locate import shipped_runbooks_dir

    named = runbook.cost.prices
    if named:
        return Path(runbook.resolve_path(named))
    shipped = shipped_runbooks_dir() / "prices" / f"{runbook.aws.region}.yaml"
    return shipped if shipped.exists() else None


def load_table(path: Path) -> dict[str, Any]:
    from ruamel.yaml import YAML

    data = YAML(typ="safe", pure=True).load(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a price table is a mapping with date, region and prices")
    return data


def _monthly(row: dict[str, Any], hours: float) -> float | None:
    if isinstance(row.get("monthly"), int | float):
        return float(row["monthly"])
    if isinstance(row.get("hourly"), int | float):
        return float(row["hourly"]) * hours
    return None


def estimate(runbook: Any, registry: Any) -> dict[str, Any] | None:
    """The cost table for the report, or None when there is nothing to price."""
    section = runbook.cost
    after: list[tuple[str, float, str]] = []
    for phase in registry:
        declared = phase.extras.get("cost") if phase.extras else None
        if callable(declared):
            after += list(declared(runbook))
    after += [(i.item, i.quantity, i.note) for i in section.after]
    before = [(i.item, i.quantity, i.note) for i in section.before]
    if not before and not after:
        return None
    path = _table_path(runbook)
    table: dict[str, Any] = {}
    problem = None
    if path is not None:
        try:
            table = load_table(path)
        except (OSError, ValueError) as exc:
            problem = f"price table unreadable: {exc}"
    hours = float(table.get("hours_per_month") or _HOURS_PER_MONTH)
    rows = {str(r.get("item")): r for r in table.get("prices") or [] if isinstance(r, dict)}

    def priced(items: list[tuple[str, float, str]]) -> tuple[list[dict[str, Any]], float | None]:
        out: list[dict[str, Any]] = []
        total: float | None = 0.0
        for item, quantity, note in items:
            row = rows.get(item) or {}
            unit = _monthly(row, hours)
            monthly = None if unit is None else round(unit * quantity, 2)
            total = None if total is None or monthly is None else total + monthly
            out.append(
                {
                    "item": item,
                    "quantity": quantity if quantity != int(quantity) else int(quantity),
                    "note": note,
                    "unit_monthly": None if unit is None else round(unit, 4),
                    "monthly": monthly,
                    "region": row.get("region", ""),
                    "date": row.get("date", ""),
                    "source": row.get("source", "not in the price table" if not row else ""),
                }
            )
        return out, None if total is None else round(total, 2)

    before_rows, before_total = priced(before)
    after_rows, after_total = priced(after)
    plan = section.plan_estimate
    return {
        "table": {
            "path": str(path) if path else "none",
            "date": table.get("date", "?"),
            "region": table.get("region", "?"),
            "currency": table.get("currency", "USD"),
            "problem": problem,
        },
        "before": before_rows,
        "after": after_rows,
        "before_total": before_total,
        "after_total": after_total,
        "plan_estimate": None if plan is None else plan.model_dump(),
    }

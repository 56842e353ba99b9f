"""Write tests/durations.json, each test file's measured seconds, from a JUnit XML report:

    pytest --junitxml=/tmp/suite.xml && python bench/suite_durations.py /tmp/suite.xml

The suite hands files to its workers longest first (tests/conftest.py reads this file), so the
long rehearsals start at once instead of being left for last on one worker. Refresh it when a
file's time changes much; a file not listed is treated as a short one."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DURATIONS = REPO / "tests" / "durations.json"


def per_file(report: Path) -> dict[str, float]:
    seconds: Counter[str] = Counter()
    for case in ET.parse(report).iter("testcase"):  # noqa: S314 - our own pytest's report
        module = case.get("classname") or ""
        # classname is the dotted module, then any class: keep the part that is a file
        parts = module.split(".")
        while parts and not (REPO / Path(*parts).with_suffix(".py")).exists():
            parts.pop()
        if parts:
            seconds[Path(*parts).with_suffix(".py").as_posix()] += float(case.get("time") or 0)
    return {name: round(total) for name, total in seconds.most_common()}


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    found = per_file(Path(sys.argv[1]))
    DURATIONS.write_text(json.dumps(found, indent=1) + "\n")
    print(f"{len(found)} files, {sum(found.values())} s in all, written to {DURATIONS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

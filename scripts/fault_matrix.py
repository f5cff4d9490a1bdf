#!/usr/bin/env python
"""Run the fault-injection suite and write the fault matrix: cases tried, outcome, nothing lost.

    .venv/bin/python scripts/fault_matrix.py            # runs tests/test_faults.py, writes docs/fault-matrix.md

The cases and what each must show come from the `fault(...)` registry in tests/test_faults.py;
the outcome column is this run's pytest result per case (parametrised cases: one row each).
"""
from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def outcomes(junit: Path) -> dict[str, str]:
    """test name (with parameters) -> passed / failed / skipped (reason)."""
    results = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = case.get("name")
        status = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                status = "FAILED"
            elif child.tag == "skipped":
                status = f"skipped ({child.get('message', '').split(': ', 1)[-1]})"
        results[name] = status
    return results


def main() -> int:
    from tests.test_faults import FAULT_CASES

    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "faults.xml"
        started = time.time()
        code = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                "tests/test_faults.py", f"--junitxml={junit}"], cwd=REPO)
        results = outcomes(junit)
    lines = ["# Fault matrix", "",
             "What fersynth does under faults, as run by `.venv/bin/python scripts/fault_matrix.py` "
             "(the same cases run in CI as part of `.venv/bin/python -m pytest`, in `tests/test_faults.py`).",
             f"Last run: {time.strftime('%Y-%m-%d', time.gmtime())} on a 2-core CPU machine, "
             f"{time.time() - started:.0f} s.", "",
             "| case | area | fault injected | what must hold (nothing lost) | outcome |", "| --- | --- | --- | --- | --- |"]
    for name, status in sorted(results.items(), key=lambda kv: FAULT_CASES.get(kv[0].split("[")[0], {}).get("id", "")):
        case = FAULT_CASES.get(name.split("[")[0])
        if not case:
            continue
        param = re.search(r"\[(.*)\]$", name)
        fault = case["fault"] + (f": **{param.group(1)}**" if param else "")
        lines.append(f"| {case['id']} | {case['area']} | {fault} | {case['expected']} | {status} |")
    missing = set(FAULT_CASES) - {n.split("[")[0] for n in results}
    for name in sorted(missing):
        lines.append(f"| {FAULT_CASES[name]['id']} | {FAULT_CASES[name]['area']} | {FAULT_CASES[name]['fault']} | "
                     f"{FAULT_CASES[name]['expected']} | not run |")
    out = REPO / "docs" / "fault-matrix.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(out)
    return code


if __name__ == "__main__":
    sys.exit(main())

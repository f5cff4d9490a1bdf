"""The embedded run end to end: `fersynth run` in a fresh folder, then the per-stage seconds and
counts from each stage's stage.json, and the total, beside a previous run's figures when given.

    .venv/bin/python benchmarks/bench_run.py [--previous runs/OLD] [--keep runs/NEW] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from components.stages import PIPELINE_STAGES  # noqa: E402

STAGES = tuple(PIPELINE_STAGES)


def stage_seconds(run_dir: Path) -> dict[str, float]:
    out = {}
    for stage in STAGES:
        info = run_dir / stage / "stage.json"
        if info.is_file():
            out[stage] = float(json.loads(info.read_text()).get("timings_s", {}).get("total", float("nan")))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--previous", type=Path, help="an earlier run folder to compare with")
    parser.add_argument("--keep", type=Path, help="run into this folder and keep it (default: a temp folder)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        run_dir = args.keep or Path(scratch) / "run"
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "components.cli", "run", "--out", str(run_dir)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - started
        now = stage_seconds(run_dir)
        summary = json.loads((run_dir / "summary.json").read_text())
    before = stage_seconds(args.previous) if args.previous else {}
    print(f"{'stage':<11} {'s':>7} {'previous s':>11}")
    for stage in STAGES:
        print(f"{stage:<11} {now.get(stage, float('nan')):>7.1f} {before.get(stage, float('nan')):>11.1f}")
    previous_total = json.loads((args.previous / "summary.json").read_text())["wall_s"] if args.previous else float("nan")
    print(f"{'total':<11} {wall:>7.1f} {previous_total:>11.1f}   (run wall_s {summary['wall_s']:.1f})")
    print("held-out synthetic:", summary.get("held_out_synthetic"))
    if args.json:
        args.json.write_text(json.dumps({"stages_s": now, "total_s": wall, "previous_stages_s": before,
                                         "previous_total_s": previous_total,
                                         "held_out_synthetic": summary.get("held_out_synthetic")}, indent=2))


if __name__ == "__main__":
    main()

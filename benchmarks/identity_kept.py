"""Is each edit still the same person? The dlib face descriptor distance between every edited face
of an expression dataset and its own neutral source crop (the frame the editor started from),
per target emotion. dlib's model calls two faces one person below 0.6; we aim for a median
below 0.45, and count the detector misses (an edit no face detector finds is a broken edit), and
among them those whose neutral source the detector misses as well (a borderline face, not the edit).

    .venv/bin/python benchmarks/identity_kept.py runs/<run>/expression [--json out.json]

`--json` also keeps every edit's distance, per emotion: the median of all edits can sit between two
edits, and comparing two runs edit by edit shows which moved it.
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    from components.common.face_descriptors import DescriptorExtractor
    from components.common.imageio import read_image
    from components.common.manifest import read_manifest

    rows = [r for r in read_manifest(args.dataset) if r.get("target_emotion")]
    extractor = DescriptorExtractor()
    neutral = {r["parent_id"]: extractor.describe(read_image(args.dataset / r["path"]), aligned=True)
               for r in rows if r["target_emotion"] == "neutral"}
    detector = DescriptorExtractor().detector

    def found(image: np.ndarray) -> bool:
        return bool(detector.detect([image])[0])

    neutral_found = {r["parent_id"]: found(read_image(args.dataset / r["path"]))
                     for r in rows if r["target_emotion"] == "neutral"}
    per_emotion: dict[str, list[float]] = defaultdict(list)
    misses: dict[str, int] = defaultdict(int)
    source_misses: dict[str, int] = defaultdict(int)  # the detector misses the neutral source too
    for r in rows:
        if r["target_emotion"] == "neutral" or neutral.get(r["parent_id"]) is None:
            continue
        image = read_image(args.dataset / r["path"])
        if not found(image):
            misses[r["target_emotion"]] += 1
            source_misses[r["target_emotion"]] += not neutral_found[r["parent_id"]]
        descriptor = extractor.describe(image, aligned=True)
        per_emotion[r["target_emotion"]].append(float(np.linalg.norm(descriptor - neutral[r["parent_id"]])))
    summary = {e: {"n": len(d), "median_distance": float(np.median(d)), "max_distance": float(np.max(d)),
                   "detector_misses": misses[e], "source_also_missed": source_misses[e], "distances": d}
               for e, d in sorted(per_emotion.items())}
    every = [x for d in per_emotion.values() for x in d]
    summary["all"] = {"n": len(every), "median_distance": float(np.median(every)),
                      "max_distance": float(np.max(every)), "detector_misses": sum(misses.values()),
                      "source_also_missed": sum(source_misses.values())}
    print(f"{'target':<10} {'n':>4} {'median':>7} {'max':>6} {'no face':>8} {'(neutral too)':>13}")
    for e, s in summary.items():
        print(f"{e:<10} {s['n']:>4} {s['median_distance']:>7.3f} {s['max_distance']:>6.3f} {s['detector_misses']:>8}"
              f" {s['source_also_missed']:>13}")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()

"""mesh_warp speed on this machine's CPU, mesh included: per face, the mesh, pose check and fits
(`prepare`) run once and the six emotions are edited from it, as the expression stage does, with the
stage's default ratio images (AU9's and the forehead's; built once per process, not timed). One process.

Then the expression stage itself on the demo's 128 px GAN faces (`--stage-identities`, 0: skip), with one
worker process and with one per usable core: edits/s over the stage's whole run but the editors' loading
(landmarks, mesh, edits, PNG writing; refused faces count as time, not edits).

    .venv/bin/python benchmarks/bench_mesh_warp.py [--sizes 128 512] [--stage-identities 256] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os

from timing import median_seconds

EMOTIONS = ("happy", "sad", "surprise", "fear", "disgust", "anger")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 512])
    parser.add_argument("--stage-identities", type=int, default=256)
    parser.add_argument("--json")
    args = parser.parse_args()
    from skimage import data

    from components.common.face_mesh import detect_mesh
    from components.common.faces import FaceDetector, align
    from components.common.landmarks import detect_on_aligned
    from components.expression.au_warp import AUWarpEditor
    from components.expression.mesh_ratio import load_forehead_wrinkles, load_nose_wrinkles
    from components.expression.mesh_warp import MeshWarpEditor
    from components.expression.targets import emotion_target

    frame = data.astronaut()
    (faces,) = FaceDetector().detect([frame])
    targets = [emotion_target(e, 1.0).aus for e in EMOTIONS]
    mesh_editor = MeshWarpEditor(nose_wrinkles=load_nose_wrinkles("emopy"),  # the stage's defaults
                                 forehead_wrinkles=load_forehead_wrinkles("ravdess"))
    old_editor = AUWarpEditor()
    results = {"cpu_threads": os.cpu_count()}
    for size in args.sizes:
        crop = align(frame, faces[0].landmarks, size).crop
        landmarks = detect_on_aligned(crop)
        prepared = mesh_editor.prepare(crop, landmarks)
        mesh_s = median_seconds(lambda: detect_mesh(crop))
        prepare_s = median_seconds(lambda: mesh_editor.prepare(crop, landmarks))
        edits_s = median_seconds(lambda: [mesh_editor.edit(prepared, crop, t) for t in targets])

        def one_face():  # what the stage does per identity: prepare once, then every emotion
            face = mesh_editor.prepare(crop, landmarks)
            return [mesh_editor.edit(face, crop, t) for t in targets]

        face_s = median_seconds(one_face)
        old_s = median_seconds(lambda: [old_editor.edit(crop, landmarks, t) for t in targets])
        results[str(size)] = {
            "mesh_ms": 1000 * mesh_s,
            "prepare_ms": 1000 * prepare_s,
            "edit_ms_fields_cached": 1000 * edits_s / len(targets),
            "mesh_warp_edits_per_s_mesh_included": len(targets) / face_s,
            "au_warp_edits_per_s": len(targets) / old_s,
        }
        print(size, {k: round(v, 1) for k, v in results[str(size)].items()})
    if args.stage_identities:
        results["stage_128"] = stage_speed(args.stage_identities)
        print("stage 128", {k: round(v, 1) for k, v in results["stage_128"].items()})
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)


def stage_speed(identities: int) -> dict:
    import tempfile
    from pathlib import Path

    from components.common.cores import usable_cores
    from components.common.manifest import read_stage_info
    from components.expression.params import ExpressionParams
    from components.expression.run import run as expression_run
    from components.identity.params import IdentityParams
    from components.identity.run import run as identity_run

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        ids = Path(tmp) / "ids"
        identity_run(IdentityParams(count=identities, preview_seeds=0), ids)
        for workers in sorted({1, usable_cores()}):
            out = Path(tmp) / f"expression-{workers}"
            counts = expression_run(ExpressionParams(emotions=list(EMOTIONS), intensity_min=1.0, intensity_max=1.0,
                                                     sheet_identities=0, workers=workers), ids, out)
            timings = read_stage_info(out)["timings_s"]
            results[f"edits_per_s_{workers}_workers"] = counts["images"] / (timings["total"] - timings["load"])
            results["edits"] = counts["images"]
    return results


if __name__ == "__main__":
    main()

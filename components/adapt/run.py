"""The adapt stage: edited crops -> final images, pasted back without a visible seam.

For each image: rebuild the original crop from the identity frame and its alignment,
transfer colour in CIELAB over the face region, paste back into the frame with a
feathered alpha (or Poisson) mask, and re-align the result at the output size.
Output: images/<id>.png, references/<identity id>.png (the unedited face at the same
geometry, for full-reference quality metrics), manifest.csv, stage.json, contact_sheet.png.
"""
from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from components.common.faces import align, paste_matrix
from components.common.imageio import ImageError, read_image, write_image
from components.common.manifest import IMAGES_DIR, manifest_digest, read_manifest, write_manifest
from components.common.telemetry import progress
from components.common.shards import Shard
from components.common.sheets import contact_sheet
from components.common.stage_run import StageRun

from .blend import face_region, feathered_alpha, lab_transfer, paste_back, poisson_paste
from .params import AdaptParams

STAGE = "adapt"
REFERENCES_DIR = "references"


def adapt_one(frame: np.ndarray, edited: np.ndarray, row: dict, params: AdaptParams) -> np.ndarray:
    """The adapted full frame for one manifest row."""
    size = edited.shape[0]
    to_crop = np.asarray(row["align_matrix"], dtype=np.float64)
    original = cv2.warpAffine(frame, to_crop, (size, size), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
    landmarks = np.vstack([np.asarray(row["landmarks68"]), np.asarray(row["edited_landmarks68"])])
    region = np.maximum(face_region(landmarks[:68], size, params.forehead),
                        face_region(landmarks[68:], size, params.forehead))
    if params.colour_transfer:
        edited = lab_transfer(edited, original, region)
    to_frame = paste_matrix(to_crop)
    if params.blend == "poisson":
        return poisson_paste(frame, edited, region, to_frame)
    border = params.border * size if params.blend == "alpha" else 0.0
    return paste_back(frame, edited, feathered_alpha(region, border), to_frame)


def finish(frame: np.ndarray, row: dict, params: AdaptParams) -> np.ndarray:
    """Align a frame at the output size and colour mode."""
    image = align(frame, np.asarray(row["landmarks"]), params.output_size, params.output_padding).crop
    if params.grey:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return image


def run(params: AdaptParams, in_dir: str | Path, out_dir: str | Path, shard: Shard | None = None) -> dict:
    """Adapt every image of `in_dir` into `out_dir` (a `shard`: only its identities' images, as a part)."""
    in_dir, out = Path(in_dir), Path(out_dir)
    stage = StageRun(STAGE, params, out)
    telemetry = stage.telemetry
    rows_in = read_manifest(in_dir)
    missing = [c for c in ("frame_path", "align_matrix", "landmarks", "landmarks68", "edited_landmarks68")
               if rows_in and c not in rows_in[0]]
    if missing:
        raise ValueError(f"{in_dir}: not an expression dataset (manifest lacks {missing})")
    input_digest = manifest_digest(in_dir)
    frames: dict[str, np.ndarray] = {}  # one identity's frame serves all its expressions
    with stage.journal(input_digest) as journal:
        mine = shard.take(rows_in, group=lambda r: r["parent_id"]) if shard else rows_in
        for row in progress(mine, desc=STAGE):
            if journal.finished(row["id"]):
                continue
            t0 = time.perf_counter()
            telemetry.seen()
            try:
                if row["frame_path"] not in frames:
                    frames.clear()
                    frames[row["frame_path"]] = read_image(in_dir / row["frame_path"])
                frame = frames[row["frame_path"]]
                edited = read_image(in_dir / row["path"])
                with telemetry.timed("adapt"):
                    adapted = adapt_one(frame, edited, row, params)
                reference = out / REFERENCES_DIR / f"{row['parent_id']}.png"
                if not reference.exists():
                    write_image(reference, finish(frame, row, params))
                write_image(out / IMAGES_DIR / f"{row['id']}.png", finish(adapted, row, params))
                if params.keep_frames:
                    write_image(out / "frames" / f"{row['id']}.png", adapted)
            except (ImageError, ValueError, cv2.error) as exc:
                detail = f"{in_dir / row['path']}: {exc}"
                telemetry.rejected("adapt_failed", detail)
                journal.record_rejected(row["id"], "adapt_failed", detail)
                continue
            out_row = {**row, "path": f"{IMAGES_DIR}/{row['id']}.png",
                       "reference_path": f"{REFERENCES_DIR}/{row['parent_id']}.png",
                       "align_geometry": {"size": params.output_size, "padding": params.output_padding}}
            if not params.keep_frames:
                out_row.pop("frame_path")
            else:
                out_row["frame_path"] = f"frames/{row['id']}.png"
            journal.record_ok(row["id"], out_row)
            telemetry.produced(1, time.perf_counter() - t0)
        if shard is not None:
            return stage.finish_shard(shard, {"images": len(journal.done), "rejected": journal.rejection_counts()})
        rows = [journal.done[r["id"]] for r in rows_in if r["id"] in journal.done]
        write_manifest(out, rows)
        with telemetry.timed("sheet"):
            sheet = contact_sheet(out, rows, params.sheet_identities)
        rejected = journal.rejection_counts()
        counts = {"images_in": len(rows_in), "images": len(rows), "rejected": rejected}
        stage.finish(counts, contact_sheet=sheet, input=input_digest,
                     problems=[e["detail"] for e in journal.rejected.values()][:1000])
    if not rows:
        raise RuntimeError(f"{STAGE}: no images produced in {out} (rejected: {rejected})")
    return counts

"""Collect real neutral face photos from installed packages into a folder (never committed).

- EmoPy==0.0.5: the first frame of every CK+ sample sequence (CK+ sequences start at the neutral
  face); one frame per subject. CK+ is for non-commercial research (README, third-party table).
- scikit-image `astronaut()` (NASA, public domain) and matplotlib's `grace_hopper.jpg` (US Navy,
  public domain).
- pyfame==1.0.10, when installed (`pip install --no-deps pyfame==1.0.10`): the first, neutral frame
  of one sample video per actor, from RAVDESS (CC BY-NC-SA 4.0, its licence file ships beside them).

    .venv/bin/python benchmarks/real_faces.py /tmp/real-neutral
    .venv/bin/fersynth identity --backend folder --source /tmp/real-neutral --frame-size 640 \
        --crop-size 256 --out /tmp/real-id
"""
from __future__ import annotations

import argparse
from importlib.util import find_spec
from pathlib import Path

import cv2
import numpy as np


def package_dir(name: str) -> Path | None:
    spec = find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def ckplus_neutral_frames() -> list[Path]:
    root = package_dir("EmoPy")
    if root is None:
        return []
    series = root / "examples" / "image_data" / "sample_image_series_directory"
    first_by_subject: dict[str, Path] = {}
    for frame in sorted(series.glob("*/*/*_00000001.png")):
        first_by_subject.setdefault(frame.name.split("_")[0], frame)
    return sorted(first_by_subject.values())


def public_domain_photos() -> dict[str, np.ndarray]:
    photos = {}
    try:
        from skimage import data

        photos["astronaut.png"] = data.astronaut()
    except ImportError:
        pass
    mpl = package_dir("matplotlib")
    if mpl is not None:
        hopper = mpl / "mpl-data" / "sample_data" / "grace_hopper.jpg"
        if hopper.is_file():
            photos["grace_hopper.png"] = cv2.cvtColor(cv2.imread(str(hopper)), cv2.COLOR_BGR2RGB)
    return photos


def ravdess_neutral_frames() -> dict[str, np.ndarray]:
    root = package_dir("pyfame")
    if root is None:
        return {}
    frames = {}
    for actor in sorted((root / "data" / "sample").glob("[0-9]*")):
        videos = sorted(actor.glob("*.mp4"))
        if not videos:
            continue
        capture = cv2.VideoCapture(str(videos[0]))
        ok, frame = capture.read()
        capture.release()
        if ok:
            frames[f"ravdess_{actor.name}.png"] = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    return frames


def collect(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for frame in ckplus_neutral_frames():
        image = cv2.imread(str(frame), cv2.IMREAD_COLOR)
        target = out / f"ckplus_{frame.stem.split('_')[0]}.png"
        cv2.imwrite(str(target), image)
        written.append(target)
    for name, rgb in {**public_domain_photos(), **ravdess_neutral_frames()}.items():
        target = out / name
        cv2.imwrite(str(target), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        written.append(target)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    written = collect(args.out)
    print(f"{len(written)} neutral photos in {args.out}")


if __name__ == "__main__":
    main()

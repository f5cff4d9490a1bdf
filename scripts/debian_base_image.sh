#!/usr/bin/env bash
# Build the Python base image from Debian packages, for hosts that reach a Debian mirror but no
# container registry. The result is tagged with the name Dockerfile.base's FROM line uses, so the
# Dockerfiles stay the ones a registry user builds. Idempotent: an existing tag is kept.
#   scripts/debian_base_image.sh [tag]
set -euo pipefail
tag=${1:-docker.io/library/python:3.11-slim-bookworm}
engine=${CONTAINER_ENGINE:-podman}
if "$engine" image exists "$tag" 2>/dev/null; then
  echo "base image $tag already present"; exit 0
fi
# The mirror the host's apt already uses: a deb822 "URIs:" line or a one-line "deb URL" source.
mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null \
  | sed -nE 's,^(URIs:|deb)[[:space:]]+(\[[^]]*\][[:space:]]+)?(https?://[^ ]*/debian)/?([[:space:]].*)?$,\3,p' | head -1 || true)
mirror=${mirror:-http://deb.debian.org/debian}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "debootstrap bookworm from $mirror"
debootstrap --variant=minbase bookworm "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
tar -C "$work/root" -c . | "$engine" import - localhost/fersynth-debian:bookworm >/dev/null
# Debian's Python 3.11 with a virtual environment at /usr/local, so python/pip resolve as in the
# official python image (whose interpreter lives in /usr/local/bin).
cat > "$work/Containerfile" <<CF
FROM localhost/fersynth-debian:bookworm
RUN apt-get update \\
 && apt-get install -y --no-install-recommends python3.11 python3.11-venv ca-certificates \\
 && rm -rf /var/lib/apt/lists/* \\
 && python3.11 -m venv /usr/local
ENV LANG=C.UTF-8
CMD ["python3"]
CF
"$engine" build -q -t "$tag" -f "$work/Containerfile" "$work" >/dev/null
"$engine" rmi localhost/fersynth-debian:bookworm >/dev/null
echo "base image $tag: $("$engine" image inspect --format '{{.Size}}' "$tag") bytes"

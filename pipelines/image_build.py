"""Build the stage images: the base image, then one thin image per pipeline stage.

podman is used where present (it runs without a daemon), else docker. A podman build also sees the
host's pip set-up, read-only: its configuration files, CA bundle, constraint file, local wheel and
index folders and its download cache. Behind a TLS-inspecting proxy or with a local package
mirror, that is what lets pip inside the build reach packages at all; elsewhere it only saves
downloads. (docker build cannot mount volumes; there pip inside the build uses the network.)
"""
from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from components.common.images import stage_image
from components.stages import PIPELINE_STAGES

REPO_ROOT = Path(__file__).resolve().parents[1]
BASE_DOCKERFILE = "images/Dockerfile.base"
STAGE_DOCKERFILE = "images/Dockerfile.stage"  # one template; the stage is a build argument


class ImageBuildError(RuntimeError):
    pass


@dataclass(frozen=True)
class BuiltImage:
    tag: str
    size_bytes: int
    seconds: float


def container_engine(name: str | None = None) -> str:
    """The engine binary to build and run with: the one asked for, else podman, else docker."""
    for candidate in ([name] if name else ["podman", "docker"]):
        if shutil.which(candidate):
            return candidate
    raise ImageBuildError(f"no container engine found (looked for {name or 'podman, docker'} on PATH)")


def build_commands(engine: str = "docker", stages=None, extra_args: tuple[str, ...] = ()) -> list[list[str]]:
    """The build command of the base image and of every stage image, in build order."""
    base = stage_image("base")
    commands = [[engine, "build", *extra_args, "-f", BASE_DOCKERFILE, "-t", base, "."]]
    for stage in stages or PIPELINE_STAGES:
        commands.append([engine, "build", *extra_args, "-f", STAGE_DOCKERFILE, "--build-arg", f"BASE_IMAGE={base}",
                         "--build-arg", f"STAGE={stage}", "-t", stage_image(stage), "."])
    return commands


def _pip_config_paths() -> list[str]:
    """Files and folders the host's pip configuration names: config files and the paths in them."""
    def pip(*args: str) -> str:
        return subprocess.run([sys.executable, "-m", "pip", "config", *args], capture_output=True, text=True).stdout

    paths = re.findall(r"^\s+(/\S+), exists: True$", pip("debug"), flags=re.M)
    for value in re.findall(r"^\S+?='(.*)'$", pip("list"), flags=re.M):
        for word in value.split():
            path = word.removeprefix("file://")
            # a local index's pages link to its files beside it (<index>/../files): show the whole folder
            paths.append(str(Path(path).parent) if word.startswith("file://") else path)
    return [p for p in dict.fromkeys(paths) if p.startswith("/") and Path(p).exists()]


def host_pip_mounts() -> list[str]:
    """podman build arguments that show the host's pip set-up (and download cache) to the build."""
    mounts = {path: path for path in _pip_config_paths()}
    # pip in the build runs as root: the user's own config and cache are shown where root's pip looks.
    home = Path.home()
    for own, as_root in ((home / ".config/pip/pip.conf", "/root/.config/pip/pip.conf"),
                         (home / ".cache/pip", "/root/.cache/pip")):
        if own.exists():
            mounts[str(own)] = as_root
    args = []
    for source, target in mounts.items():
        read_only = "" if target == "/root/.cache/pip" else ":ro"
        args += ["--volume", f"{source}:{target}{read_only}"]
    return args


def image_size(engine: str, tag: str) -> int:
    out = subprocess.run([engine, "image", "inspect", "--format", "{{.Size}}", tag],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise ImageBuildError(f"{tag}: not found after its build ({out.stderr.strip()})")
    return int(out.stdout.strip())


def build_images(engine: str | None = None, stages=None, log=print) -> list[BuiltImage]:
    """Build the base and the stage images; each build's output goes to `log` only if it fails."""
    engine = container_engine(engine)
    extra = tuple(host_pip_mounts()) if Path(engine).name == "podman" else ()
    built = []
    for command in build_commands(engine, stages, extra):
        tag = command[command.index("-t") + 1]
        log(f"building {tag}")
        started = time.perf_counter()
        result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-25:])
            raise ImageBuildError(f"{tag}: build failed (exit {result.returncode}):\n{shlex.join(command)}\n{tail}")
        built.append(BuiltImage(tag, image_size(engine, tag), time.perf_counter() - started))
    return built

"""KFP's local DockerRunner, made to report container exit codes correctly on podman.

Why this module exists: `kfp.local.DockerRunner` starts each task container with auto_remove=True,
streams its log and then asks for the exit code. Docker keeps an auto-removed container until
that question is answered; podman (4.x, through its Docker-compatible API) removes it the moment
it exits. KFP then gets "no such container", assumes exit code 0, and reports a failed task as
SUCCEEDED, and its log stream often breaks off with "does not exist in database". Here the
container is kept until its exit code is read and removed afterwards, which is correct on both
engines.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from pathlib import Path


class ImageMissing(RuntimeError):
    pass


def run_container(client, image: str, command: list[str], volumes: dict, base_environment: dict[str, str],
                  environment: dict | None = None, **run_args) -> int:
    """Run one task container to its end and return its exit code; the container is then removed.

    `environment` is a task's own variables (KFP passes them instead of the runner's); they are laid
    over the run's `base_environment`."""
    import docker

    run_args.pop("auto_remove", None)
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        # KFP would try to pull; a stage image is built here, not fetched (`fersynth images --build`).
        raise ImageMissing(f"container image {image} not found; build the stage images with "
                           "`fersynth images --build`") from None
    print(f"running task container of image {image}")
    container = client.containers.run(image=image, command=command, volumes=volumes,
                                      environment={**base_environment, **(environment or {})},
                                      detach=True, stdout=True, stderr=True, **run_args)
    try:
        shown, pending = bytearray(), b""
        for chunk in container.logs(stream=True, follow=True):
            shown += chunk
            pending = _print_lines(pending + chunk)
        code = int(container.wait()["StatusCode"])
        # podman's log stream can end before the last lines are delivered (a traceback, typically):
        # once the container has exited its whole log is complete, so show whatever the stream missed.
        pending = _print_lines(pending + container.logs(stdout=True, stderr=True)[len(shown):])
        if pending:
            print(pending.decode(errors="replace"))
        return code
    finally:
        container.remove(force=True)


def _print_lines(data: bytes) -> bytes:
    """Print the complete lines in `data`, return the unfinished rest. The stream's chunks may split a
    line, and KFP indents every write while a task runs, which would put spaces inside such a line."""
    *lines, rest = data.split(b"\n")
    for line in lines:
        print(line.decode(errors="replace"))
    return rest


def check_images(tags: list[str]) -> None:
    """Fail before a run starts, naming every stage image the engine does not have."""
    import docker

    client = docker.from_env()
    try:
        missing = []
        for tag in tags:
            try:
                client.images.get(tag)
            except docker.errors.ImageNotFound:
                missing.append(tag)
    finally:
        client.close()
    if missing:
        raise ImageMissing(f"container images not found: {', '.join(missing)}; build them with "
                           "`fersynth images --build`")


def docker_runner(environment: dict[str, str]):
    """A DockerRunner whose tasks run with `environment`, as the calling user, removed only after exit.

    The caller's user and group own the files a task writes into the run folder (the images' own
    user, 10001, is for clusters)."""
    import functools
    import logging

    from kfp import local
    from kfp.local import docker_task_handler

    # KFP logs a line about pip installs, which fersynth's images never do: not for the console.
    logging.getLogger("kfp.local.pip_install_manager").setLevel(logging.WARNING)

    docker_task_handler.run_docker_container = functools.partial(run_container, base_environment=dict(environment))
    return local.DockerRunner(user=f"{os.getuid()}:{os.getgid()}")


def _engine_reachable() -> bool:
    import docker

    try:
        client = docker.from_env(timeout=5)
    except docker.errors.DockerException:
        return False
    try:
        return bool(client.ping())
    except Exception:  # requests/urllib3/docker errors alike: nothing usable answers there
        return False
    finally:
        client.close()


@contextlib.contextmanager
def engine_api(socket_dir: Path):
    """A Docker-compatible engine API for the duration of a run.

    The one DOCKER_HOST (or the default socket) names when it answers; otherwise podman's own API
    service, started on a socket in `socket_dir` and stopped afterwards."""
    if _engine_reachable():
        yield os.environ.get("DOCKER_HOST", "default")
        return
    if not shutil.which("podman"):
        raise RuntimeError("no container engine: no Docker API answers (DOCKER_HOST or /var/run/docker.sock) "
                           "and podman is not installed")
    socket = socket_dir / "podman.sock"
    socket.unlink(missing_ok=True)
    service = subprocess.Popen(["podman", "system", "service", "--time=0", f"unix://{socket}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    saved = os.environ.get("DOCKER_HOST")
    os.environ["DOCKER_HOST"] = f"unix://{socket}"
    try:
        deadline = time.monotonic() + 30
        while not _engine_reachable():
            if service.poll() is not None or time.monotonic() > deadline:
                why = service.stderr.read()[-500:] if service.poll() is not None else "no answer in 30 s"
                raise RuntimeError(f"podman system service did not start: {why}")
            time.sleep(0.2)
        yield os.environ["DOCKER_HOST"]
    finally:
        if saved is None:
            os.environ.pop("DOCKER_HOST", None)
        else:
            os.environ["DOCKER_HOST"] = saved
        service.terminate()
        try:
            service.wait(timeout=10)
        except subprocess.TimeoutExpired:
            service.kill()
        socket.unlink(missing_ok=True)

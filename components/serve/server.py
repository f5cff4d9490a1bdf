"""`fersynth serve`: a real Triton Inference Server on this machine, serving the export stage's
model repository over KServe v2 HTTP and gRPC, with Prometheus metrics.

The tritonserver binary, its Python backend and the backend stub for this Python come from the
nvidia-pytriton wheel. The stub embeds this interpreter, so it needs this Python's shared
library on LD_LIBRARY_PATH and this environment's bin/ first on PATH (to find numpy and
onnxruntime).
"""
from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from . import repository

log = logging.getLogger(__name__)


class ServerError(RuntimeError):
    """Triton could not start or stopped; the message carries the end of its log."""


@dataclass(frozen=True)
class Ports:
    http: int = 8000
    grpc: int = 8001
    metrics: int = 8002


def free_ports() -> Ports:
    """Three distinct free loopback ports (held open together while choosing, so none repeats)."""
    import socket

    sockets = [socket.socket() for _ in range(3)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return Ports(*ports)


def triton_distribution() -> tuple[Path, Path, Path, Path]:
    """(tritonserver binary, python backend folder, stub for this Python, bundled libraries)."""
    try:
        import pytriton
    except ImportError as exc:
        raise ServerError("the embedded Triton comes from the nvidia-pytriton package, which is not installed "
                          "(pip install 'fersynth[serve]', i.e. nvidia-pytriton==0.7.0)") from exc
    root = Path(pytriton.__file__).parent
    dist = root / "tritonserver"
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    paths = (dist / "bin" / "tritonserver", dist / "backends" / "python",
             dist / "python_backend_stubs" / version / "triton_python_backend_stub", root.parent / "nvidia_pytriton.libs")
    for path in paths:
        if not path.exists():
            raise ServerError(f"nvidia-pytriton is incomplete or lacks Python {version} support: {path} not found")
    return paths


def _stop_with_parent() -> None:
    """In the child before exec: Linux sends it SIGTERM when the process that started it dies,
    so a killed `fersynth serve` or test run never leaves a server holding the ports."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


WORKDIR_PREFIX = "fersynth-triton-"


def _remove_abandoned_workdirs() -> None:
    """Temporary folders of servers whose owner was killed outright (SIGKILL leaves no time to clean)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*"):
        try:
            os.kill(int((folder / "owner.pid").read_text()), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (OSError, ValueError):
            continue  # no pid file yet, or another user's: leave it


class EmbeddedTriton:
    """Start with `start()` (blocks until every model is ready) or as a context manager."""

    def __init__(self, model_repository: str, ports: Ports = Ports(), address: str = "127.0.0.1",
                 workdir: str | Path | None = None, threads: int = 0, startup_timeout: float = 120.0):
        self.source, self.ports, self.address = model_repository, ports, address
        self.threads, self.startup_timeout = threads, startup_timeout
        self._own_workdir = workdir is None
        if workdir is None:
            _remove_abandoned_workdirs()
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix=WORKDIR_PREFIX))
        (self.workdir / "owner.pid").write_text(str(os.getpid()))
        self.log_path = self.workdir / "tritonserver.log"
        self.models: list[repository.ServedModel] = []
        self._process: subprocess.Popen | None = None

    @property
    def http_url(self) -> str:
        return f"{self.address}:{self.ports.http}"

    @property
    def grpc_url(self) -> str:
        return f"{self.address}:{self.ports.grpc}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.address}:{self.ports.metrics}/metrics"

    def _prepare(self) -> list[str]:
        binary, backend, stub, libs = triton_distribution()
        source = repository.fetch(self.source, self.workdir)
        self.models = repository.embedded_copy(source, self.workdir / "repository")
        backends = self.workdir / "backends"
        if not (backends / "python" / stub.name).exists():
            shutil.copytree(backend, backends / "python", dirs_exist_ok=True)
            shutil.copy2(stub, backends / "python" / stub.name)
        return [str(binary), f"--model-repository={self.workdir / 'repository'}", f"--backend-directory={backends}",
                f"--http-address={self.address}", f"--grpc-address={self.address}",
                f"--metrics-address={self.address}", f"--http-port={self.ports.http}",
                f"--grpc-port={self.ports.grpc}", f"--metrics-port={self.ports.metrics}",
                "--allow-metrics=true", "--allow-gpu-metrics=false", "--exit-timeout-secs=5",
                "--strict-readiness=true"]

    def _environment(self) -> dict[str, str]:
        _, _, _, libs = triton_distribution()
        env = dict(os.environ)
        lib_dirs = [sysconfig.get_config_var("LIBDIR"), str(libs), env.get("LD_LIBRARY_PATH", "")]
        env["LD_LIBRARY_PATH"] = ":".join(p for p in lib_dirs if p)
        env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
        if self.threads:
            env["FERSYNTH_SERVE_THREADS"] = str(self.threads)
        return env

    def start(self) -> "EmbeddedTriton":
        try:
            command = self._prepare()
            log.info("starting Triton: %s", " ".join(command))
            with self.log_path.open("wb") as out:
                self._process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                                 env=self._environment(), preexec_fn=_stop_with_parent)
            self._wait_ready()
        except BaseException:
            self.stop()  # no server or temporary folder is left behind
            raise
        names = ", ".join(f"{m.name} (versions {', '.join(map(str, m.versions))})" for m in self.models)
        log.info("Triton ready: HTTP %s, gRPC %s, metrics %s; serving %s", self.http_url, self.grpc_url,
                 self.metrics_url, names)
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        url = f"http://{self.http_url}/v2/health/ready"
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ServerError(f"Triton exited with code {self._process.returncode} while starting:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.25)
        raise ServerError(f"Triton was not ready after {self.startup_timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return "(no log)"
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(line for line in text[-lines:] if line.strip())

    def wait(self) -> int:
        """Block until the server exits (Ctrl-C stops it)."""
        return self._process.wait()

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "EmbeddedTriton":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

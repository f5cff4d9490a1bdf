"""Real servers for integration tests, started on loopback and stopped afterwards.

S3: Ceph's RADOS Gateway (Debian packages radosgw, ceph-mon, ceph-osd): one monitor,
one OSD on the in-memory object store, and RGW with the beast frontend. It checks
signatures for real (a wrong secret is refused), unlike in-process S3 mocks, and
starts in about 10 s. Daemons talk without cephx (auth none), which needs every
messenger mode set to crc.
"""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

CEPH_BINARIES = ("ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "monmaptool", "ceph")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ceph_available() -> bool:
    return all(shutil.which(b) for b in CEPH_BINARIES)


@dataclass
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str

    def bucket(self, name: str) -> str:
        """Create bucket `name` unless it exists; returns the name."""
        from minio import Minio

        client = Minio(self.endpoint, self.access_key, self.secret_key, secure=False)
        if not client.bucket_exists(name):
            client.make_bucket(name)
        return name


class CephRGW:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.procs: list[subprocess.Popen] = []
        self.mon_port, self.rgw_port = free_port(), free_port()
        self.conf = self.root / "ceph.conf"

    def _write_conf(self, fsid: str) -> None:
        r = self.root
        for sub in ("run", "log", "mon/ceph-a", "osd/ceph-0", "rgw"):
            (r / sub).mkdir(parents=True, exist_ok=True)
        modes = "\n".join(f"ms {k} mode = crc" for k in ("cluster", "service", "client", "mon cluster",
                                                           "mon service", "mon client"))
        # The mon's store is a few MB and the OSD keeps its objects in memory: a disk under 5 % free (the
        # mon's default "avail crit") must not stop the mon, as it did on a machine full of run folders.
        self.conf.write_text(f"""[global]
fsid = {fsid}
mon host = v2:127.0.0.1:{self.mon_port}
mon initial members = a
auth cluster required = none
auth service required = none
auth client required = none
{modes}
ms bind msgr1 = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
mon data avail crit = 1
mon data avail warn = 2
osd crush chooseleaf type = 0
osd objectstore = memstore
memstore device bytes = 1073741824
run dir = {r}/run
admin socket = {r}/run/$name.asok
log file = {r}/log/$name.log
mon data = {r}/mon/$cluster-$id
osd data = {r}/osd/$cluster-$id
keyring = {r}/keyring
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:{self.rgw_port}
rgw data = {r}/rgw
""")

    def _run(self, *args: str, timeout: float = 60) -> str:
        result = subprocess.run([*args, "-c", str(self.conf)], capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {result.stderr[-2000:]}")
        return result.stdout

    def _daemon(self, *args: str) -> None:
        log = open(self.root / "log" / f"{args[0]}.out", "w")
        self.procs.append(subprocess.Popen([*args, "-f", "-c", str(self.conf)], stdout=log, stderr=log))

    def start(self, timeout: float = 90) -> S3Server:
        fsid = str(uuid.uuid4())
        self._write_conf(fsid)
        subprocess.run(["ceph-authtool", "--create-keyring", str(self.root / "keyring"), "--gen-key", "-n", "mon.",
                        "--cap", "mon", "allow *"], check=True, capture_output=True)
        subprocess.run(["monmaptool", "--create", "--fsid", fsid, "--addv", "a",
                        f"[v2:127.0.0.1:{self.mon_port}]", str(self.root / "monmap")], check=True, capture_output=True)
        self._run("ceph-mon", "--mkfs", "-i", "a", "--monmap", str(self.root / "monmap"),
                  "--keyring", str(self.root / "keyring"))
        self._daemon("ceph-mon", "-i", "a")
        osd_uuid = str(uuid.uuid4())
        osd_id = self._run("ceph", "osd", "new", osd_uuid, "--connect-timeout", "30").strip()
        self._run("ceph-osd", "-i", osd_id, "--mkfs", "--osd-uuid", osd_uuid)
        self._daemon("ceph-osd", "-i", osd_id)
        self._daemon("radosgw", "-n", "client.rgw.a")
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.rgw_port}"
        while True:
            try:
                urllib.request.urlopen(url, timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline or any(p.poll() is not None for p in self.procs):
                    self.stop()
                    raise RuntimeError(f"Ceph RGW did not come up; logs in {self.root / 'log'}")
                time.sleep(0.5)
        access, secret = "FERSYNTHTEST", uuid.uuid4().hex
        self._run("radosgw-admin", "user", "create", "--uid", "fersynth", "--display-name", "fersynth tests",
                  "--access-key", access, "--secret-key", secret)
        return S3Server(f"127.0.0.1:{self.rgw_port}", access, secret)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()


def _wait_http(url: str, proc: subprocess.Popen, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{what} not ready at {url} after {timeout:.0f} s:\n{log.read_text()[-2000:]}")


class _Daemon:
    """One server binary on a loopback port, its output in a log file."""

    binary = ""
    ready_path = "/"

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    @classmethod
    def available(cls) -> bool:
        return shutil.which(cls.binary) is not None

    def arguments(self) -> list[str]:
        raise NotImplementedError

    def start(self, timeout: float = 60) -> "_Daemon":
        log = self.root / f"{self.binary}.log"
        with log.open("wb") as out:
            self.proc = subprocess.Popen([self.binary, *self.arguments()], stdout=out, stderr=subprocess.STDOUT)
        _wait_http(f"http://{self.address}{self.ready_path}", self.proc, timeout, self.binary, log)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Pushgateway(_Daemon):
    """Prometheus Pushgateway (Debian package prometheus-pushgateway)."""

    binary = "prometheus-pushgateway"
    ready_path = "/-/ready"

    def arguments(self) -> list[str]:
        return [f"--web.listen-address={self.address}", f"--persistence.file={self.root / 'metrics.store'}"]


class Prometheus(_Daemon):
    """Prometheus scraping the given targets every second (Debian package prometheus)."""

    binary = "prometheus"
    ready_path = "/-/ready"

    def __init__(self, root: Path, targets: dict[str, str]):
        super().__init__(root)
        jobs = "".join(f"  - job_name: {job}\n    honor_labels: true\n    static_configs:\n"
                       f"      - targets: ['{target}']\n" for job, target in targets.items())
        self.config = self.root / "prometheus.yml"
        self.config.write_text(f"global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n{jobs}")

    def arguments(self) -> list[str]:
        return [f"--config.file={self.config}", f"--storage.tsdb.path={self.root / 'data'}",
                f"--web.listen-address={self.address}"]

    def query(self, expression: str) -> list[dict]:
        url = f"http://{self.address}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())["data"]["result"]

"""Real servers for integration tests, started on loopback and stopped afterwards.

S3: Ceph's RADOS Gateway (Debian packages radosgw, ceph-mon, ceph-osd): one monitor,
one OSD on the in-memory object store, and RGW with the beast frontend. It checks
signatures for real (a wrong secret is refused), unlike in-process S3 mocks, and
starts in about 10 s. Daemons talk without cephx (auth none), which needs every
messenger mode set to crc.
"""
from __future__ import annotations

import shutil
import socket
import subprocess
import time
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

"""Storage by URI: plain paths / file:// and s3://bucket/prefix through the minio SDK.

S3 endpoint and credentials come only from the environment and are never logged:
  FERSYNTH_S3_ENDPOINT (host:port, or a URL; AWS_ENDPOINT_URL also works),
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, FERSYNTH_S3_SECURE (1/0, default from the URL scheme),
  AWS_REGION (optional).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import urlparse

from .imageio import atomic_write_bytes


class StorageError(RuntimeError):
    pass


@dataclass(frozen=True)
class Location:
    scheme: str  # "file" or "s3"
    bucket: str  # empty for files
    key: str  # path for files, object key prefix for s3

    def child(self, name: str) -> "Location":
        if self.scheme == "file":
            return Location("file", "", str(Path(self.key) / name))
        return Location("s3", self.bucket, f"{self.key.rstrip('/')}/{name}" if self.key else name)

    def __str__(self) -> str:
        return self.key if self.scheme == "file" else f"s3://{self.bucket}/{self.key}"


def parse_uri(uri: str | os.PathLike) -> Location:
    text = os.fspath(uri)
    if text.startswith("s3://"):
        parsed = urlparse(text)
        if not parsed.netloc:
            raise StorageError(f"{text}: s3 URI needs a bucket (s3://bucket/prefix)")
        return Location("s3", parsed.netloc, parsed.path.lstrip("/"))
    if text.startswith("file://"):
        return Location("file", "", urlparse(text).path)
    if "://" in text:
        raise StorageError(f"{text}: unsupported URI scheme (use a path, file:// or s3://)")
    return Location("file", "", text)


def _s3_client():
    from minio import Minio

    endpoint = os.environ.get("FERSYNTH_S3_ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        raise StorageError("s3:// URIs need FERSYNTH_S3_ENDPOINT (host:port) in the environment")
    secure_default = endpoint.startswith("https://")
    host = endpoint.split("://", 1)[-1].rstrip("/")
    secure = os.environ.get("FERSYNTH_S3_SECURE", "1" if secure_default else "0") in ("1", "true", "yes")
    access, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not access or not secret:
        raise StorageError("s3:// URIs need AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment")
    # Retries are ours (_with_retries, which names the object); the HTTP pool makes one attempt each.
    import urllib3

    http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=5, read=120), retries=False,
                               maxsize=8, cert_reqs="CERT_REQUIRED" if secure else "CERT_NONE")
    return Minio(host, access_key=access, secret_key=secret, secure=secure,
                 region=os.environ.get("AWS_REGION") or None, http_client=http)


def _with_retries(action: str, what: str, fn, attempts: int = 4, base_delay: float = 0.5):
    """Retry transient failures with exponential backoff, then fail naming the object."""
    from minio.error import S3Error
    from urllib3.exceptions import HTTPError

    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchBucket", "AccessDenied", "SignatureDoesNotMatch",
                            "InvalidAccessKeyId"):
                raise StorageError(f"{action} {what}: {exc.code}") from None
            error = f"{exc.code}"
        except (OSError, HTTPError) as exc:  # connection refused, timeouts, resets
            error = type(exc).__name__
        if attempt == attempts:
            raise StorageError(f"{action} {what}: failed after {attempts} attempts ({error})")
        time.sleep(base_delay * 2 ** (attempt - 1))


def read_bytes(uri: str | Location) -> bytes:
    loc = uri if isinstance(uri, Location) else parse_uri(uri)
    if loc.scheme == "file":
        try:
            return Path(loc.key).read_bytes()
        except OSError as exc:
            raise StorageError(f"read {loc}: {exc.strerror or exc}") from None
    client = _s3_client()

    def get() -> bytes:
        response = client.get_object(loc.bucket, loc.key)
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    return _with_retries("read", str(loc), get)


def write_bytes(uri: str | Location, data: bytes) -> None:
    loc = uri if isinstance(uri, Location) else parse_uri(uri)
    if loc.scheme == "file":
        atomic_write_bytes(loc.key, data)
        return
    import io

    client = _s3_client()
    _with_retries("write", str(loc), lambda: client.put_object(loc.bucket, loc.key, io.BytesIO(data), len(data)))


def list_files(uri: str | Location) -> Iterator[str]:
    """Names relative to `uri` of every file below it, sorted for deterministic order."""
    loc = uri if isinstance(uri, Location) else parse_uri(uri)
    if loc.scheme == "file":
        root = Path(loc.key)
        if not root.is_dir():
            raise StorageError(f"{root}: not a directory")
        yield from sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
        return
    client = _s3_client()
    prefix = loc.key.rstrip("/") + "/" if loc.key else ""
    objects = _with_retries("list", str(loc),
                            lambda: list(client.list_objects(loc.bucket, prefix=prefix, recursive=True)))
    yield from sorted(obj.object_name[len(prefix):] for obj in objects if not obj.is_dir)


def _remote_md5s(loc: Location) -> dict[str, str]:
    """name -> MD5 of the objects below an s3 prefix (the ETag of a single-part upload)."""
    client = _s3_client()
    prefix = loc.key.rstrip("/") + "/" if loc.key else ""
    objects = _with_retries("list", str(loc),
                            lambda: list(client.list_objects(loc.bucket, prefix=prefix, recursive=True)))
    return {o.object_name[len(prefix):]: (o.etag or "").strip('"') for o in objects if not o.is_dir}


def upload_dir(local_dir: str | Path, uri: str) -> int:
    """Copy every file below `local_dir` to `uri`, except hidden working files (journal, lock, caches).

    Objects already there with the same content are skipped, so an upload that died half-way
    resumes where it stopped."""
    import hashlib

    local_dir = Path(local_dir)
    dest = parse_uri(uri)
    present = _remote_md5s(dest) if dest.scheme == "s3" else {}
    count = 0
    for name in list_files(str(local_dir)):
        if any(part.startswith(".") for part in name.split("/")):
            continue
        data = (local_dir / name).read_bytes()
        if present.get(name) != hashlib.md5(data).hexdigest():
            write_bytes(dest.child(name), data)
        count += 1
    return count


LEASE_NAME = ".fersynth-lease.json"


class PrefixLease:
    """One writer per s3:// output prefix: a lease object names the writer; another writer is refused.

    The writer is identified by host and local staging folder, so the same machine resuming a crashed
    stage takes its own lease back, while a second machine (or run) writing the prefix is refused
    instead of interleaving files. A lease older than `ttl_s` is treated as abandoned."""

    def __init__(self, uri: str, ttl_s: float = 24 * 3600):
        import socket

        self.loc = parse_uri(uri).child(LEASE_NAME)
        self.ttl_s = ttl_s
        self.owner = f"{socket.gethostname()}:{staging_dir(uri)}"
        self.record = {"owner": self.owner, "pid": os.getpid()}

    def _current(self) -> dict | None:
        import json

        try:
            return json.loads(read_bytes(self.loc))
        except StorageError as exc:
            if "NoSuchKey" in str(exc):
                return None
            raise

    def acquire(self) -> "PrefixLease":
        import json

        held = self._current()
        if held and held.get("owner") != self.owner and time.time() - held.get("since", 0) < self.ttl_s:
            raise StorageError(f"{self.loc}: another fersynth run ({held.get('owner')}, pid {held.get('pid')}, "
                               f"since {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(held.get('since', 0)))} "
                               "UTC) is writing this prefix; use another output, or delete the lease if that "
                               "run is gone")
        write_bytes(self.loc, json.dumps({**self.record, "since": time.time()}).encode())
        time.sleep(0.2)  # two writers racing: both wrote, the later one wins; the other sees it and stops
        held = self._current()
        if not held or held.get("owner") != self.owner:
            raise StorageError(f"{self.loc}: lost the lease to {held and held.get('owner')}; not writing")
        return self

    def release(self) -> None:
        client = _s3_client()
        _with_retries("delete", str(self.loc), lambda: client.remove_object(self.loc.bucket, self.loc.key))

    def __enter__(self) -> "PrefixLease":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def fetch_to_local(uri: str, cache_dir: str | Path) -> str:
    """A local path for a file given by path or URI (s3:// objects are copied into cache_dir once)."""
    loc = parse_uri(uri)
    if loc.scheme == "file":
        return loc.key
    local = Path(cache_dir) / Path(loc.key).name
    if not local.exists():
        atomic_write_bytes(local, read_bytes(loc))
    return str(local)


def cache_root() -> Path:
    """fersynth's per-user cache (FERSYNTH_CACHE, default ~/.cache/fersynth): staging copies, derived models."""
    return Path(os.environ.get("FERSYNTH_CACHE", Path.home() / ".cache" / "fersynth"))


def staging_dir(uri: str) -> Path:
    """A stable local folder for an s3:// dataset, so an interrupted stage resumes where it stopped."""
    import hashlib

    return cache_root() / "staging" / hashlib.sha1(uri.encode()).hexdigest()[:16]


def local_path(uri: str, download: bool) -> Path:
    """A local directory for `uri`: the path itself, or a staging copy of an s3:// prefix."""
    loc = parse_uri(uri)
    if loc.scheme == "file":
        return Path(loc.key)
    local = staging_dir(uri)
    if download:
        download_dir(uri, local)
    return local


def download_dir(uri: str, local_dir: str | Path) -> int:
    """Copy every object below `uri` into `local_dir`, skipping files already there (atomic writes make them complete)."""
    src = parse_uri(uri)
    local_dir = Path(local_dir)
    count = 0
    for name in list_files(src):
        target = local_dir / name
        if not target.exists():
            atomic_write_bytes(target, read_bytes(src.child(name)))
        count += 1
    return count

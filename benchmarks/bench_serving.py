"""Load test of the FER endpoint: the embedded Triton (HTTP and gRPC) against onnxruntime in-process.

    .venv/bin/python benchmarks/bench_serving.py --model-repository runs/NAME/export [--requests 400]

Starts `fersynth serve`'s server on loopback, sends a bounded number of batch-1 requests of
real aligned face crops, first one at a time, then from 8 concurrent clients, and reports
requests/s, p50/p99 latency and failed requests; then the same workload on one onnxruntime
session in this process. Writes the figures as JSON (--json).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from components.common.faces import FaceDetector, align_most_confident  # noqa: E402
from components.common.fer_preprocess import preprocess  # noqa: E402
from components.common.imageio import read_image  # noqa: E402
from components.serve.client import FERClient  # noqa: E402
from components.serve.server import EmbeddedTriton, free_ports  # noqa: E402


def face_inputs(client: FERClient) -> list[np.ndarray]:
    """Batch-1 inputs from the sample photos that ship with matplotlib and scikit-image."""
    import matplotlib
    from skimage import data

    photos = [read_image(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"), data.astronaut()]
    detector = FaceDetector()
    inputs = []
    for photo in photos:
        aligned = align_most_confident(detector, photo, client.model.align_size, client.model.align_padding)[0]
        inputs.append(preprocess([aligned.crop], client.model.spec))
    return inputs


def drive(send, inputs: list[np.ndarray], requests: int, concurrency: int) -> dict:
    """Run `requests` calls of `send(batch)` spread over `concurrency` threads; latency per call."""
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    per_thread = [requests // concurrency + (i < requests % concurrency) for i in range(concurrency)]

    def worker(count: int, offset: int) -> None:
        sender = send()
        for i in range(count):
            start = time.perf_counter()
            try:
                sender(inputs[(offset + i) % len(inputs)])
            except Exception as exc:  # counted and reported, the run goes on
                with lock:
                    failures.append(str(exc))
                continue
            with lock:
                latencies.append(time.perf_counter() - start)

    for _ in range(min(20, requests)):  # warm-up
        send()(inputs[0])
    threads = [threading.Thread(target=worker, args=(n, i)) for i, n in enumerate(per_thread)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    ms = sorted(x * 1000 for x in latencies)
    return {"concurrency": concurrency, "requests": requests, "failed": len(failures),
            "requests_per_s": round(len(latencies) / elapsed, 1),
            "p50_ms": round(statistics.median(ms), 2) if ms else None,
            "p99_ms": round(ms[min(len(ms) - 1, int(0.99 * len(ms)))], 2) if ms else None,
            "first_failure": failures[0] if failures else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-repository", required=True, help="the export stage's output folder")
    parser.add_argument("--model", default="fersynth_fer")
    parser.add_argument("--requests", type=int, default=400, help="requests per measurement (bounded run)")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    import onnxruntime as ort

    results = []
    with EmbeddedTriton(args.model_repository, free_ports()) as server:
        inputs = face_inputs(FERClient(server.http_url, args.model))
        for protocol, url in (("http", server.http_url), ("grpc", server.grpc_url)):

            def triton_sender(url=url, protocol=protocol):
                return FERClient(url, args.model, protocol=protocol).infer  # one connection per client thread

            for concurrency in (1, 8):
                results.append({"path": f"triton-{protocol}", **drive(triton_sender, inputs, args.requests, concurrency)})
                print(json.dumps(results[-1]), flush=True)
        model_file = next(Path(server.workdir, "repository", args.model).glob("*/model.onnx"))
        session = ort.InferenceSession(str(model_file), providers=["CPUExecutionProvider"])
    input_name, output_name = session.get_inputs()[0].name, session.get_outputs()[0].name

    def ort_sender():
        return lambda batch: session.run([output_name], {input_name: batch})

    for concurrency in (1, 8):
        results.append({"path": "onnxruntime-in-process", **drive(ort_sender, inputs, args.requests, concurrency)})
        print(json.dumps(results[-1]), flush=True)
    print(f"\n{'path':24} {'conc':>4} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'failed':>6}")
    for r in results:
        print(f"{r['path']:24} {r['concurrency']:>4} {r['requests_per_s']:>8} {r['p50_ms']:>8} {r['p99_ms']:>8} "
              f"{r['failed']:>6}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

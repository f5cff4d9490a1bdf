"""A FER client for a Triton endpoint (embedded `fersynth serve` or the production chart).

Everything it needs besides the URL comes from the served model's config parameters, written by
the export stage: the preprocessing spec, the labels, the task and how training aligned faces.
Photos go through the same MTCNN detection and 5-point alignment as the training data, then
`components.common.fer_preprocess.preprocess`, the one preprocessing function of the project.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from components.common.faces import FaceDetector, align_most_confident
from components.common.fer_preprocess import PreprocessSpec, preprocess
from components.common.imageio import ImageError, read_image


class ClientError(RuntimeError):
    """The endpoint or model cannot answer: unreachable, model or version missing, bad config."""


@dataclass(frozen=True)
class ServedFER:
    name: str
    version: str
    task: str
    labels: list[str]
    spec: PreprocessSpec
    align_size: int
    align_padding: float
    max_batch_size: int
    input_name: str
    output_name: str


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


class FERClient:
    def __init__(self, url: str = "127.0.0.1:8000", model: str = "fersynth_fer", version: str = "",
                 protocol: str = "http", timeout: float = 30.0):
        if protocol not in ("http", "grpc"):
            raise ClientError(f"protocol must be http or grpc, not {protocol!r}")
        self.url, self.protocol, self.timeout = url, protocol, timeout
        self._client = self._connect()
        self.model = self._describe(model, str(version))
        self._detector: FaceDetector | None = None

    def _connect(self):
        try:
            if self.protocol == "http":
                import tritonclient.http as triton

                client = triton.InferenceServerClient(self.url, connection_timeout=self.timeout,
                                                      network_timeout=self.timeout)
            else:
                import tritonclient.grpc as triton

                client = triton.InferenceServerClient(self.url)
            live = client.is_server_live()
        except Exception as exc:  # connection refused, DNS, timeouts: all mean the same to the user
            raise ClientError(f"Triton at {self.url} ({self.protocol}) is unreachable: {exc}") from exc
        if not live:
            raise ClientError(f"Triton at {self.url} answers but is not live")
        self._triton = triton
        return client

    def _describe(self, name: str, version: str) -> ServedFER:
        if not self._client.is_model_ready(name, version):
            versions = self._ready_versions(name)
            wanted = f"version {version} of model {name!r}" if version else f"model {name!r}"
            raise ClientError(f"{wanted} is not ready on {self.url}; ready versions: "
                              f"{', '.join(versions) if versions else 'none'}")
        config = self._client.get_model_config(name, version)
        if self.protocol == "grpc":
            from google.protobuf.json_format import MessageToDict

            config = MessageToDict(config.config, preserving_proto_field_name=True)
        params = {k: v.get("string_value", "") for k, v in config.get("parameters", {}).items()}
        missing = [k for k in ("fersynth.preprocess", "fersynth.labels") if k not in params]
        if missing:
            raise ClientError(f"model {name!r} on {self.url} lacks {', '.join(missing)} in its config; "
                              "it was not written by `fersynth export`")
        alignment = json.loads(params.get("fersynth.alignment", '{"size": 100, "padding": 0.0}'))
        return ServedFER(name, version, params.get("fersynth.task", "emotion"), json.loads(params["fersynth.labels"]),
                         PreprocessSpec.from_json(params["fersynth.preprocess"]), int(alignment["size"]),
                         float(alignment["padding"]), int(config.get("max_batch_size", 0)) or 1,
                         config["input"][0]["name"], config["output"][0]["name"])

    def _ready_versions(self, name: str) -> list[str]:
        index = self._client.get_model_repository_index()
        if self.protocol == "grpc":
            from google.protobuf.json_format import MessageToDict

            index = MessageToDict(index).get("models", [])
        return sorted(m.get("version", "") for m in index if m.get("name") == name and m.get("state") == "READY")

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Raw model outputs for a preprocessed (N, C, H, W) float32 batch, sent in max_batch_size chunks."""
        outputs = []
        for start in range(0, len(batch), self.model.max_batch_size):
            chunk = np.ascontiguousarray(batch[start:start + self.model.max_batch_size], np.float32)
            tensor = self._triton.InferInput(self.model.input_name, list(chunk.shape), "FP32")
            tensor.set_data_from_numpy(chunk)
            wanted = [self._triton.InferRequestedOutput(self.model.output_name)]
            try:
                result = self._client.infer(self.model.name, [tensor], model_version=self.model.version,
                                            outputs=wanted)
            except Exception as exc:
                raise ClientError(f"inference on {self.url} failed: {exc}") from exc
            outputs.append(result.as_numpy(self.model.output_name))
        return np.concatenate(outputs) if outputs else np.zeros((0, len(self.model.labels)), np.float32)

    def probabilities(self, crops: list[np.ndarray]) -> np.ndarray:
        """Per-label probabilities (softmax over emotions, sigmoid per AU) for aligned face crops."""
        logits = self.infer(preprocess(crops, self.model.spec))
        return _softmax(logits) if self.model.task == "emotion" else 1.0 / (1.0 + np.exp(-logits))

    def align_face(self, image: np.ndarray) -> tuple[np.ndarray, dict]:
        """The most confident face, aligned like the training crops; ValueError when there is none."""
        if self._detector is None:
            self._detector = FaceDetector()
        aligned, face, found = align_most_confident(self._detector, image, self.model.align_size,
                                                    self.model.align_padding)
        return aligned.crop, {"face_box": [round(v, 1) for v in face.box], "face_score": round(face.score, 4),
                              "faces_found": found}

    def predict_files(self, paths: list[str | Path]) -> list[dict]:
        """One result per path: label probabilities, or an `error` naming why the image was skipped."""
        results: list[dict] = []
        crops, slots = [], []
        for path in paths:
            try:
                crop, face = self.align_face(read_image(path))
            except (ImageError, ValueError, OSError) as exc:
                results.append({"image": str(path), "error": str(exc)})
                continue
            slots.append(len(results))
            results.append({"image": str(path), **face})
            crops.append(crop)
        if crops:
            for slot, probs in zip(slots, self.probabilities(crops)):
                ranked = sorted(zip(self.model.labels, probs.tolist()), key=lambda kv: -kv[1])
                results[slot].update({"prediction": ranked[0][0],
                                      "probabilities": {k: round(v, 6) for k, v in ranked}})
        return results

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "FERClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

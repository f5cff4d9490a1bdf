"""Triton Python-backend model: the exported model.onnx run by onnxruntime (embedded server only).

Triton loads this file as `<name>/<version>/model.py`; it sees only numpy, onnxruntime and
Triton's `triton_python_backend_utils`. Requests arrive already grouped by the dynamic batcher:
they are run as one onnxruntime batch and split back.
"""
import json
import os

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        self.input_name = config["input"][0]["name"]
        self.output_name = config["output"][0]["name"]
        path = os.path.join(args["model_repository"], args["model_version"], "model.onnx")
        options = ort.SessionOptions()
        threads = int(os.environ.get("FERSYNTH_SERVE_THREADS", "0"))
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])

    def execute(self, requests):
        batches = [pb_utils.get_input_tensor_by_name(r, self.input_name).as_numpy() for r in requests]
        outputs = self.session.run([self.output_name], {self.input_name: np.concatenate(batches)})[0]
        responses, start = [], 0
        for batch in batches:
            part = outputs[start:start + len(batch)]
            start += len(batch)
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor(self.output_name, part)]))
        return responses

"""Export: ONNX with a dynamic batch, parity-checked against torch, and a Triton model repository."""

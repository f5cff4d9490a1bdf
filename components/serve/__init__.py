"""Serving the exported FER model: an embedded Triton server and a tritonclient-based client."""

"""What several stages share: parameters, the dataset contract, storage, image I/O, faces, telemetry."""

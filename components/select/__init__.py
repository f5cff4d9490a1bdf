"""Training Data Selection: face check, image quality (BRISQUE, NIQE, FR metrics, FID/KID), top-k per batch."""

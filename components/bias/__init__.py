"""The bias stage: class, identity and skin-tone balance of a dataset, and per-group accuracy."""

"""FER training: dataset readers with one label vocabulary, real + k x synthetic mixing, models, sweeps."""

"""Networks only (generators, editors, classifiers) and their safe checkpoint loading."""

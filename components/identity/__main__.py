"""python -m components.identity ... (same as `fersynth identity ...`)."""
import sys

from components.cli import main

sys.exit(main(["identity", *sys.argv[1:]]))

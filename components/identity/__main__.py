"""python -m components.identity ... (the same as `fersynth identity ...`)."""
import sys

from components.cli import main

sys.exit(main(["identity", *sys.argv[1:]]))

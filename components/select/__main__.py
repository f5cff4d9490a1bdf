"""python -m components.select ... (the same as `fersynth select ...`)."""
import sys

from components.cli import main

sys.exit(main(["select", *sys.argv[1:]]))

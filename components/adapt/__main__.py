"""python -m components.adapt ... (the same as `fersynth adapt ...`)."""
import sys

from components.cli import main

sys.exit(main(["adapt", *sys.argv[1:]]))

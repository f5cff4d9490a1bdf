"""python -m components.train ... (the same as `fersynth train ...`)."""
import sys

from components.cli import main

sys.exit(main(["train", *sys.argv[1:]]))

"""python -m components.bias ... (the same as `fersynth bias ...`)."""
import sys

from components.cli import main

sys.exit(main(["bias", *sys.argv[1:]]))

"""python -m components.privacy ... (the same as `fersynth privacy ...`)."""
import sys

from components.cli import main

sys.exit(main(["privacy", *sys.argv[1:]]))

"""python -m components.export ... (the same as `fersynth export ...`)."""
import sys

from components.cli import main

sys.exit(main(["export", *sys.argv[1:]]))

"""python -m components.annotate ... (the same as `fersynth annotate ...`)."""
import sys

from components.cli import main

sys.exit(main(["annotate", *sys.argv[1:]]))

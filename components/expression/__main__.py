"""python -m components.expression ... (the same as `fersynth expression ...`)."""
import sys

from components.cli import main

sys.exit(main(["expression", *sys.argv[1:]]))

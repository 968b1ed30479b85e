"""`python -m spectra_distill ...`: the `spectra-distill` command without its console script (e.g. from a
venv's interpreter, or `torchrun -m spectra_distill train ...`)."""

from __future__ import annotations

import sys

from spectra_distill.cli import main

if __name__ == "__main__":
    sys.exit(main())

"""Run diffc from a checkout: ``python cli.py f.py`` is ``diffc f.py``."""

import sys

from diffc.cli import main

if __name__ == "__main__":
    sys.exit(main())

"""``python -m socketsvc``: the command line (see :mod:`socketsvc.cli`)."""

import sys

from socketsvc.cli import main

if __name__ == "__main__":
    sys.exit(main())

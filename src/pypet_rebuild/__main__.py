"""``python -m pypet_rebuild``: the ``pypet-rebuild`` command."""

import sys

from pypet_rebuild.cli.main import main

if __name__ == "__main__":
    sys.exit(main())

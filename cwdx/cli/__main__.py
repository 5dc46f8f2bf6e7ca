"""``python -m cwdx.cli``: the ``cwdx`` command."""

import sys

from cwdx.cli import main

sys.exit(main())

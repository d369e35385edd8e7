"""``python -m pic1d`` = the ``pic1d`` command."""

import sys

from pic1d.cli import main

sys.exit(main())

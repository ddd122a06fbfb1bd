"""``python -m kernelswitch.cli``."""

import sys

from . import main

sys.exit(main())

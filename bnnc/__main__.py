"""``python -m bnnc``: the same as the ``bnnc`` command."""

import sys

from bnnc.cli import main

sys.exit(main())

"""``python -m bnnc``: the same as the ``bnnc`` command."""

import sys

from bnnc.entry import main

sys.exit(main())

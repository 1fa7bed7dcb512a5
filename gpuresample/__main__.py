"""``python -m gpuresample`` is the ``gpuresample`` command."""

import sys

from .cli_entry import main

sys.exit(main())

"""``python -m gpuresample`` is the ``gpuresample`` command."""

import sys

from .cli import main

sys.exit(main())

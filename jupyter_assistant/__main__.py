"""``python -m jupyter_assistant``: the command line (see :mod:`jupyter_assistant.cli`)."""

import sys

from .cli import console_main

sys.exit(console_main())

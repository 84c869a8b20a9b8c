"""`python -m bot` is the `countersign` command."""

import sys

from bot.cli import main

sys.exit(main())

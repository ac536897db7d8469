"""`python -m core ...`: see core/cli/main.py."""

import sys

from core.cli.main import console

sys.exit(console())

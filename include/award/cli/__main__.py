"""`python -m award.cli` runs the `award` command."""

import sys

from award.cli import main

sys.exit(main())

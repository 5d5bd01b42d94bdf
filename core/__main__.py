"""`python -m core ...`: the headless twin of the app."""
from __future__ import annotations

import sys

from core.cli import main

sys.exit(main())

"""Allow ``python -m modc``."""

import sys

from modc.cli import main

sys.exit(main())

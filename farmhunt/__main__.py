"""`python -m farmhunt`: the same as the `farmhunt` console script."""

import sys

from farmhunt.cli import main

sys.exit(main())

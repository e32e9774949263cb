"""`python -m veche`, the same as the `veche` command."""

import sys

from veche.cli import main

sys.exit(main())

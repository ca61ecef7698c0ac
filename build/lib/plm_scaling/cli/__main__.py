"""`python -m plm_scaling.cli`."""

import sys

from . import main

sys.exit(main())

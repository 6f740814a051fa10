"""``python -m beatwise <verb>``: the ``beatwise`` command (:mod:`beatwise.cli`)."""

import sys

from beatwise.cli import main

sys.exit(main())

"""``python -m mildip_ld``: the ``mildip`` command line."""

import sys

from mildip_ld.cli.main import main

sys.exit(main())

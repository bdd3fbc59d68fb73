"""``python -m imagemapper.cli``: the ``imagemapper`` command."""

import sys

from . import main

sys.exit(main())

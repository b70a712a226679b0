"""`python -m picturetime_sync`."""

import sys

from picturetime_sync.cli import main

sys.exit(main())

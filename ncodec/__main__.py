"""``python -m ncodec …`` (and ``torchrun … -m ncodec train …``) runs the CLI."""

import sys

from ncodec.cli import main

sys.exit(main())

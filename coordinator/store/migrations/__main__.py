"""``python -m coordinator.store.migrations "message"``: write the next revision."""

import sys

from coordinator.store.migrations import main

sys.exit(main(sys.argv[1:]))

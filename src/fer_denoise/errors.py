"""Errors a user can fix, and the wrapper that turns them into a clean exit."""

import sys
import time
from collections.abc import Callable


class UserError(Exception):
    """A problem with input, params or environment; its message says what to do."""


def run_stage(main: Callable[[], None]) -> None:
    """Run a stage's main and print its wall time; print a UserError without a traceback and
    exit with status 2."""
    began = time.monotonic()
    try:
        main()
        print(f"finished in {time.monotonic() - began:.0f} s", flush=True)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)

"""Errors a user can fix, and the wrapper that turns them into a clean exit."""

import sys
from collections.abc import Callable


class UserError(Exception):
    """A problem with input, params or environment; its message says what to do."""


def run_stage(main: Callable[[], None]) -> None:
    """Run a stage's main; print a UserError without a traceback and exit with status 2."""
    try:
        main()
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)

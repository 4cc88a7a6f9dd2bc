"""The one error type of the sweep package: a message for the user, printed as ``error: ...``."""


class SweepError(Exception):
    """A bad argument, environment variable or config file; the message says what to change."""

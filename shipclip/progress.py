"""Progress bars that show on a terminal and nowhere else (never in ``log.txt``).

Dassl's and our ``setup_logger`` replace ``sys.stdout`` with an object that copies everything into
``log.txt``; some setups replace ``sys.stderr`` too. A tqdm bar redraws itself with carriage
returns, which turn a log into noise. :func:`progress_bar` therefore writes to the terminal behind
any such wrapper and is switched off when that stream is not a terminal (a file, a pipe, CI).
"""
import sys

from tqdm import tqdm

__all__ = ["progress_bar", "terminal_stream"]


def _unwrap(stream):
    """The console behind a logging tee (Dassl's ``Logger`` and ours keep it as ``.console``)."""
    seen = set()
    while stream is not None and hasattr(stream, "console") and id(stream) not in seen:
        seen.add(id(stream))
        stream = stream.console
    return stream


def _is_terminal(stream):
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError, OSError):  # closed or not a real stream
        return False


def terminal_stream():
    """The terminal to draw bars on (stderr, else stdout, behind any logging tee), or None."""
    for stream in (sys.stderr, sys.stdout):
        console = _unwrap(stream)
        if _is_terminal(console) and not hasattr(console, "file"):
            return console
    return None


def progress_bar(iterable=None, **kwargs):
    """``tqdm(iterable, **kwargs)`` drawn on the terminal only; a silent pass-through elsewhere.

    ``disable=True`` in ``kwargs`` still turns it off. ``file`` is chosen here and cannot be given.
    """
    if "file" in kwargs:
        raise TypeError("progress_bar chooses its own stream (the terminal); do not pass file=.")
    stream = terminal_stream()
    disable = bool(kwargs.pop("disable", False)) or stream is None
    return tqdm(iterable, file=stream if stream is not None else sys.stderr, disable=disable, **kwargs)

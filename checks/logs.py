"""Catching what a learner's code logs, for the checks of middleware that writes an access log.

``caught_logs(logger=None)`` is a ``with`` block that yields the records caught, in order.
"""

import logging
from contextlib import contextmanager


class Records(list):
    """The log records caught, in order."""

    def lines(self):
        return [record.getMessage() for record in self]

    def about(self, request_line):
        """The lines that log ``request_line`` (as it appears in quotes in an access-log line)."""
        return [line for line in self.lines() if f'"{request_line}"' in line]


@contextmanager
def caught_logs(logger=None, level=logging.INFO):
    """Catch what reaches ``logger`` (the root logger when None) at ``level`` or above, and nothing else.

    A logger of the check's own does not pass its records on; for the root
    logger, its level is lowered for the time being (every logger below it
    that has no level of its own then logs at ``level`` too), then restored.
    """
    records = Records()
    target = logger if logger is not None else logging.getLogger()
    handler = logging.Handler(level)
    handler.emit = records.append
    saved = target.level, target.propagate
    target.addHandler(handler)
    target.setLevel(level)
    if logger is not None:
        target.propagate = False
    try:
        yield records
    finally:
        target.removeHandler(handler)
        target.setLevel(saved[0])
        target.propagate = saved[1]

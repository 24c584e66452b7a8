"""One exception type for every user-facing failure.

The CLI prints ``error: <message>`` on one line and exits 2; messages say what is
wrong and how to fix it.
"""


class BenchError(Exception):
    """A problem with the user's input or environment, explained in one line."""

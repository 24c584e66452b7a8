"""One exception type for every user-facing failure.

The CLI prints ``error: <message>`` on one line, never a traceback; messages say what
is wrong and how to fix it. Exit codes: 2 for bad input or usage, found before
anything is written (``BenchError``); 1 for a failure after the work started, such as
a diverged run or a worker that died (``RunFailed``); 130 for Ctrl-C or SIGTERM.
"""


class BenchError(Exception):
    """A problem with the user's input or environment, explained in one line."""

    exit_code = 2


class RunFailed(BenchError):
    """The input was fine but the work it started failed (results may be partly written)."""

    exit_code = 1

"""Command-line tools whose output is piped into a reader that stops early (``... | head``)
end quietly, as Unix tools do, instead of with a traceback."""

from __future__ import annotations

import os
import sys

__all__ = ["EXIT_CLOSED_PIPE", "quiet_on_closed_pipe"]

EXIT_CLOSED_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a tool the closed pipe stopped


def quiet_on_closed_pipe(main, argv=None) -> int:
    """``main(argv)``, its output flushed; when the reader of standard output has closed the
    pipe, exit :data:`EXIT_CLOSED_PIPE` without a traceback (what was written before is
    unaffected: results are files, not standard output)."""
    try:
        code = main(argv)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # later writes, and the interpreter's own flush at exit, go nowhere instead of failing again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_CLOSED_PIPE

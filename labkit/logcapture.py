"""``logging`` output of handler code, captured per invocation in the Python runtime's format.

Lambda's Python runtime writes each log record as
``[LEVEL]\\t<UTC timestamp>Z\\t<request id>\\t<message>``. Levels behave as on AWS:
the root logger stays at WARNING unless the handler module changes it, so
``logger.info(...)`` shows only after ``logger.setLevel(logging.INFO)``.
"""

import logging
import sys
from datetime import datetime, timezone

from . import bridge


class _InvocationLogHandler(logging.Handler):
    def emit(self, record):
        act = bridge.current()
        if act is None:
            # Outside simulated code: behave like logging's last-resort handler would
            # have, had this handler not been installed.
            if record.levelno >= logging.WARNING and len(logging.getLogger().handlers) == 1:
                sys.stderr.write(self.format(record) + "\n")
            return
        stamp = datetime.fromtimestamp(act.lab.epoch + act.env.now, timezone.utc)
        stamp = stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"
        try:
            msg = record.getMessage()
        except Exception as e:   # a learner's bad format string is their log line, not our crash
            msg = f"{record.msg!r} (logging error: {e})"
        act.log.append(f"[{record.levelname}]\t{stamp}\t{act.request_id or ''}\t{msg}")


_HANDLER = None


def install():
    """Attach the capturing handler to the root logger once per process."""
    global _HANDLER
    if _HANDLER is None:
        _HANDLER = _InvocationLogHandler()
        logging.getLogger().addHandler(_HANDLER)

"""Logging set-up: one line per record on stderr, with a timestamp and a level."""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# aiohttp's access log: client address, request line, status, response size, seconds.
ACCESS_LOG_FORMAT = '%a "%r" %s %b %Tf'


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)

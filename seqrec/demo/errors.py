"""The one error type of the demo: a request it refuses, answered as JSON with an HTTP status."""

from __future__ import annotations


class DemoError(Exception):
    """A request the server refuses; becomes ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = int(status)
        self.message = message

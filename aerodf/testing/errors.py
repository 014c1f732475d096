"""The test server's request error: answer a request with a server result code."""

from __future__ import annotations

from aerodf.protocol import resultcodes as RC


class RequestError(Exception):
    """Answer the request with ``code`` (a server result code)."""

    def __init__(self, code: int, msg: str = "") -> None:
        super().__init__(msg or RC.name(code))
        self.code = code

"""The one exception type whose message is meant for users."""

from __future__ import annotations


class CwdxError(Exception):
    """An expected failure with one plain Chinese sentence saying what is wrong and what to do.

    The CLI prints ``str(error)`` and exits with :attr:`exit_code`; the apps show it in the page.
    """

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code

"""The one error type a user can cause and fix."""
from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input, said in one sentence that is shown as-is.

    The UI shows the message with `st.error`; the CLI prints it on one line to stderr and exits with code 2.
    Anything else that escapes is a bug in MedLab, not the user's fault.
    """

    def __init__(self, message: str) -> None:
        message = " ".join(message.split())  # one line, whatever was passed in
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

"""Files holding secrets, created private (0600) from their first byte.

`write_text` then `chmod` leaves a window in which the file is world-readable (0644 under the
usual umask), and a crash between the two leaves it so for good. Here the file is opened with
mode 0600 by the same system call that creates it; an existing file is narrowed first.
"""

from __future__ import annotations

import os
from pathlib import Path


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path`, readable and writable by the owner only, from the start."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # a file that existed keeps its old mode through O_CREAT
        os.write(fd, text.encode())
    finally:
        os.close(fd)

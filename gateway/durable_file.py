"""Files that survive a crash once written, readable by their owner alone."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

# Spooled messages and the configuration snapshot are encrypted; keeping them from other users
# of the host as well costs nothing.
_FILE_MODE = 0o600
_FOLDER_MODE = 0o700


def write_durably(folder: Path, final: Path, blob: bytes) -> Path:
    """Write `final` in `folder` so that it survives a crash once this returns."""
    folder.mkdir(mode=_FOLDER_MODE, parents=True, exist_ok=True)
    # The temporary name is this write's own: replicas may share the folder and get the same
    # status callback at once.
    temporary = final.with_name(f"{final.name}.{secrets.token_hex(8)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(blob)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(final)
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    return final

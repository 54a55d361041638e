"""The one file-hash helper: checkpoints, downloads and model registration all use it."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_CHUNK = 1 << 20  # bytes read at a time: checkpoints run to hundreds of MB


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()

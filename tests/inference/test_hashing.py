"""The one file-hash helper."""

from __future__ import annotations

import hashlib

from inference.hashing import file_sha256


def test_it_hashes_a_file_larger_than_one_chunk(tmp_path):
    payload = bytes(range(256)) * 9000  # about 2.2 MiB: three chunks
    path = tmp_path / "model.pt"
    path.write_bytes(payload)
    assert file_sha256(path) == hashlib.sha256(payload).hexdigest()
    assert file_sha256(str(path)) == file_sha256(path)

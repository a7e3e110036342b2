"""Content hashes of bytes and files."""

from __future__ import annotations

import hashlib
from pathlib import Path

from backdoor_curves.utilities.hashing import file_sha256, sha256_hex


def test_sha256_hex_is_the_standard_digest() -> None:
    # FIPS 180-2 test vector for "abc".
    expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert sha256_hex(b"abc") == expected


def test_file_hash_reads_across_block_boundaries(tmp_path: Path) -> None:
    """A file longer than one 1 MiB read block hashes like its bytes in one piece."""
    data = bytes(range(256)) * ((1 << 20) // 256 * 2 + 3)
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest() == sha256_hex(data)
    (tmp_path / "empty").write_bytes(b"")
    assert file_sha256(tmp_path / "empty") == hashlib.sha256(b"").hexdigest()

"""Service credentials at rest: encrypted, key generated once with owner-only permissions."""

from __future__ import annotations

import pathlib
import stat

from resolvers.credentials import CredentialCipher, load_cipher


def test_generated_key_file_is_private_and_reused(tmp_path: pathlib.Path) -> None:
    key_file = tmp_path / "keys" / "vigil.key"
    first = load_cipher(None, key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    token = first.encrypt("s3cret-token")
    assert "s3cret-token" not in token
    assert load_cipher(None, key_file).decrypt(token) == "s3cret-token"


def test_a_configured_secret_key_wins_over_the_file(tmp_path: pathlib.Path) -> None:
    key_file = tmp_path / "vigil.key"
    cipher = load_cipher("a-configured-secret-key", key_file)
    assert not key_file.exists()
    assert load_cipher("a-configured-secret-key", key_file).decrypt(cipher.encrypt("x")) == "x"


def test_a_value_encrypted_with_another_key_reads_as_none() -> None:
    token = CredentialCipher(b"one key material here").encrypt("secret")
    assert CredentialCipher(b"another key material").decrypt(token) is None

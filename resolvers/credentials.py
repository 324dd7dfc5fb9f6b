"""Service credentials encrypted at rest with Fernet; plaintext exists only on its way to a probe.

The key comes from VIGIL_SECRET_KEY (any string of 16+ characters, stretched with HKDF), or is
generated once into a 0600 file so an embedded install needs no set-up and keeps working
across restarts. Losing the key makes stored credentials unreadable, never readable by others.
"""

from __future__ import annotations

import base64
import logging
import os
import pathlib

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

log = logging.getLogger(__name__)


class CredentialCipher:
    def __init__(self, key_material: bytes) -> None:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"vigil credentials v1").derive(
            key_material
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))
        self._material = key_material

    def derive_key(self, purpose: bytes) -> bytes:
        """A key for another use of the same secret (signing cache entries), unrelated to the credential key."""
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"vigil " + purpose + b" v1").derive(
            self._material
        )

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str | None:
        """None when the stored value was made with another key: the probe then runs without it."""
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            log.error("a stored service credential cannot be decrypted with the configured key")
            return None


def load_cipher(secret_key: str | None, key_file: pathlib.Path) -> CredentialCipher:
    if secret_key is not None:
        return CredentialCipher(secret_key.encode())
    if key_file.exists():
        return CredentialCipher(key_file.read_bytes().strip())
    key_file.parent.mkdir(parents=True, exist_ok=True)
    material = base64.urlsafe_b64encode(os.urandom(32))
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(material + b"\n")
    log.warning(
        "generated a credential encryption key at %s (mode 0600): back it up with the database, "
        "or set VIGIL_SECRET_KEY",
        key_file,
    )
    return CredentialCipher(material)

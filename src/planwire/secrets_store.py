"""Encryption of webhook secrets at rest (Fernet: AES-128-CBC + HMAC-SHA256).

The key comes from ``PLANWIRE_SECRET_KEY``. When it is unset on SQLite, a key file is created
beside the database (``planwire.db.key``, mode 0600) and reused; on PostgreSQL, where several
processes on several machines must share the key, the variable is required.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from planwire.config import ConfigError, Settings


def key_file_for(settings: Settings) -> Path | None:
    path = settings.sqlite_path
    return path.with_name(path.name + ".key") if path is not None else None


def load_key(settings: Settings) -> bytes:
    if settings.secret_key:
        key = settings.secret_key.encode()
        _check(key, "PLANWIRE_SECRET_KEY")
        return key
    key_file = key_file_for(settings)
    if key_file is None:
        if settings.is_sqlite:  # in-memory database: the key lives as long as the process
            return Fernet.generate_key()
        raise ConfigError(
            "PLANWIRE_SECRET_KEY is required with PostgreSQL "
            "(generate one with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())')"
        )
    if key_file.exists():
        key = key_file.read_bytes().strip()
        _check(key, str(key_file))
        return key
    key = Fernet.generate_key()
    key_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key + b"\n")
    return key


def _check(key: bytes, where: str) -> None:
    try:
        Fernet(key)
    except ValueError:
        raise ConfigError(f"{where} is not a valid Fernet key (32 url-safe base64 bytes)") from None


class SecretBox:
    """Encrypts and decrypts a webhook's list of secrets (current first)."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def seal(self, secrets: list[str]) -> str:
        return self._fernet.encrypt(json.dumps(secrets).encode()).decode()

    def open(self, ciphertext: str) -> list[str]:
        try:
            value = json.loads(self._fernet.decrypt(ciphertext.encode()))
        except InvalidToken:
            raise ConfigError(
                "cannot decrypt a webhook secret: PLANWIRE_SECRET_KEY differs from the key "
                "the secrets were stored with"
            ) from None
        return [str(item) for item in value]

"""Encryption of secrets at rest with MultiFernet over `FIELD_ENCRYPTION_KEYS`.

The first key encrypts; every key decrypts, so a new key is added in front and old values stay readable
until `manage.py rotate_secrets` re-encrypts them with it.
"""

import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

from orchestrator_studio.local_env import development_key


@functools.cache
def _cipher() -> MultiFernet:
    keys = list(settings.FIELD_ENCRYPTION_KEYS)
    if not keys:
        if not settings.DEBUG:
            raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is not set.")
        # Development only: a key derived from SECRET_KEY, so `make run` works with no setup.
        keys = [development_key(settings.SECRET_KEY)]
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS holds a key that is not a valid Fernet key."
        ) from exc


def _reset(*, setting: str, **kwargs: object) -> None:
    if setting in ("FIELD_ENCRYPTION_KEYS", "SECRET_KEY", "DEBUG"):
        _cipher.cache_clear()


setting_changed.connect(_reset)


def encrypt(plaintext: str) -> str:
    return _cipher().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _cipher().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "A stored secret cannot be decrypted with FIELD_ENCRYPTION_KEYS (was a key removed?)."
        ) from exc


def rotate(token: str) -> str:
    return _cipher().rotate(token.encode()).decode()

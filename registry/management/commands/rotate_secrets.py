from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from registry.secret_rotation import registry_secrets_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret with the first key of FIELD_ENCRYPTION_KEYS. Rotation: put a new key "
        "first, run this, then remove the old key."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            rotated = registry_secrets_rotate()
        except ImproperlyConfigured as exc:
            raise CommandError(f"Nothing was re-encrypted: {exc}") from exc
        for label, count in rotated.items():
            self.stdout.write(f"{label}: {count} secret value(s) re-encrypted")

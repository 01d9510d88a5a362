"""Re-encryption of every stored secret with the first of `FIELD_ENCRYPTION_KEYS` (see `registry.crypto`)."""

from django.apps import apps
from django.db import transaction

from orchestrator_studio.audit import audit_secrets_reencrypted
from registry.fields import EncryptedJSONField, EncryptedTextField

ROTATE_ACTOR = "rotate_secrets"


def registry_secrets_rotate(*, actor: str = ROTATE_ACTOR) -> dict[str, int]:
    """Re-encrypt every non-empty encrypted column of every model; the count of values per model. Each
    configuration object whose secrets were rewritten gets an audit record by `actor`.

    Each value is decrypted with whichever configured key wrote it and written back under the first key,
    so the older keys can be dropped afterwards. One transaction: a value no key can read stops the
    whole rotation before anything is written for good.
    """
    rotated: dict[str, int] = {}
    with transaction.atomic():
        for model in apps.get_models():
            names = [
                f.name
                for f in model._meta.concrete_fields
                if isinstance(f, EncryptedTextField | EncryptedJSONField)
            ]
            if not names:
                continue
            count = 0
            for row in model._default_manager.select_for_update().values("pk", *names):
                values = {name: row[name] for name in names if row[name]}
                if values:
                    # `update()` writes through the field, which encrypts with the first key again.
                    model._default_manager.filter(pk=row["pk"]).update(**values)
                    count += len(values)
                    audit_secrets_reencrypted(actor=actor, instance=model._default_manager.get(pk=row["pk"]))
            rotated[model._meta.label] = count
    return rotated

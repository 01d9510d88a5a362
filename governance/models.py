"""Quotas: what a user may spend."""

from typing import ClassVar

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models.functions import Coalesce


class Quota(models.Model):
    """Limits of one user, or (no user) the default for everyone without a quota of their own.
    Each limit left empty is unlimited."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="quota",
        help_text="Empty: the default for every user without a quota of their own.",
    )
    tokens_per_day = models.PositiveBigIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="LLM tokens per UTC day."
    )
    cost_usd_per_month = models.DecimalField(
        max_digits=14,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="USD per UTC calendar month.",
    )
    runs_per_minute = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="Runs started per minute."
    )
    max_concurrent_runs = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="Runs queued or running at once."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    LIMITS: ClassVar[tuple[str, ...]] = (
        "tokens_per_day",
        "cost_usd_per_month",
        "runs_per_minute",
        "max_concurrent_runs",
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            # One default quota: the user column is NULL there, which a plain unique constraint allows twice.
            models.UniqueConstraint(Coalesce("user", models.Value(0)), name="one_quota_per_user_or_default"),
        ]

    def __str__(self) -> str:
        return f"Quota of {self.user}" if self.user_id else "Default quota"

    @property
    def audit_name(self) -> str:
        return self.user.get_username() if self.user is not None else "default"

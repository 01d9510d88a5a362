"""`python manage.py recover_runs`: fail the runs orphaned by a stopped process, now."""

from typing import Any

from django.core.management.base import BaseCommand

from threads.recovery import runs_recover_and_broadcast


class Command(BaseCommand):
    help = (
        "Fail runs left in progress by a process that stopped heart-beating, and queued runs no executor "
        "picked up, for longer than RUN_ORPHAN_AFTER_SECONDS."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        events = runs_recover_and_broadcast()
        for event in events:
            self.stdout.write(f"failed run {event['run_id']}: {event['error']['code']}")
        self.stdout.write(f"{len(events)} orphaned run(s) failed.")

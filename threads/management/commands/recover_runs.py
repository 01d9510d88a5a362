"""`python manage.py recover_runs`: recover the runs orphaned by a stopped process, now."""

from typing import Any

from django.core.management.base import BaseCommand

from threads.engine.events import RUN_RETRYING
from threads.recovery import runs_recover_and_broadcast


class Command(BaseCommand):
    help = (
        "Runs left in progress by a process that stopped heart-beating for longer than "
        "RUN_ORPHAN_AFTER_SECONDS: queued again when no tool call had started (up to RUN_MAX_ATTEMPTS), "
        "failed otherwise. Executors claim the queued ones."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        events = runs_recover_and_broadcast()
        for event in events:
            if event["type"] == RUN_RETRYING:
                self.stdout.write(f"queued run {event['run_id']} again: attempt {event['attempt']}")
            else:
                self.stdout.write(f"failed run {event['run_id']}: {event['error']['code']}")
        self.stdout.write(f"{len(events)} orphaned run(s) recovered.")

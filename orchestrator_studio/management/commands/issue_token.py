from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from orchestrator_studio.services import api_token_issue


class Command(BaseCommand):
    help = "Print a new API token for USERNAME (and nothing else on stdout)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--create", action="store_true", help="Create the user if it does not exist.")
        parser.add_argument("--staff", action="store_true", help="Make the user staff.")
        parser.add_argument("--name", default="", help="A label for the token.")

    def handle(self, *args: Any, username: str, create: bool, staff: bool, name: str, **options: Any) -> None:
        user_model = get_user_model()
        user = user_model.objects.filter(username=username).first()
        if user is None:
            if not create:
                raise CommandError(f"No user named {username!r}; pass --create to make one.")
            user = user_model.objects.create_user(username=username)
        if staff and not user.is_staff:
            user.is_staff = True
            user.save(update_fields=["is_staff"])
        _, raw = api_token_issue(user=user, name=name, actor="issue_token")
        self.stdout.write(raw)

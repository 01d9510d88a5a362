"""The operator pages (staff, session login as in the admin): the playground and the dashboard."""

import uuid

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from console import selectors
from orchestrator_studio.errors import DomainError, domain_error_response, error_response
from threads.models import Thread
from threads.services import thread_create


class StaffRequest(HttpRequest):
    """A request `staff_member_required` let through: its user is a logged-in staff member."""

    user: User


@require_GET
@staff_member_required
def playground(request: StaffRequest) -> HttpResponse:
    thread = None
    if request.GET.get("thread"):
        try:
            thread = Thread.objects.filter(pk=uuid.UUID(request.GET["thread"]), owner=request.user).first()
        except ValueError:
            thread = None
        if thread is None:
            raise Http404("No such thread of yours.")
    context = {
        **admin.site.each_context(request),
        "title": "Playground",
        "threads": selectors.playground_threads(user=request.user),
        "thread": thread,
        "playground_state": {
            "thread_id": str(thread.id) if thread else None,
            "runs": selectors.playground_runs(thread=thread) if thread else [],
            "llm_configs": selectors.playground_llm_configs(),
        },
    }
    return render(request, "console/playground.html", context)


@require_POST
@staff_member_required
def playground_thread_new(request: StaffRequest) -> HttpResponse:
    title = request.POST.get("title", "").strip()[:300]
    thread = thread_create(owner=request.user, title=title or "Playground")
    return HttpResponseRedirect(f"{reverse('console:playground')}?thread={thread.id}")


@require_GET
@staff_member_required
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(
        request, "console/dashboard.html", {**admin.site.each_context(request), "title": "Dashboard"}
    )


@require_GET
def dashboard_figures(request: HttpRequest) -> JsonResponse:
    """The dashboard's data, polled by its page: JSON errors (no login redirect) for anyone else."""
    if not (request.user.is_active and request.user.is_staff):
        return error_response(403, "permission_denied", "Staff only: log in to the admin first.")
    window = request.GET.get("window", "hour")
    if window not in selectors.WINDOWS:
        return error_response(400, "validation_error", "window must be 'hour' or 'day'.")
    try:
        return JsonResponse(selectors.dashboard_figures(window=window))
    except DomainError as exc:
        return domain_error_response(exc)

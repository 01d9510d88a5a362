import re
from typing import Any

from django.core.paginator import Page
from django.db.models import Count, QuerySet, Window
from django.db.models.query import ModelIterable
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request

from orchestrator_studio.errors import NotFound, ValidationFailed

_PAGE_NUMBER = re.compile(r"[0-9]+")
# Offsets past this are no list's (and past Postgres' bigint OFFSET): DRF's path answers them with its 404.
MAX_OFFSET = 2**31
# The annotation that carries the count of the whole list on each row of a page read in one query.
TOTAL_ROWS = "pagination_total_rows"


def _countable_with_page(queryset: Any) -> bool:
    """Whether `COUNT(*) OVER ()` on the page's rows counts the whole list: model rows of a plain query
    (no DISTINCT, GROUP BY, UNION or slice, which the window would count before or not at all)."""
    if not isinstance(queryset, QuerySet) or queryset._iterable_class is not ModelIterable:
        return False
    query = queryset.query
    return not (query.distinct or query.group_by is not None or query.combinator or query.is_sliced)


class StandardPagination(PageNumberPagination):
    """`?page=N&page_size=M` (max 200); responses carry `count`, `next`, `previous`, `results`.

    A `page_size` that is not a whole number from 1 is refused (400) rather than silently replaced by the
    default; one above 200 is read as 200. A page past the last one (or an empty `page=`) is 404.

    A page of a queryset is read with its count in one query (`COUNT(*) OVER ()`), not DRF's two; DRF's
    own path remains for anything else (`page=last`, an invalid page, a page past the end, a list)."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list[Any] | None:
        raw = request.query_params.get(self.page_query_param)
        number = 1 if raw is None else int(raw) if _PAGE_NUMBER.fullmatch(raw) else 0
        if number < 1 or not _countable_with_page(queryset):
            return super().paginate_queryset(queryset, request, view)
        page_size = self.get_page_size(request)
        offset = (number - 1) * page_size
        if offset > MAX_OFFSET:
            return super().paginate_queryset(queryset, request, view)  # past any list: DRF's 404
        rows = list(queryset.annotate(**{TOTAL_ROWS: Window(Count("*"))})[offset : offset + page_size])
        if not rows and number > 1:
            return super().paginate_queryset(queryset, request, view)  # DRF's 404 for a page past the end
        self.request = request
        paginator = self.django_paginator_class(queryset, page_size)
        paginator.count = getattr(rows[0], TOTAL_ROWS) if rows else 0
        self.page = Page(rows, number, paginator)
        if paginator.num_pages > 1 and self.template is not None:
            self.display_page_controls = True
        return rows

    def get_page_number(self, request: Request, paginator: Any) -> Any:
        if request.query_params.get(self.page_query_param) == "":
            raise NotFound("Invalid page.")
        return super().get_page_number(request, paginator)

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if size < 1:
            raise ValidationFailed(
                "Invalid page size.", fields={self.page_size_query_param: ["Must be a whole number from 1."]}
            )
        return min(size, self.max_page_size)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
        return parameters

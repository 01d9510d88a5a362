from typing import Any

from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request

from orchestrator_studio.errors import NotFound, ValidationFailed


class StandardPagination(PageNumberPagination):
    """`?page=N&page_size=M` (max 200); responses carry `count`, `next`, `previous`, `results`.

    A `page_size` that is not a whole number from 1 is refused (400) rather than silently replaced by the
    default; one above 200 is read as 200. A page past the last one (or an empty `page=`) is 404."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

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

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from orchestrator_studio import views

handler500 = "orchestrator_studio.views.server_error"

urlpatterns = [
    path("", views.root, name="root"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/composio/", include("registry.api.composio_urls")),
    path("api/", views.api_root, name="api-root"),
    path("api/", include("registry.api.urls")),
    path("", include("doors.urls")),
    path("api/", include("governance.api.urls")),
    path("", include("threads.api.urls")),
    path("", include("monitoring.urls")),
    path("", include("console.urls")),
]

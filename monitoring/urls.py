from django.urls import path

from monitoring import views

urlpatterns = [
    path("readyz", views.readyz, name="readyz"),
    path("api/monitoring/health", views.health, name="monitoring-health"),
    path("api/monitoring/metrics", views.metrics, name="monitoring-metrics"),
    path("api/monitoring/status", views.status, name="monitoring-status"),
    path("api/monitoring/connectivity", views.connectivity, name="monitoring-connectivity"),
    path("api/monitoring/logs", views.logs, name="monitoring-logs"),
    path("metrics", views.PrometheusMetricsView.as_view(), name="prometheus-metrics"),
]

from django.urls import path

from console import views

app_name = "console"

urlpatterns = [
    path("playground/", views.playground, name="playground"),
    path("playground/threads", views.playground_thread_new, name="playground-thread-new"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/figures", views.dashboard_figures, name="dashboard-figures"),
]

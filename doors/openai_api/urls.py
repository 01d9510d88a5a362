"""The OpenAI-compatible paths, mounted at the project root."""

from django.urls import path

from doors.openai_api import views

urlpatterns = [
    path("v1/models", views.models_list, name="openai-models"),
    path("v1/models/<str:model_id>", views.model_detail, name="openai-model"),
    path("v1/chat/completions", views.chat_completions, name="openai-chat-completions"),
]

from rest_framework.routers import SimpleRouter

from governance.api import views

router = SimpleRouter(trailing_slash=True)
router.trailing_slash = "/?"
router.register("quotas", views.QuotaViewSet, basename="quota")
router.register("audit", views.AuditRecordViewSet, basename="audit-record")

urlpatterns = router.urls

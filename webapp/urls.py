from django.conf import settings
from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.urls import include, path
from django.views.static import serve
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

handler404 = "annotator.api.errors.not_found"
handler500 = "annotator.api.errors.server_error"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("annotator.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start script as a file (no inline script under the CSP); an
    # anonymous visitor is sent to the login page rather than shown a bare 403.
    path(
        "api/docs/",
        login_required(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    # Media (keyframe images, clips) only for logged-in users; production may serve it from a
    # store behind the same login.
    path(
        f"{settings.MEDIA_URL.strip('/')}/<path:path>",
        login_required(serve),
        {"document_root": settings.MEDIA_ROOT},
    ),
    path("", include("annotator.urls")),
]

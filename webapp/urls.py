from django.conf import settings
from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.static import serve
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView


def media_serve(request: HttpRequest, path: str) -> HttpResponse:
    """A media file under MEDIA_ROOT as it is set now (tests point it at a temporary folder)."""
    return serve(request, path, document_root=settings.MEDIA_ROOT)


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
    path(f"{settings.MEDIA_URL.strip('/')}/<path:path>", login_required(media_serve)),
    path("", include("annotator.urls")),
]

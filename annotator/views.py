"""Browser pages (the review UI and dashboard come with their own issues)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from annotator.models import Dataset, Job
from annotator.roles import role_of


@login_required
def home(request: HttpRequest) -> HttpResponse:
    datasets = Dataset.objects.order_by("name")
    return render(
        request, "annotator/home.html", {"datasets": datasets, "role": role_of(request.user)}
    )


@login_required
def job_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    """A job's live progress (the page polls the job's REST resource)."""
    if role_of(request.user) is None:
        raise PermissionDenied("your account has no role (reviewer or manager)")
    job = get_object_or_404(Job.objects.select_related("video"), pk=job_id)
    return render(request, "annotator/job.html", {"job": job})

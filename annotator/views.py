"""Browser pages (the review UI and dashboard come with their own issues)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from annotator.models import Dataset
from annotator.roles import role_of


@login_required
def home(request: HttpRequest) -> HttpResponse:
    datasets = Dataset.objects.order_by("name")
    return render(
        request, "annotator/home.html", {"datasets": datasets, "role": role_of(request.user)}
    )

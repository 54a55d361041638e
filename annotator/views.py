"""Browser pages (the review UI and dashboard come with their own issues)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from annotator import selectors, selectors_review
from annotator.errors import ApplicationError
from annotator.forms import TrainForm
from annotator.models import Dataset, EvaluationReport, Job, Keyframe, ModelVersion, Video
from annotator.roles import MANAGER, role_of
from annotator.services import datasets, review, training
from annotator.services.evaluation import SCORED_BOX_SOURCES

DASHBOARD_REPORTS = 200  # newest reports offered in the dashboard's pickers


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The reviewer's queue first, then datasets and videos with their review progress."""
    return render(
        request,
        "annotator/home.html",
        {
            "progress": selectors_review.home_progress(user=request.user),
            "role": role_of(request.user),
        },
    )


@login_required
def job_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    """A job's live progress (the page polls the job's REST resource)."""
    if role_of(request.user) is None:
        raise PermissionDenied("your account has no role (reviewer or manager)")
    job = get_object_or_404(Job.objects.select_related("video"), pk=job_id)
    return render(request, "annotator/job.html", {"job": job})


@login_required
def evaluation_dashboard(request: HttpRequest) -> HttpResponse:
    """Per-class AP of a report, alone or against a baseline (?report=ID&baseline=ID); managers
    also get the form that starts an evaluation."""
    role = role_of(request.user)
    if role is None:
        raise PermissionDenied("your account has no role (reviewer or manager)")
    queryset = EvaluationReport.objects.select_related("model_version", "dataset")
    reports = list(queryset.order_by("-created_at", "-id")[:DASHBOARD_REPORTS])
    asked = {_int(request.GET.get("report")), _int(request.GET.get("baseline"))} - {None}
    reports += queryset.filter(pk__in=asked - {report.pk for report in reports})  # older ones
    by_id = {report.pk: report for report in reports}
    report = by_id.get(_int(request.GET.get("report")), reports[0] if reports else None)
    if "baseline" in request.GET:
        baseline = _int(request.GET["baseline"])
    else:  # a report of a two-version job opens against its own baseline
        baseline = (report.params or {}).get("baseline_report") if report else None
    options = [
        {
            "id": item.pk,
            "label": f"#{item.pk} {item.model_version.name} · {item.dataset.name} · mAP "
            + ("-" if item.mean_ap is None else f"{100 * item.mean_ap:.1f}")
            + f" · {item.box_source} · {item.created_at:%Y-%m-%d %H:%M}",
            "baseline": (item.params or {}).get("baseline_report") or "",
        }
        for item in reports
    ]
    return render(
        request,
        "annotator/evaluation.html",
        {
            "options": options,
            "report": report.pk if report else None,
            "baseline": baseline if baseline in by_id else None,
            "start": _start_choices() if role == MANAGER else None,
        },
    )


def _start_choices() -> dict[str, object]:
    """What the start form offers: datasets, their scorable model versions and videos, box
    sources."""
    scorable = (ModelVersion.Status.READY, ModelVersion.Status.EXTERNAL)
    versions = ModelVersion.objects.filter(status__in=scorable).order_by("dataset_id", "name")
    return {
        "datasets": Dataset.objects.filter(model_versions__status__in=scorable)
        .distinct()
        .order_by("name"),
        "versions": versions,
        "videos": Video.objects.filter(dataset__model_versions__status__in=scorable)
        .distinct()
        .order_by("dataset_id", "video_id")
        .only("pk", "dataset_id", "video_id"),
        "box_sources": SCORED_BOX_SOURCES,
    }


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) <= 18 else None


# --- models: lineage, training, promotion -----------------------------------------------------


@login_required
def model_versions(request: HttpRequest) -> HttpResponse:
    """Every dataset's model versions with their lineage, metrics and who started them; managers
    promote, roll back, archive and start training here."""
    role = role_of(request.user)
    if role is None:
        raise PermissionDenied("your account has no role (reviewer or manager)")
    rows = []
    for dataset in Dataset.objects.order_by("name"):
        versions = ModelVersion.objects.filter(dataset=dataset).select_related("created_by")
        rows.append(
            {
                "dataset": dataset,
                "versions": [
                    {
                        "version": version,
                        "lineage": selectors.model_version_lineage(version)[1:],
                        "val_map": (version.metrics or {}).get("val_map"),
                        "active": version.pk == dataset.active_model_version_id,
                    }
                    for version in versions.order_by("-created_at", "-id")
                ],
                "previous": selectors.model_version_previous_active(dataset=dataset),
            }
        )
    return render(request, "annotator/models.html", {"rows": rows, "manager": role == MANAGER})


def _manager(request: HttpRequest) -> None:
    if role_of(request.user) != MANAGER:
        raise PermissionDenied("only managers train, promote and archive model versions")


@login_required
@require_POST
def model_version_promote(request: HttpRequest, model_version_id: int) -> HttpResponse:
    """Make a version active (a promotion, or a rollback to an earlier one); audited."""
    _manager(request)
    version = get_object_or_404(ModelVersion, pk=model_version_id)
    try:
        datasets.dataset_activate_model(model_version=version, user=request.user)
        messages.success(request, f"{version.name} is now active for {version.dataset.name}")
    except ApplicationError as error:
        messages.error(request, error.message)
    return redirect("model-versions")


@login_required
@require_POST
def model_version_archive(request: HttpRequest, model_version_id: int) -> HttpResponse:
    """Archive a version that is not active; audited."""
    _manager(request)
    version = get_object_or_404(ModelVersion, pk=model_version_id)
    try:
        training.model_version_archive(model_version=version, user=request.user)
        messages.success(request, f"{version.name} archived")
    except ApplicationError as error:
        messages.error(request, error.message)
    return redirect("model-versions")


@login_required
def dataset_train(request: HttpRequest, dataset_id: int) -> HttpResponse:
    """The training form of a dataset (defaults shown); a valid submit opens the job's page."""
    _manager(request)
    dataset = get_object_or_404(Dataset, pk=dataset_id)
    if request.method == "POST":
        form = TrainForm(request.POST, dataset=dataset)
        if form.is_valid():
            try:
                job = form.start(request.user)
            except ApplicationError:
                pass  # the form shows the service's message
            else:
                return redirect("job-detail", job_id=job.pk)
    else:
        form = TrainForm(dataset=dataset)
    return render(request, "annotator/train.html", {"dataset": dataset, "form": form})


# --- review ----------------------------------------------------------------------------------


def _queue_filters(request: HttpRequest) -> dict[str, int | None]:
    return {
        "dataset_id": _int(request.GET.get("dataset")),
        "video_id": _int(request.GET.get("video")),
    }


@login_required
def review_next(request: HttpRequest) -> HttpResponse:
    """Take the next keyframe of the reviewer's queue and open it (filters: dataset, video)."""
    if role_of(request.user) is None:
        raise PermissionDenied("your account has no role (reviewer or manager)")
    keyframe = review.keyframe_take(user=request.user, **_queue_filters(request))
    if keyframe is None:
        return render(request, "annotator/review_empty.html", {"query": request.GET.urlencode()})
    target = reverse("review-keyframe", args=[keyframe.pk])
    filters = {key: request.GET[key] for key in ("dataset", "video") if _int(request.GET.get(key))}
    return redirect(f"{target}?{urlencode(filters)}" if filters else target)


@login_required
def review_keyframe(request: HttpRequest, keyframe_id: int) -> HttpResponse:
    """The review page; its script reads the keyframe through the REST API."""
    if role_of(request.user) is None:
        raise PermissionDenied("your account has no role (reviewer or manager)")
    keyframe = get_object_or_404(Keyframe.objects.select_related("video"), pk=keyframe_id)
    filters = {key: request.GET[key] for key in ("dataset", "video") if _int(request.GET.get(key))}
    return render(
        request,
        "annotator/review.html",
        {
            "keyframe": keyframe,
            "query": urlencode(filters),
            "lease_seconds": review.lease_seconds(),
        },
    )

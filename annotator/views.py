"""Browser pages (the review UI and dashboard come with their own issues)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from annotator import selectors, selectors_gold, selectors_review
from annotator.errors import ApplicationError
from annotator.forms import ExportTrainingForm, TrainForm
from annotator.models import (
    Dataset,
    EvaluationReport,
    GoldAnswer,
    Job,
    Keyframe,
    ModelVersion,
    Video,
)
from annotator.roles import MANAGER, role_of
from annotator.services import datasets, review, training
from annotator.services.assignment import keyframes_assign
from annotator.services.evaluation import SCORED_BOX_SOURCES
from annotator.services.gold import gold_answer_approve, keyframes_mark_gold

DASHBOARD_REPORTS = 200  # newest reports offered in the dashboard's pickers

MODELS_MANAGERS_ONLY = "only managers train, promote and archive model versions"
FIGURES_MANAGERS_ONLY = "only managers see reviewers' answers and figures"

View = Callable[..., HttpResponse]


def _roles_allowed(allowed: Callable[[str | None], bool], reason: str) -> Callable[[View], View]:
    """A view decorator: log in first (a redirect), then 403 saying `reason` unless the user's
    role is `allowed`."""

    def decorate(view: View) -> View:
        @login_required
        @functools.wraps(view)
        def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not allowed(role_of(request.user)):
                raise PermissionDenied(reason)
            return view(request, *args, **kwargs)

        return checked

    return decorate


role_required = _roles_allowed(
    lambda role: role is not None, "your account has no role (reviewer or manager)"
)


def manager_required(reason: str) -> Callable[[View], View]:
    """Log in first (a redirect), then 403 saying `reason` for anyone but a manager."""
    return _roles_allowed(lambda role: role == MANAGER, reason)


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


@role_required
def job_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    """A job's live progress (the page polls the job's REST resource)."""
    job = get_object_or_404(Job.objects.select_related("video"), pk=job_id)
    return render(request, "annotator/job.html", {"job": job})


@role_required
def evaluation_dashboard(request: HttpRequest) -> HttpResponse:
    """Per-class AP of a report, alone or against a baseline (?report=ID&baseline=ID); managers
    also get the form that starts an evaluation."""
    role = role_of(request.user)
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


# --- datasets --------------------------------------------------------------------------------


@role_required
def dataset_list(request: HttpRequest) -> HttpResponse:
    """Every dataset with its videos, review progress and active model version."""
    return render(request, "annotator/datasets.html", {"datasets": selectors.dataset_list()})


@role_required
def dataset_detail(request: HttpRequest, dataset_id: int) -> HttpResponse:
    """A dataset's taxonomy, videos, active model and recent jobs; managers also get the forms
    that export a training bundle or the AVA CSV and start training."""
    role = role_of(request.user)
    dataset = get_object_or_404(
        Dataset.objects.select_related("active_model_version"), pk=dataset_id
    )
    return _dataset_page(request, dataset, manager=role == MANAGER)


def _dataset_page(
    request: HttpRequest,
    dataset: Dataset,
    *,
    manager: bool,
    export_form: ExportTrainingForm | None = None,
    status: int = 200,
) -> HttpResponse:
    context: dict[str, object] = {
        "dataset": dataset,
        "overview": selectors.dataset_overview(dataset=dataset),
        "manager": manager,
    }
    if manager:
        context["export_form"] = export_form or ExportTrainingForm(
            dataset=dataset, auto_id="export_%s"
        )
        # The training form posts to its own page, which shows any error beside its fields.
        context["train_form"] = TrainForm(dataset=dataset, auto_id="train_%s")
    return render(request, "annotator/dataset.html", context, status=status)


@manager_required("only managers export training bundles")
@require_POST
def dataset_export_training(request: HttpRequest, dataset_id: int) -> HttpResponse:
    """Queue a training-bundle export from the dataset page's form; its job page links the tar."""
    dataset = get_object_or_404(
        Dataset.objects.select_related("active_model_version"), pk=dataset_id
    )
    form = ExportTrainingForm(request.POST, dataset=dataset, auto_id="export_%s")
    job = form.started(request.user)
    if job is not None:
        return redirect("job-detail", job_id=job.pk)
    return _dataset_page(request, dataset, manager=True, export_form=form, status=400)


# --- models: lineage, training, promotion -----------------------------------------------------


@role_required
def model_versions(request: HttpRequest) -> HttpResponse:
    """Every dataset's model versions with their lineage, metrics and who started them; managers
    promote, roll back, archive and start training here."""
    role = role_of(request.user)
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


@manager_required(MODELS_MANAGERS_ONLY)
@require_POST
def model_version_promote(request: HttpRequest, model_version_id: int) -> HttpResponse:
    """Make a version active (a promotion, or a rollback to an earlier one); audited."""
    version = get_object_or_404(ModelVersion, pk=model_version_id)
    try:
        datasets.dataset_activate_model(model_version=version, user=request.user)
        messages.success(request, f"{version.name} is now active for {version.dataset.name}")
    except ApplicationError as error:
        messages.error(request, error.message)
    return redirect("model-versions")


@manager_required(MODELS_MANAGERS_ONLY)
@require_POST
def model_version_archive(request: HttpRequest, model_version_id: int) -> HttpResponse:
    """Archive a version that is not active; audited."""
    version = get_object_or_404(ModelVersion, pk=model_version_id)
    try:
        training.model_version_archive(model_version=version, user=request.user)
        messages.success(request, f"{version.name} archived")
    except ApplicationError as error:
        messages.error(request, error.message)
    return redirect("model-versions")


@manager_required(MODELS_MANAGERS_ONLY)
def dataset_train(request: HttpRequest, dataset_id: int) -> HttpResponse:
    """The training form of a dataset (defaults shown); a valid submit opens the job's page."""
    dataset = get_object_or_404(Dataset, pk=dataset_id)
    if request.method == "POST":
        form = TrainForm(request.POST, dataset=dataset)
        job = form.started(request.user)
        if job is not None:
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


def _queue_order(request: HttpRequest) -> str:
    """The queue order asked for (`?order=uncertain`), the default order otherwise."""
    order = request.GET.get("order", "default")
    return order if order in review.QUEUE_ORDERS else "default"


def _queue_query(request: HttpRequest) -> dict[str, str]:
    """The filters and order a review page keeps in its links and queue requests."""
    query = {key: request.GET[key] for key in ("dataset", "video") if _int(request.GET.get(key))}
    if _queue_order(request) != "default":
        query["order"] = _queue_order(request)
    return query


@role_required
def review_next(request: HttpRequest) -> HttpResponse:
    """Take the next keyframe of the reviewer's queue and open it (filters: dataset, video;
    `order=uncertain` takes the least confident first)."""
    keyframe = review.keyframe_take(
        user=request.user, order=_queue_order(request), **_queue_filters(request)
    )
    if keyframe is None:
        return render(request, "annotator/review_empty.html", {"query": request.GET.urlencode()})
    target = reverse("review-keyframe", args=[keyframe.pk])
    query = _queue_query(request)
    return redirect(f"{target}?{urlencode(query)}" if query else target)


@role_required
def review_keyframe(request: HttpRequest, keyframe_id: int) -> HttpResponse:
    """The review page; its script reads the keyframe through the REST API."""
    keyframe = get_object_or_404(Keyframe.objects.select_related("video"), pk=keyframe_id)
    return render(
        request,
        "annotator/review.html",
        {
            "keyframe": keyframe,
            "query": urlencode(_queue_query(request)),
            "key_bindings": json.dumps(selectors_review.reviewer_keys(user=request.user)),
            "lease_seconds": review.lease_seconds(),
        },
    )


# --- assignment ------------------------------------------------------------------------------


@manager_required("only managers assign keyframes")
def assignments(request: HttpRequest) -> HttpResponse:
    """Managers assign keyframes to reviewers and release them (a form posting to this page),
    and see each reviewer's assigned work."""
    message, error = "", ""
    if request.method == "POST":
        try:
            message = _assignment_post(request)
        except ApplicationError as problem:
            error = problem.message
    return render(
        request,
        "annotator/assignments.html",
        {
            "summary": selectors_review.assignment_summary(),
            "datasets": Dataset.objects.order_by("name"),
            "videos": Video.objects.order_by("dataset_id", "video_id").only(
                "pk", "dataset_id", "video_id"
            ),
            "message": message,
            "error": error,
        },
        status=400 if error else 200,
    )


def _assignment_post(request: HttpRequest) -> str:
    """Carry out the assignment form (assign, release, or mark a random sample gold)."""
    form = request.POST
    action = form.get("action", "")
    if action == "gold":
        return _keyframes_form_call(
            request, keyframes_mark_gold, "marked gold", count=_int(form.get("count")) or 0
        )
    return _keyframes_form_call(
        request,
        keyframes_assign,
        "assigned" if action == "assign" else "released",
        action=action,
        reviewer_id=_int(form.get("reviewer")),
        timestamp_from=_signed(form.get("timestamp_from")),
        timestamp_to=_signed(form.get("timestamp_to")),
        count=_int(form.get("count")),
    )


def _keyframes_form_call(
    request: HttpRequest, service: Callable[..., list[int]], verb: str, **arguments: Any
) -> str:
    """Call a keyframes service on the form's video or dataset; say how many keyframes it
    changed."""
    changed = service(
        user=request.user,
        video_id=_int(request.POST.get("video")),
        dataset_id=_int(request.POST.get("dataset")),
        **arguments,
    )
    return f"{len(changed)} keyframe{'s' if len(changed) != 1 else ''} {verb}."


def _signed(value: str | None) -> int | None:
    value = (value or "").strip()
    digits = value[1:] if value.startswith("-") else value
    return int(value) if digits.isdigit() and len(digits) <= 9 else None


# --- gold answers and reviewer figures (managers) -----------------------------------------------


@manager_required(FIGURES_MANAGERS_ONLY)
def gold_answers(request: HttpRequest) -> HttpResponse:
    """Every gold keyframe with each reviewer's answer (`?reviewer=ID`: those they answered);
    approving one makes it the keyframe's gold answer."""
    reviewer_id = _int(request.GET.get("reviewer"))
    return render(
        request,
        "annotator/gold.html",
        {
            "rows": selectors_gold.gold_keyframes(reviewer_id=reviewer_id),
            "reviewer": reviewer_id,
        },
    )


@manager_required(FIGURES_MANAGERS_ONLY)
@require_POST
def gold_answer_approve_view(request: HttpRequest, answer_id: int) -> HttpResponse:
    """Approve an answer from the gold page (the service of the REST endpoint; `replace=1` puts it
    in the place of the approved one); audited."""
    answer = get_object_or_404(GoldAnswer.objects.select_related("reviewer"), pk=answer_id)
    try:
        gold_answer_approve(
            answer_id=answer.pk, user=request.user, replace=request.POST.get("replace") == "1"
        )
        messages.success(
            request,
            f"The answer of {answer.reviewer.get_username()} is the gold answer of keyframe "
            f"{answer.keyframe_id}.",
        )
    except ApplicationError as error:
        messages.error(request, error.message)
    return redirect(f"{reverse('gold-answers')}#keyframe-{answer.keyframe_id}")


@manager_required(FIGURES_MANAGERS_ONLY)
def reviewer_figures(request: HttpRequest) -> HttpResponse:
    """Per reviewer: pace, suggestions accepted / edited / rejected, agreement with gold; each
    figure links the keyframes behind it."""
    return render(request, "annotator/reviewers.html", {"rows": selectors_gold.reviewer_figures()})


@manager_required(FIGURES_MANAGERS_ONLY)
def reviewer_keyframes(request: HttpRequest, reviewer_id: int, figure: str) -> HttpResponse:
    """The keyframes behind one of a reviewer's figures, each linked to its review page (gold
    answers also to the gold page)."""
    reviewer = get_object_or_404(get_user_model(), pk=reviewer_id)
    try:
        listing = selectors_gold.reviewer_figure_keyframes(reviewer_id=reviewer.pk, figure=figure)
    except ApplicationError as error:
        raise Http404(error.message) from None
    return render(
        request,
        "annotator/reviewer_keyframes.html",
        {"reviewer": reviewer, "figure": figure, **listing},
    )


@role_required
def key_settings(request: HttpRequest) -> HttpResponse:
    """Remap the review page's keys (the page's script saves them through the REST API)."""
    return render(request, "annotator/keys.html")

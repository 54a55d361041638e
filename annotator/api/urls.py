from django.urls import path, register_converter

from annotator.api import (
    assignment,
    evaluation,
    gold,
    keys,
    preannotation,
    review,
    training,
    training_export,
    views,
)


class IdConverter:
    """A database id: digits that fit a 64-bit integer (a longer number is a 404, not a 500)."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "id")

urlpatterns = [
    path("health/", views.HealthApi.as_view(), name="api-health"),
    path("auth/token/", views.AuthTokenApi.as_view(), name="api-auth-token"),
    path("datasets/", views.DatasetListApi.as_view(), name="api-datasets"),
    path("datasets/<id:dataset_id>/", views.DatasetDetailApi.as_view(), name="api-dataset"),
    path(
        "datasets/<id:dataset_id>/labelmap/",
        views.DatasetLabelmapApi.as_view(),
        name="api-dataset-labelmap",
    ),
    path(
        "datasets/<id:dataset_id>/export/",
        views.DatasetExportApi.as_view(),
        name="api-dataset-export",
    ),
    path(
        "datasets/<id:dataset_id>/export-training/",
        training_export.DatasetTrainingExportApi.as_view(),
        name="api-dataset-export-training",
    ),
    path(
        "datasets/<id:dataset_id>/export-training/<id:job_id>/",
        training_export.DatasetTrainingExportDownloadApi.as_view(),
        name="api-dataset-export-training-download",
    ),
    path(
        "datasets/<id:dataset_id>/train/",
        training.DatasetTrainApi.as_view(),
        name="api-dataset-train",
    ),
    path(
        "datasets/<id:dataset_id>/imports/",
        views.DatasetImportApi.as_view(),
        name="api-dataset-import",
    ),
    path("actions/", views.ActionListApi.as_view(), name="api-actions"),
    path("videos/", views.VideoListApi.as_view(), name="api-videos"),
    path("videos/<id:video_id>/", views.VideoDetailApi.as_view(), name="api-video"),
    path(
        "videos/<id:video_id>/preannotate/",
        preannotation.VideoPreannotateApi.as_view(),
        name="api-video-preannotate",
    ),
    path("keyframes/", views.KeyframeListApi.as_view(), name="api-keyframes"),
    path("keyframes/<id:keyframe_id>/", views.KeyframeDetailApi.as_view(), name="api-keyframe"),
    path(
        "keyframes/<id:keyframe_id>/annotations/",
        views.KeyframeAnnotationsApi.as_view(),
        name="api-keyframe-annotations",
    ),
    path("review/queue/", review.ReviewQueueApi.as_view(), name="api-review-queue"),
    path("assignments/", assignment.AssignmentsApi.as_view(), name="api-assignments"),
    path("gold/", assignment.GoldSampleApi.as_view(), name="api-gold-sample"),
    path("gold/answers/", gold.GoldAnswerListApi.as_view(), name="api-gold-answers"),
    path(
        "gold/answers/<id:answer_id>/approve/",
        gold.GoldAnswerApproveApi.as_view(),
        name="api-gold-answer-approve",
    ),
    path("reviewers/figures/", gold.ReviewerFiguresApi.as_view(), name="api-reviewer-figures"),
    path("me/keys/", keys.KeyBindingsApi.as_view(), name="api-my-keys"),
    path(
        "keyframes/<id:keyframe_id>/review/",
        review.KeyframeReviewApi.as_view(),
        name="api-keyframe-review",
    ),
    path(
        "keyframes/<id:keyframe_id>/lease/",
        review.KeyframeLeaseApi.as_view(),
        name="api-keyframe-lease",
    ),
    path(
        "keyframes/<id:keyframe_id>/mark/",
        review.KeyframeMarkApi.as_view(),
        name="api-keyframe-mark",
    ),
    path("jobs/", views.JobListApi.as_view(), name="api-jobs"),
    path("jobs/<id:job_id>/", views.JobDetailApi.as_view(), name="api-job"),
    path("jobs/<id:job_id>/cancel/", views.JobCancelApi.as_view(), name="api-job-cancel"),
    path("model-versions/", views.ModelVersionListApi.as_view(), name="api-model-versions"),
    path(
        "model-versions/<id:model_version_id>/",
        views.ModelVersionDetailApi.as_view(),
        name="api-model-version",
    ),
    path(
        "model-versions/<id:model_version_id>/activate/",
        views.ModelVersionActivateApi.as_view(),
        name="api-model-version-activate",
    ),
    path(
        "model-versions/<id:model_version_id>/archive/",
        training.ModelVersionArchiveApi.as_view(),
        name="api-model-version-archive",
    ),
    path(
        "evaluation-reports/",
        views.EvaluationReportListApi.as_view(),
        name="api-evaluation-reports",
    ),
    path(
        "datasets/<id:dataset_id>/evaluate/",
        evaluation.DatasetEvaluateApi.as_view(),
        name="api-dataset-evaluate",
    ),
    path(
        "evaluation-reports/<id:report_id>/",
        evaluation.EvaluationReportDetailApi.as_view(),
        name="api-evaluation-report",
    ),
    path(
        "evaluation-reports/<id:report_id>/figure/",
        evaluation.EvaluationFigureApi.as_view(),
        name="api-evaluation-figure",
    ),
    path(
        "evaluation-reports/<id:report_id>/figure.svg",
        evaluation.EvaluationFigureSvgApi.as_view(),
        name="api-evaluation-figure-svg",
    ),
    path(
        "evaluation-reports/<id:report_id>/figure.png",
        evaluation.EvaluationFigurePngApi.as_view(),
        name="api-evaluation-figure-png",
    ),
    path(
        "evaluation-reports/<id:report_id>/figure.csv",
        evaluation.EvaluationFigureCsvApi.as_view(),
        name="api-evaluation-figure-csv",
    ),
]

from django.contrib.auth import views as auth_views
from django.urls import path

from annotator import views

urlpatterns = [
    path("", views.home, name="home"),
    path("jobs/<int:job_id>/", views.job_detail, name="job-detail"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("review/", views.review_next, name="review-next"),
    path("review/<int:keyframe_id>/", views.review_keyframe, name="review-keyframe"),
    path("assignments/", views.assignments, name="assignments"),
    path("gold/", views.gold_answers, name="gold-answers"),
    path(
        "gold/answers/<int:answer_id>/approve/",
        views.gold_answer_approve_view,
        name="gold-answer-approve",
    ),
    path("reviewers/", views.reviewer_figures, name="reviewer-figures"),
    path(
        "reviewers/<int:reviewer_id>/<str:figure>/",
        views.reviewer_keyframes,
        name="reviewer-keyframes",
    ),
    path("settings/keys/", views.key_settings, name="key-settings"),
    path("evaluation/", views.evaluation_dashboard, name="evaluation-dashboard"),
    path("models/", views.model_versions, name="model-versions"),
    path(
        "models/<int:model_version_id>/promote/",
        views.model_version_promote,
        name="model-version-promote",
    ),
    path(
        "models/<int:model_version_id>/archive/",
        views.model_version_archive,
        name="model-version-archive",
    ),
    path("datasets/", views.dataset_list, name="dataset-list"),
    path("datasets/<int:dataset_id>/", views.dataset_detail, name="dataset-detail"),
    path(
        "datasets/<int:dataset_id>/export-training/",
        views.dataset_export_training,
        name="dataset-export-training",
    ),
    path("datasets/<int:dataset_id>/train/", views.dataset_train, name="dataset-train"),
]

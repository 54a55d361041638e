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
    path("settings/keys/", views.key_settings, name="key-settings"),
    path("evaluation/", views.evaluation_dashboard, name="evaluation-dashboard"),
]

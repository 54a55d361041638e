from django.apps import AppConfig


class AnnotatorConfig(AppConfig):
    name = "annotator"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Register the Celery tasks in every process, web ones included: jobs are sent by task
        name (`annotator.services.jobs.JOB_TASKS`), looked up in the app's registry."""
        from annotator import tasks  # noqa: F401

"""The Celery app: Redis broker, two queues (`default` and `gpu`), settings from Django."""

from __future__ import annotations

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

app = Celery("webapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("default"), Queue("gpu"))
app.conf.task_routes = {
    "annotator.tasks.preannotate_*": {"queue": "gpu"},
    "annotator.tasks.train_*": {"queue": "gpu"},
}
app.autodiscover_tasks()

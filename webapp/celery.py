"""The Celery app: Redis broker, two queues (`default` and `gpu`), settings from Django."""

from __future__ import annotations

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

app = Celery("webapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("default"), Queue("gpu"))
# Jobs are sent to their queue by `annotator.services.jobs.JOB_TASKS`, the one place that decides
# it; everything else (the lease sweep) goes to CELERY_TASK_DEFAULT_QUEUE, `default`.
app.autodiscover_tasks()

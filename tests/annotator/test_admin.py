"""The admin lists every model with search and filters; managers see only what they need."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model

from annotator.models import AuditEvent
from tests.factories import BoxLabelFactory

pytestmark = pytest.mark.django_db


def test_every_annotator_model_is_registered_with_search_and_filters() -> None:
    from django.apps import apps

    for model in apps.get_app_config("annotator").get_models():
        model_admin = admin.site._registry.get(model)
        assert model_admin is not None, model
        assert model_admin.search_fields, model
        assert model_admin.list_filter or model.__name__ == "Dataset", model


def test_a_superuser_can_open_and_search_every_changelist(client, ava_dataset) -> None:  # type: ignore[no-untyped-def]
    BoxLabelFactory()
    AuditEvent.objects.create(verb="box.create", object_type="box", object_id=1)
    superuser = get_user_model().objects.create_superuser("root", password="root-pass-123")
    client.force_login(superuser)
    for model in admin.site._registry:
        if model._meta.app_label != "annotator":
            continue
        url = f"/admin/annotator/{model._meta.model_name}/"
        assert client.get(url).status_code == 200, url
        assert client.get(url, {"q": "x"}).status_code == 200, url


def test_a_manager_sees_the_annotator_models_but_not_users(client, manager) -> None:  # type: ignore[no-untyped-def]
    client.force_login(manager)
    assert client.get("/admin/annotator/keyframe/").status_code == 200
    assert client.get("/admin/auth/user/").status_code == 403


def test_nobody_edits_the_audit_trail_in_the_admin(client) -> None:  # type: ignore[no-untyped-def]
    superuser = get_user_model().objects.create_superuser("root", password="root-pass-123")
    event = AuditEvent.objects.create(verb="box.create", object_type="box", object_id=1)
    client.force_login(superuser)
    assert (
        client.post(f"/admin/annotator/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert AuditEvent.objects.filter(pk=event.pk).exists()

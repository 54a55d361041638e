"""The dataset list and a dataset's page: taxonomy, videos, model, jobs; managers' export and
training forms."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotator.models import Action, Dataset, Job, Keyframe, ModelVersion, Video
from tests.factories import labelled_dataset

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(media_root):  # type: ignore[no-untyped-def]
    """clip-a and clip-b (one reviewed keyframe each, clip-a one more to review), an active
    version and an export job."""
    dataset = labelled_dataset()
    Action.objects.create(
        dataset=dataset, action_id=2, name="talk to", action_type="PERSON_INTERACTION"
    )
    Keyframe.objects.create(video=Video.objects.get(video_id="clip-a"), timestamp=2)
    version = ModelVersion.objects.create(dataset=dataset, name="v1", checkpoint="c/1.pt")
    dataset.active_model_version = version
    dataset.save()
    Job.objects.create(job_type="export_training", dataset=dataset, status="succeeded")
    return dataset


def test_it_shows_the_taxonomy_videos_model_and_jobs(client, reviewer, dataset) -> None:  # type: ignore[no-untyped-def]
    client.force_login(reviewer)
    page = client.get(f"/datasets/{dataset.pk}/").content.decode()
    assert '<h1 id="dataset-name">clips</h1>' in page
    assert "2 actions, 2 in the evaluation subset" in page
    assert 'PERSON_INTERACTION</th><td>1</td><td>1</td><td class="rule">at most 3</td>' in page
    clip_a = Video.objects.get(video_id="clip-a").pk
    row = page.split(f'data-video="{clip_a}"')[1].split("</tr>")[0]
    assert 'class="status">ready<' in row and 'class="keyframes">1 / 2<' in row
    assert '<strong id="active-version">v1</strong>' in page and 'href="/models/' in page
    job = Job.objects.get()
    assert f'href="/jobs/{job.pk}/"' in page
    assert f'href="/api/v1/datasets/{dataset.pk}/labelmap/"' in page


def test_a_reviewer_gets_no_forms_and_403_on_posting(client, reviewer, dataset) -> None:  # type: ignore[no-untyped-def]
    client.force_login(reviewer)
    page = client.get(f"/datasets/{dataset.pk}/").content.decode()
    for form in ("export-training-form", "export-csv-form", "dataset-train-form"):
        assert form not in page
    response = client.post(
        f"/datasets/{dataset.pk}/export-training/", {"val_videos": ["clip-b"], "short_side": 72}
    )
    assert response.status_code == 403
    assert client.post(f"/datasets/{dataset.pk}/train/", {}).status_code == 403
    assert Job.objects.count() == 1


def test_a_manager_gets_the_three_forms(client, manager, dataset) -> None:  # type: ignore[no-untyped-def]
    client.force_login(manager)
    page = client.get(f"/datasets/{dataset.pk}/").content.decode()
    assert f'action="/datasets/{dataset.pk}/export-training/"' in page
    assert 'aria-describedby="export_val_videos_helptext" id="export_val_videos" multiple' in page
    assert 'name="short_side" value="360"' in page
    assert f'action="/api/v1/datasets/{dataset.pk}/export/"' in page
    assert f'action="/datasets/{dataset.pk}/train/"' in page
    assert 'id="train_train_videos"' in page  # ids of the two forms never clash
    assert '<label for="export_short_side">' in page and '<label for="csv-source">' in page


def test_the_export_form_queues_a_job_and_opens_its_page(client, manager, dataset) -> None:  # type: ignore[no-untyped-def]
    client.force_login(manager)
    Job.objects.all().delete()
    response = client.post(
        f"/datasets/{dataset.pk}/export-training/", {"val_videos": ["clip-b"], "short_side": 72}
    )
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/"
    assert (job.job_type, job.status, job.dataset) == ("export_training", "queued", dataset)
    assert job.params == {"val_videos": ["clip-b"], "short_side": 72}


def test_a_refused_export_shows_the_reason_on_the_page(client, manager, dataset) -> None:  # type: ignore[no-untyped-def]
    client.force_login(manager)
    Job.objects.update(status="running")
    response = client.post(
        f"/datasets/{dataset.pk}/export-training/", {"val_videos": ["clip-b"], "short_side": 72}
    )
    assert response.status_code == 400
    assert "already has training export job" in response.content.decode()
    response = client.post(f"/datasets/{dataset.pk}/export-training/", {"short_side": 72})
    assert response.status_code == 400 and "This field is required" in response.content.decode()
    assert Job.objects.count() == 1


def test_the_csv_form_downloads_the_export(client, manager, dataset) -> None:  # type: ignore[no-untyped-def]
    client.force_login(manager)
    # What the form sends: the empty model version means the active one.
    response = client.get(
        f"/api/v1/datasets/{dataset.pk}/export/", {"source": "human", "model_version": ""}
    )
    assert response.status_code == 200
    rows = b"".join(response.streaming_content).decode().splitlines()
    assert rows == [
        "clip-a,0001,0.100,0.100,0.500,0.900,1,0",
        "clip-b,0001,0.100,0.100,0.500,0.900,1,0",
    ]


def test_every_user_string_is_escaped(client, manager, dataset) -> None:  # type: ignore[no-untyped-def]
    Dataset.objects.filter(pk=dataset.pk).update(name="<b>bold</b>", description="<i>x</i>")
    Video.objects.filter(video_id="clip-a").update(video_id="<script>a</script>")
    ModelVersion.objects.update(name="<em>v1</em>")
    client.force_login(manager)
    for url in (f"/datasets/{dataset.pk}/", "/datasets/"):
        page = client.get(url).content.decode()
        assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt;" in page
    page = client.get(f"/datasets/{dataset.pk}/").content.decode()
    assert "<script>a</script>" not in page and "<em>v1</em>" not in page and "<i>x</i>" not in page


def test_the_list_links_each_dataset_in_a_fixed_number_of_queries(
    client, reviewer, dataset
) -> None:  # type: ignore[no-untyped-def]
    client.force_login(reviewer)
    client.get("/datasets/")  # the session and the user's groups are read once per request
    with CaptureQueriesContext(connection) as few:
        page = client.get("/datasets/").content.decode()
    labelled_dataset(name="more", video_ids=("m1", "m2", "m3"))
    with CaptureQueriesContext(connection) as more:
        client.get("/datasets/")
    assert len(more) == len(few)
    row = page.split(f'data-dataset="{dataset.pk}"')[1].split("</tr>")[0]
    assert f'href="/datasets/{dataset.pk}/"' in row and "2 / 3" in row and "v1" in row
    assert 'href="/datasets/"' in client.get("/").content.decode()  # the nav links the list


def test_the_page_reads_in_a_fixed_number_of_queries(client, reviewer, dataset) -> None:  # type: ignore[no-untyped-def]
    client.force_login(reviewer)
    url = f"/datasets/{dataset.pk}/"
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for n in range(3):
        video = Video.objects.create(dataset=dataset, video_id=f"x{n}", status="ready")
        Job.objects.create(job_type="ingest", video=video, dataset=dataset)
    with CaptureQueriesContext(connection) as more:
        client.get(url)
    assert len(more) == len(few)


def test_it_needs_a_login_and_a_role(client, django_user_model, dataset) -> None:  # type: ignore[no-untyped-def]
    for url in ("/datasets/", f"/datasets/{dataset.pk}/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")
    client.force_login(django_user_model.objects.create_user("nobody"))
    assert client.get(f"/datasets/{dataset.pk}/").status_code == 403
    assert client.get("/datasets/").status_code == 403

"""Videos: upload checks, server-side files, deletion with every derived file."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from annotator.errors import ApplicationError
from annotator.models import Dataset, Job, Video
from annotator.validation import video_id_check


def video_check_container(path: str | Path, name: str) -> None:
    """Refuse a file whose container has no video stream that PyAV can decode."""
    from inference.video import check_container

    try:
        check_container(path)
    except ValueError as error:
        # FFmpeg's message quotes the file it opened: a server path, for an upload a temporary one.
        raise ApplicationError(f"{name}: {str(error).replace(str(path), name)}") from error


def derived_media_dir(video: Video) -> Path:
    """Where the files derived from a video (keyframe images, clips) live."""
    return Path(settings.MEDIA_ROOT) / "derived" / f"video-{video.pk}"


def video_create(
    *,
    dataset: Dataset,
    video_id: str,
    upload: UploadedFile | File,
    time_offset: float = 0.0,
    user: Any = None,
) -> Video:
    """Store an uploaded or server-side video file and queue its ingest job."""
    from annotator.services.jobs import job_create

    video_id_check(value=video_id)
    if Video.objects.filter(dataset=dataset, video_id=video_id).exists():
        raise ApplicationError(f"video id {video_id!r} already exists in dataset {dataset.name!r}")
    size = upload.size or 0
    if size > settings.MAX_VIDEO_UPLOAD_BYTES:
        raise ApplicationError(
            f"{upload.name}: {size} bytes is over the limit of {settings.MAX_VIDEO_UPLOAD_BYTES}"
        )
    video_upload_check(upload=upload)
    with transaction.atomic():
        video = Video(dataset=dataset, video_id=video_id, time_offset=time_offset, size_bytes=size)
        video.file.save(Path(upload.name).name, upload, save=False)
        video.save()
        job_create(
            job_type=Job.Type.INGEST,
            params={"video": video.pk},
            user=user,
            dataset=dataset,
            video=video,
        )
    return video


def video_upload_check(*, upload: UploadedFile | File) -> None:
    """Refuse an upload or server-side file that is not a video PyAV can decode."""
    temporary_path = getattr(upload, "temporary_file_path", None)
    if temporary_path is not None:
        video_check_container(temporary_path(), upload.name)
    elif (
        hasattr(upload, "file")
        and hasattr(upload.file, "name")
        and Path(str(upload.file.name)).is_file()
    ):
        video_check_container(upload.file.name, upload.name)
    else:
        video_check_container_bytes(upload)


def video_check_container_bytes(upload: UploadedFile | File) -> None:
    """Check an in-memory upload by spooling it to a temporary file first."""
    import tempfile

    upload.seek(0)
    with tempfile.NamedTemporaryFile(suffix=Path(upload.name).suffix) as handle:
        shutil.copyfileobj(upload, handle)
        handle.flush()
        video_check_container(handle.name, upload.name)
    upload.seek(0)


def video_delete(*, video: Video) -> None:
    """Delete a video's rows and every file derived from it."""
    derived = derived_media_dir(video)
    file_name = video.file.name
    storage = video.file.storage
    with transaction.atomic():
        video.delete()
        transaction.on_commit(lambda: _remove_files(storage, file_name, derived))


def _remove_files(storage: Any, file_name: str, derived: Path) -> None:
    if file_name and storage.exists(file_name):
        storage.delete(file_name)
    shutil.rmtree(derived, ignore_errors=True)


def dataset_delete(*, dataset: Dataset) -> None:
    """Delete a dataset, its videos and all their files."""
    with transaction.atomic():
        for video in dataset.videos.all():
            video_delete(video=video)
        dataset.delete()

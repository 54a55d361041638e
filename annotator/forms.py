"""Forms of the pages and the admin that start work: they parse input and call one service."""

from __future__ import annotations

from typing import Any

from django import forms

from annotator.models import Dataset, Job, ModelVersion, Video
from annotator.services import training, training_export

PRESETS = ["small", "slowfast_r50_8x8_ava", "slow_r50_4x16_ava"]


class JobForm(forms.Form):
    """A form that starts one job of `dataset` through its service (`_start`)."""

    def __init__(self, *args: Any, dataset: Dataset, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dataset = dataset

    def _start(self, user: Any) -> Job:
        raise NotImplementedError

    def started(self, user: Any) -> Job | None:
        """The job, when the form is valid and the service starts it; else None, with the
        service's refusal (a conflict, a missing video) shown as a form error."""
        from annotator.errors import ApplicationError

        if not self.is_valid():
            return None
        try:
            return self._start(user)
        except ApplicationError as error:
            self.add_error(None, error.message)
            return None


class TrainForm(JobForm):
    """A training run of one dataset: whole videos per split, a base and hyper-parameters."""

    train_videos = forms.MultipleChoiceField(help_text="Whole videos that train.")
    val_videos = forms.MultipleChoiceField(help_text="Whole videos that validate.")
    base_version = forms.ModelChoiceField(
        queryset=ModelVersion.objects.none(),
        required=False,
        empty_label="none: start from the preset",
        help_text="The version to start from (its backbone, and its head when the actions match).",
    )
    preset = forms.ChoiceField(choices=[(name, name) for name in PRESETS], initial="small")
    epochs = forms.IntegerField(min_value=1, max_value=1000, initial=training.DEFAULT_EPOCHS)
    lr = forms.FloatField(
        label="Learning rate", min_value=1e-12, max_value=1e38, initial=training.DEFAULT_LR
    )
    batch_size = forms.IntegerField(
        min_value=1, max_value=1024, initial=training.DEFAULT_BATCH_SIZE
    )
    freeze_backbone = forms.BooleanField(required=False, help_text="Train the head only.")

    def __init__(self, *args: Any, dataset: Dataset, **kwargs: Any) -> None:
        super().__init__(*args, dataset=dataset, **kwargs)
        ids = Video.objects.filter(dataset=dataset, status=Video.Status.READY).order_by("video_id")
        choices = [(video_id, video_id) for video_id in ids.values_list("video_id", flat=True)]
        for name in ("train_videos", "val_videos"):
            field = self.fields[name]
            assert isinstance(field, forms.MultipleChoiceField)
            field.choices = choices
        base = self.fields["base_version"]
        assert isinstance(base, forms.ModelChoiceField)
        base.queryset = ModelVersion.objects.filter(
            dataset=dataset, status__in=[ModelVersion.Status.READY, ModelVersion.Status.ARCHIVED]
        ).exclude(checkpoint="")
        if not self.is_bound and dataset.active_model_version_id is not None:
            base.initial = dataset.active_model_version_id

    def _start(self, user: Any) -> Job:
        return training.training_start(dataset=self.dataset, user=user, **self.cleaned_data)


class ExportTrainingForm(JobForm):
    """A training-bundle export of one dataset: the validation videos and the frames' size."""

    val_videos = forms.MultipleChoiceField(
        label="Validation videos", help_text="Whole videos that validate; the others train."
    )
    short_side = forms.IntegerField(
        label="Frame short side (pixels)",
        min_value=16,
        max_value=4320,
        initial=training_export.DEFAULT_SHORT_SIDE,
    )

    def __init__(self, *args: Any, dataset: Dataset, **kwargs: Any) -> None:
        super().__init__(*args, dataset=dataset, **kwargs)
        ids = Video.objects.filter(dataset=dataset).order_by("video_id")
        field = self.fields["val_videos"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = [
            (video_id, video_id) for video_id in ids.values_list("video_id", flat=True)
        ]

    def _start(self, user: Any) -> Job:
        return training_export.training_export_start(
            dataset=self.dataset, user=user, **self.cleaned_data
        )

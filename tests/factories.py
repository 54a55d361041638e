"""factory_boy factories for the annotator models."""

from __future__ import annotations

import factory

from annotator.models import Action, BoxLabel, Dataset, Keyframe, PersonBox, Video


class DatasetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Dataset

    name = factory.Sequence(lambda n: f"dataset-{n}")


class ActionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Action

    dataset = factory.SubFactory(DatasetFactory)
    action_id = factory.Sequence(lambda n: n + 1)
    name = factory.Sequence(lambda n: f"action {n}")


class VideoFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Video

    dataset = factory.SubFactory(DatasetFactory)
    video_id = factory.Sequence(lambda n: f"video{n:04d}")
    status = Video.Status.READY


class KeyframeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Keyframe

    video = factory.SubFactory(VideoFactory)
    timestamp = factory.Sequence(lambda n: 902 + n)


class PersonBoxFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PersonBox

    keyframe = factory.SubFactory(KeyframeFactory)
    x1, y1, x2, y2 = 0.1, 0.2, 0.4, 0.9
    source = "human"
    state = "accepted"


class BoxLabelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BoxLabel

    box = factory.SubFactory(PersonBoxFactory)
    action = factory.SubFactory(ActionFactory)
    source = "human"
    state = "accepted"


def labelled_dataset(
    name: str = "clips", video_ids: tuple[str, ...] = ("clip-a", "clip-b")
) -> Dataset:
    """A dataset with action 1 "walk" and ready videos (media paths that need not exist), each
    with one reviewed keyframe (second 1) holding a human box labelled "walk"."""
    dataset = Dataset.objects.create(name=name)
    walk = Action.objects.create(dataset=dataset, action_id=1, name="walk")
    for video_id in video_ids:
        video = Video.objects.create(
            dataset=dataset, video_id=video_id, status="ready", file=f"videos/{video_id}.mp4"
        )
        keyframe = Keyframe.objects.create(video=video, timestamp=1, status="reviewed")
        box = PersonBox.objects.create(
            keyframe=keyframe, x1=0.1, y1=0.1, x2=0.5, y2=0.9, source="human", person_id=0
        )
        BoxLabel.objects.create(box=box, action=walk, source="human")
    return dataset

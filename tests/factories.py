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

import django.db.models.deletion
from django.db import migrations, models

CHUNK = 2000


def scores_to_box_scores(apps, schema_editor):
    """Each box's score vector becomes a BoxScore of the version that wrote it; only boxes of
    imported predictions keep a model version (detector and human boxes are shared)."""
    PersonBox = apps.get_model("annotator", "PersonBox")
    BoxScore = apps.get_model("annotator", "BoxScore")
    scored = PersonBox.objects.filter(scores__isnull=False, model_version__isnull=False)
    rows = scored.values_list("pk", "model_version_id", "scores", "job_id").order_by("pk")
    batch = []
    for box, version, scores, job in rows.iterator(CHUNK):
        batch.append(BoxScore(box_id=box, model_version_id=version, scores=scores, job_id=job))
        if len(batch) == CHUNK:
            BoxScore.objects.bulk_create(batch)
            batch = []
    BoxScore.objects.bulk_create(batch)
    PersonBox.objects.exclude(source="model").update(model_version=None)


class Migration(migrations.Migration):
    dependencies = [
        ("annotator", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="job",
            name="depends_on",
            field=models.ManyToManyField(
                blank=True,
                help_text="Jobs this one waited for (an evaluation for the pre-annotation it started).",
                related_name="dependents",
                to="annotator.job",
            ),
        ),
        migrations.AlterField(
            model_name="job",
            name="status",
            field=models.CharField(
                choices=[
                    ("queued", "Queued"),
                    ("running", "Running"),
                    ("succeeded", "Succeeded"),
                    ("failed", "Failed"),
                    ("cancelled", "Cancelled"),
                    ("waiting", "Waiting"),
                ],
                default="queued",
                max_length=16,
            ),
        ),
        migrations.CreateModel(
            name="BoxScore",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("scores", models.BinaryField()),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "box",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="model_scores",
                        to="annotator.personbox",
                    ),
                ),
                (
                    "job",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="annotator.job",
                    ),
                ),
                (
                    "model_version",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="box_scores",
                        to="annotator.modelversion",
                    ),
                ),
            ],
            options={
                "ordering": ["box", "model_version"],
                "indexes": [
                    models.Index(
                        fields=["model_version", "box"], name="annotator_b_model_v_5b2241_idx"
                    )
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("box", "model_version"), name="boxscore_unique_version"
                    )
                ],
            },
        ),
        migrations.RunPython(scores_to_box_scores, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name="personbox",
            name="scores",
        ),
    ]

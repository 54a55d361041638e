"""AVA CSV, excluded-timestamp and label map I/O: round trips and every bad-input case."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from inference import ava
from inference.ava import NO_ACTION, AvaFormatError

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "inference" / "data"

GT_TEXT = """\
vidA,0902,0.100,0.200,0.300,0.400,12,0
vidA,0902,0.100,0.200,0.300,0.400,80,0
vidA,0903
vidB,0902,0.500,0.500,0.900,0.950,1,3
vidB,1000,0.000,0.000,1.000,1.000,14,4
vidA,0904,0.250,0.250,0.750,0.750,5
"""


def write(tmp_path: Path, text: str, name: str = "file.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def errors_of(path: Path, kind: str = "gt", **options) -> list[str]:
    with pytest.raises(AvaFormatError) as caught:
        ava.read_ava_csv(path, kind, **options)
    return caught.value.messages


def test_it_reads_ground_truth_with_every_row_width(tmp_path):
    rows = ava.read_ava_csv(write(tmp_path, GT_TEXT))
    assert rows.videos == ("vidA", "vidB")
    assert rows.video_ids.tolist() == ["vidA", "vidA", "vidA", "vidB", "vidB", "vidA"]
    assert rows.timestamp.tolist() == [902, 902, 903, 902, 1000, 904]
    assert rows.columns.tolist() == [8, 8, 2, 8, 8, 7]
    assert rows.line.tolist() == [1, 2, 3, 4, 5, 6]
    assert rows.action.tolist() == [12, 80, NO_ACTION, 1, 14, 5]
    assert rows.person_id.tolist() == [0, 0, -1, 3, 4, -1]
    assert rows.keyframe_only.tolist() == [False, False, True, False, False, False]
    np.testing.assert_array_equal(rows.box[3], [0.5, 0.5, 0.9, 0.95])
    assert np.isnan(rows.box[2]).all()


def test_it_writes_ground_truth_back_as_it_was(tmp_path):
    rows = ava.read_ava_csv(write(tmp_path, GT_TEXT))
    assert ava.csv_text(rows) == GT_TEXT
    chunks = list(ava.iter_csv_chunks(rows, "gt", chunk_rows=4))
    assert len(chunks) == 2 and "".join(chunks) == GT_TEXT
    ava.write_ava_csv(tmp_path / "out.csv", rows)
    assert (tmp_path / "out.csv").read_text() == GT_TEXT


def test_it_round_trips_predictions_and_person_boxes(tmp_path):
    predictions = "v1,0902,0.100,0.200,0.300,0.400,5,0.912345\nv1,0902\n"
    rows = ava.read_ava_csv(write(tmp_path, predictions), "predictions")
    assert rows.value[0] == 0.912345
    assert ava.csv_text(rows, "predictions") == predictions
    person_boxes = "v1,0903,0.100,0.200,0.300,0.400,,0.987654\nv2,0904\n"
    rows = ava.read_ava_csv(write(tmp_path, person_boxes), "person-boxes")
    assert rows.action.tolist() == [NO_ACTION, NO_ACTION]
    assert ava.csv_text(rows, "person-boxes") == person_boxes


def test_it_writes_records_in_ava_formatting():
    rows = ava.rows_from_records(
        [
            ("v", 902, 0.1, 0.25, 0.5, 1, 3, 7),
            ("v", 903),
            ("w", 1000, 0.1, 0.2, 0.3, 0.4, 4),
            ("w", 1001, 0.1, 0.2, 0.3, 0.4, None, 0.5),
        ]
    )
    assert ava.csv_text(rows) == (
        "v,0902,0.100,0.250,0.500,1.000,3,7\nv,0903\nw,1000,0.100,0.200,0.300,0.400,4\n"
        "w,1001,0.100,0.200,0.300,0.400,,0\n"
    )
    assert ava.csv_text(rows, "predictions").splitlines()[0].endswith(",3,7.000000")


def test_it_formats_database_tuples_directly():
    records = [
        ("v", 902, 0.1, 0.25, 0.5, 1.0, 3, 7),
        ("v", 903),
        ("w", 1000, 0.1, 0.2, 0.3, 0.4, 4),
        ("w", 1001, 0.1, 0.2, 0.3, 0.4, 4, None),
        ("w", 1002, None, None, None, None, None, None),
    ]
    assert ava.records_text(records, "gt") == (
        "v,0902,0.100,0.250,0.500,1.000,3,7\nv,0903\nw,1000,0.100,0.200,0.300,0.400,4\n"
        "w,1001,0.100,0.200,0.300,0.400,4\nw,1002\n"
    )
    boxes = [("v", 902, 0.1, 0.2, 0.3, 0.4, None, 0.98765432)]
    assert ava.records_text(boxes, "person-boxes") == "v,0902,0.100,0.200,0.300,0.400,,0.987654\n"
    # what records_text writes, read_ava_csv reads back
    assert ava.csv_text(ava.rows_from_records(records)) == ava.records_text(records)


def test_it_skips_blank_lines_and_keeps_line_numbers(tmp_path):
    text = "v,0902,0.1,0.1,0.5,0.5,1,0\n\nv,0903\n\nv,0904,0.1,0.1,0.5,0.5,1,0\n"
    rows = ava.read_ava_csv(write(tmp_path, text))
    assert rows.line.tolist() == [1, 3, 5]
    assert rows.videos == ("v",)


def test_it_reads_values_python_reads_but_arrow_does_not(tmp_path):
    rows = ava.read_ava_csv(write(tmp_path, "v,0902, 0.1,0.1,0.5,0.5,+1,0\n"))
    assert rows.box[0, 0] == 0.1 and rows.action[0] == 1


def test_it_streams_large_files_in_batches(tmp_path):
    lines = [
        f"v{i % 7},{900 + i % 50:04d},0.1,0.1,0.5,0.5,{i % 80 + 1},{i / 1e5}" for i in range(20000)
    ]
    lines[5] = "v1,0950"  # an odd-width row comes in the last batch
    path = write(tmp_path, "\n".join(lines) + "\n")
    batches = list(ava.iter_ava_batches(path, "predictions", block_size=1 << 16))
    assert len(batches) > 3
    assert batches[-1].columns.tolist() == [2]
    whole = ava.read_ava_csv(path, "predictions", validate=False)
    streamed = np.concatenate([b.value for b in batches[:-1]])
    np.testing.assert_array_equal(streamed, whole.value[whole.columns == 8])
    ids = np.concatenate([b.video_ids for b in batches[:-1]])
    assert ids.tolist() == whole.video_ids[whole.columns == 8].tolist()


def test_it_streams_through_values_arrow_does_not_read(tmp_path):
    lines = [f"v,{900 + i:04d},0.1,0.1,0.5,0.5,1,0.5" for i in range(5000)]
    lines[4000] = "v,4900,0.1,0.1,0.5,0.5,+1,0.5"
    path = write(tmp_path, "\n".join(lines) + "\n")
    batches = list(ava.iter_ava_batches(path, "predictions", block_size=1 << 14))
    assert sum(len(b) for b in batches) == 5000
    assert sorted(np.concatenate([b.timestamp for b in batches]).tolist()) == [
        900 + i for i in range(4000)
    ] + [4900] + [900 + i for i in range(4001, 5000)]


def test_streaming_reports_bad_rows_with_their_lines(tmp_path):
    lines = [f"v,{900 + i:04d},0.1,0.1,0.5,0.5,1,0.5" for i in range(3000)]
    lines[2500] = "v,0902,0.1,x,0.5,0.5,1,0.5"
    path = write(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(AvaFormatError) as caught:
        list(ava.iter_ava_batches(path, "predictions", block_size=1 << 14))
    assert caught.value.messages == [f"{path}:2501: field 'y1' = 'x': not a number"]


@pytest.mark.parametrize(
    ("text", "kind", "options", "messages"),
    [
        ("v,0902,0.1\n", "gt", {}, ["1: expected 2, 7 or 8 columns, got 3"]),
        (
            "v,0902,0.1,0.1,0.5,0.5,1,0\nv,0902,0.1,0.1,0.5\n",
            "gt",
            {},
            ["2: expected 2, 7 or 8 columns, got 5"],
        ),
        ("v,09a2,0.1,0.1,0.5,0.5,1,0\n", "gt", {}, ["1: field 'timestamp' = '09a2': not a number"]),
        (
            "v,902.5,0.1,0.1,0.5,0.5,1,0\n",
            "gt",
            {},
            ["1: field 'timestamp' = '902.5': not a whole number"],
        ),
        ("v,0902,0.1,,0.5,0.5,1,0\n", "gt", {}, ["1: field 'y1' = '': not a number"]),
        ("v,0902,0.1,0.1,0.5,0.5,,0\n", "gt", {}, ["1: field 'action_id' = '': not a number"]),
        (
            "v,0902,0.1,0.1,0.5,0.5,1,high\n",
            "predictions",
            {},
            ["1: field 'score' = 'high': not a number"],
        ),
        (
            "v,0902,1.7,0.1,1.9,0.5,1,0\n",
            "gt",
            {},
            [
                "1: field 'x1' = '1.7': must be in [0, 1]",
                "1: field 'x2' = '1.9': must be in [0, 1]",
            ],
        ),
        ("v,0902,0.1,-0.1,0.5,0.5,1,0\n", "gt", {}, ["1: field 'y1' = '-0.1': must be in [0, 1]"]),
        (
            "v,0902,0.5,0.1,0.5,0.5,1,0\n",
            "gt",
            {},
            ["1: field 'x1' = '0.5': must be less than x2 = '0.5'"],
        ),
        (
            "v,0902,0.1,0.6,0.5,0.5,1,0\n",
            "gt",
            {},
            ["1: field 'y1' = '0.6': must be less than y2 = '0.5'"],
        ),
        ("v,-902,0.1,0.1,0.5,0.5,1,0\n", "gt", {}, ["1: field 'timestamp' = '-902': must be >= 0"]),
        (
            "v,0902,0.1,0.1,0.5,0.5,99,0\n",
            "gt",
            {"action_ids": {1, 2}},
            ["1: field 'action_id' = '99': not in the label map"],
        ),
        (
            "w,0902,0.1,0.1,0.5,0.5,1,0\nv,0903\n",
            "gt",
            {"videos": {"v"}},
            ["1: field 'video_id' = 'w': unknown video"],
        ),
        (",0902\n", "gt", {}, ["1: field 'video_id' = '': must not be empty"]),
        (
            "v,0902,0.1,0.1,0.5,0.5,1,0\nv,0903\nv,0902,0.1,0.1,0.5,0.5,1,5\nv,0903\n",
            "gt",
            {},
            [
                "3: duplicate row: same keyframe, box and action as line 1",
                "4: duplicate row: same keyframe, box and action as line 2",
            ],
        ),
        (
            "v,0902,0.1,0.1,0.5,0.5,1,1.5\n",
            "gt",
            {},
            ["1: field 'person_id' = '1.5': must be a whole number >= 0"],
        ),
        (
            "v,0902,0.1,0.1,0.5,0.5,1,nan\n",
            "predictions",
            {},
            ["1: field 'score' = 'nan': must be a finite number"],
        ),
        (
            "v,0902,0.1,0.1,0.5,0.5,3,0.9\n",
            "person-boxes",
            {},
            ["1: field 'action_id' = '3': must be empty in a person-box file"],
        ),
    ],
)
def test_it_names_file_line_field_and_value_of_every_bad_row(
    tmp_path, text, kind, options, messages
):
    path = write(tmp_path, text)
    assert errors_of(path, kind, **options) == [f"{path}:{m}" for m in messages]


def test_it_reports_structural_and_value_errors_together_in_line_order(tmp_path):
    text = "v,0902,0.1,0.1,0.5,0.5,1,0\nv,0902,1.7,0.1,0.9,0.5,1,0\nv,09x2\nv,0904,0.1\n"
    path = write(tmp_path, text)
    assert errors_of(path) == [
        f"{path}:2: field 'x1' = '1.7': must be in [0, 1]",
        f"{path}:2: field 'x1' = '1.7': must be less than x2 = '0.9'",
        f"{path}:3: field 'timestamp' = '09x2': not a number",
        f"{path}:4: expected 2, 7 or 8 columns, got 3",
    ]


def test_it_shows_the_first_50_errors_and_counts_the_rest(tmp_path):
    text = "".join(f"v,{900 + i:04d},0.1,0.1,0.5,1.5,1,0\n" for i in range(120))
    path = write(tmp_path, text)
    with pytest.raises(AvaFormatError) as caught:
        ava.read_ava_csv(path)
    error = caught.value
    assert error.total == 120 and len(error.messages) == 50
    assert error.messages[0] == f"{path}:1: field 'y2' = '1.5': must be in [0, 1]"
    assert error.messages[-1].startswith(f"{path}:50: ")
    assert str(error).endswith("... and 70 more errors")
    assert isinstance(error, ValueError)


def test_it_accepts_anything_well_formed_without_validation(tmp_path):
    text = "v,0902,1.7,0.1,0.5,0.5,99,0\nv,0902,1.7,0.1,0.5,0.5,99,0\n"
    rows = ava.read_ava_csv(write(tmp_path, text), validate=False, action_ids={1})
    assert len(rows) == 2


def test_it_reads_an_empty_file(tmp_path):
    assert len(ava.read_ava_csv(write(tmp_path, ""))) == 0
    assert list(ava.iter_ava_batches(write(tmp_path, ""))) == []


def test_it_rejects_an_unknown_kind(tmp_path):
    with pytest.raises(ValueError, match="unknown AVA file kind 'boxes'"):
        ava.read_ava_csv(write(tmp_path, GT_TEXT), "boxes")


def test_it_round_trips_excluded_timestamps(tmp_path):
    keyframes = [("vidA", 902), ("vidB", 1798)]
    ava.write_excluded(tmp_path / "ex.csv", keyframes)
    assert (tmp_path / "ex.csv").read_text() == "vidA,0902\nvidB,1798\n"
    assert ava.read_excluded(tmp_path / "ex.csv") == keyframes


def test_it_rejects_bad_excluded_rows(tmp_path):
    path = write(tmp_path, "v,0902\nv,0902,1\nv,x\nv,0902\n")
    with pytest.raises(AvaFormatError) as caught:
        ava.read_excluded(path)
    assert caught.value.messages == [
        f"{path}:2: expected 2 columns, got 3",
        f"{path}:3: field 'timestamp' = 'x': not a number",
        f"{path}:4: duplicate row: same keyframe as line 1",
    ]


@pytest.mark.parametrize(
    ("name", "form", "count", "typed"),
    [
        ("ava_action_list_v2.2.pbtxt", "label", 80, True),
        ("ava_action_list_v2.2_for_activitynet_2019.pbtxt", "item", 60, False),
    ],
)
def test_it_round_trips_both_label_map_forms(tmp_path, name, form, count, typed):
    text = (DATA / name).read_text()
    labelmap = ava.read_labelmap(DATA / name)
    assert len(labelmap.actions) == count
    assert labelmap.actions[0] == ava.ActionLabel(
        1, "bend/bow (at the waist)", "PERSON_MOVEMENT" if typed else None
    )
    assert ava.format_labelmap(labelmap, form) == text
    ava.write_labelmap(tmp_path / "out.pbtxt", labelmap, form)
    assert ava.read_labelmap(tmp_path / "out.pbtxt") == labelmap


def test_it_reads_the_types_of_the_full_label_map():
    labelmap = ava.read_labelmap(DATA / "ava_action_list_v2.2.pbtxt")
    types = {a.type for a in labelmap.actions}
    assert types == {"PERSON_MOVEMENT", "OBJECT_MANIPULATION", "PERSON_INTERACTION"}
    assert labelmap.by_id()[80].name == "watch (a person)"


def test_it_keeps_quotes_and_comments_apart_in_label_maps():
    labelmap = ava.parse_labelmap('# taxonomy\nitem { name: "say \\"hi\\"" id: 7 }  # seven\n')
    assert labelmap.actions == (ava.ActionLabel(7, 'say "hi"', None),)
    assert ava.parse_labelmap(ava.format_labelmap(labelmap, "item")) == labelmap


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "<labelmap>:1: no 'label' or 'item' entries"),
        ('label {\n  name: "a"\n}\n', "<labelmap>:1: label has no label_id"),
        ('item {\n  name: "a"\n  id: 0\n}\n', "<labelmap>:3: field 'id' = '0': must be >= 1"),
        ('item {\n  name: "a"\n  id: x\n}\n', "<labelmap>:3: field 'id' = 'x': must be >= 1"),
        (
            'item {\n  name: "a"\n  id: 2\n}\nitem {\n  name: "b"\n  id: 2\n}\n',
            "<labelmap>:7: field 'id' = '2': duplicate of line 3",
        ),
        ('item {\n  name: "a"\n  colour: 2\n}\n', "<labelmap>:3: unknown field 'colour' in item"),
        ('item {\n  name: "a"\n  id: 2\n', "<labelmap>:3: unexpected end of file"),
        ("item {\n  name = 2\n}\n", "<labelmap>:2: expected ':', got '='"),
        ('item {\n  name: "a\n}\n', "<labelmap>:2: cannot parse '\"'"),
        ("labels {}\n", "<labelmap>:1: expected 'label' or 'item', got 'labels'"),
    ],
)
def test_it_rejects_bad_label_maps_with_line_numbers(text, message):
    with pytest.raises(ValueError) as caught:
        ava.parse_labelmap(text)
    assert str(caught.value) == message


def test_it_loads_neither_torch_nor_django():
    code = (
        "import sys, inference.ava, inference.evaluation; "
        "print(sorted(m for m in ('torch', 'django') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert done.stdout.strip() == "[]"

"""The per-class AP figure (SlowFast paper, Figure 3) as SVG and PNG, from one layout.

Per class, the AP of a baseline (model A) and of model B, classes sorted by ground-truth count
(most first), the 5 largest absolute gains and the 5 largest relative gains among classes whose
baseline AP is above 1 % marked. `compare_classes` decides the ranking and the marks once;
`figure_layout` turns a `Comparison` into shapes in pixel units; `figure_svg` writes them as SVG
(with hover titles and data attributes the dashboard and its tests read) and `figure_png` draws
the same shapes with Pillow at twice the size, so the two downloads show the same figure.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape, quoteattr

if TYPE_CHECKING:
    from PIL import Image, ImageDraw

MARKED = 5  # classes marked per kind of gain
RELATIVE_FLOOR = 0.01  # relative gains count only above this baseline AP (1 %)


@dataclass(frozen=True)
class ReportSummary:
    """What the legend and the table header say about one report."""

    id: int
    model_version: int
    model_name: str
    mean_ap: float | None
    per_type: dict[str, float]
    box_source: str
    snapshot_hash: str
    keyframes: int | None
    created_at: str


@dataclass(frozen=True)
class ClassRow:
    """One class of the figure: AP of B (and of baseline A), gains and marks."""

    action_id: int
    name: str
    action_type: str
    gt_count: int
    ap: float
    baseline_ap: float | None
    gain: float | None  # ap - baseline_ap
    relative_gain: float | None  # gain / baseline_ap, where baseline_ap > RELATIVE_FLOOR
    absolute_mark: bool
    relative_mark: bool


@dataclass(frozen=True)
class Comparison:
    """Report B alone, or against baseline A; classes in figure order."""

    report: ReportSummary
    baseline: ReportSummary | None
    classes: tuple[ClassRow, ...]

    @property
    def same_snapshot(self) -> bool:
        """Whether both reports scored the same data (only then are their APs comparable)."""
        return self.baseline is None or self.baseline.snapshot_hash == self.report.snapshot_hash


def _top(values: dict[int, float], order: dict[int, int]) -> set[int]:
    """The MARKED classes with the largest positive values (ties: figure order)."""
    positive = [action_id for action_id, value in values.items() if value > 0]
    positive.sort(key=lambda action_id: (-values[action_id], order[action_id]))
    return set(positive[:MARKED])


def compare_classes(
    per_class: Mapping[int, Mapping[str, Any]],
    baseline_per_class: Mapping[int, Mapping[str, Any]] | None,
    actions: Mapping[int, tuple[str, str]],
) -> tuple[ClassRow, ...]:
    """Classes with an AP in figure order (most ground truth first), with gains against the
    baseline and the marks; `per_class` maps action id to `{"ap", "gt_count"}`, `actions` to
    (name, type)."""
    base_ap = {int(key): value.get("ap") for key, value in (baseline_per_class or {}).items()}
    measured = [
        (int(key), value) for key, value in per_class.items() if value.get("ap") is not None
    ]
    measured.sort(key=lambda item: (-int(item[1].get("gt_count", 0)), item[0]))
    order = {action_id: position for position, (action_id, _) in enumerate(measured)}

    gains: dict[int, float] = {}
    relative: dict[int, float] = {}
    for action_id, value in measured:
        before = base_ap.get(action_id)
        if before is not None:
            gains[action_id] = value["ap"] - before
            if before > RELATIVE_FLOOR:
                relative[action_id] = gains[action_id] / before
    absolute_marks, relative_marks = _top(gains, order), _top(relative, order)

    classes = []
    for action_id, value in measured:
        name, action_type = actions.get(action_id, (str(action_id), ""))
        classes.append(
            ClassRow(
                action_id=action_id,
                name=name,
                action_type=action_type,
                gt_count=int(value.get("gt_count", 0)),
                ap=value["ap"],
                baseline_ap=base_ap.get(action_id),
                gain=gains.get(action_id),
                relative_gain=relative.get(action_id),
                absolute_mark=action_id in absolute_marks,
                relative_mark=action_id in relative_marks,
            )
        )
    return tuple(classes)


FONT = "system-ui, -apple-system, 'Segoe UI', sans-serif"
INK = "#1d2330"
MUTED = "#5b6475"
GRID = "#e4e7ec"
BASELINE_FILL = "#a3acbd"
MODEL_FILL = "#2f6fdb"
ABSOLUTE_FILL = "#1d2330"
RELATIVE_FILL = "#d9480f"
WARNING = "#b3261e"
LABEL_ANGLE = -60  # degrees, as SVG rotates (clockwise positive)
MAX_LABEL = 36  # characters of a class name under the axis
PNG_SCALE = 2


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    fill: str
    css: str = ""
    attrs: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Polygon:
    points: tuple[tuple[float, float], ...]
    fill: str
    css: str = ""


@dataclass(frozen=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float
    stroke: str
    width: float = 1.0


@dataclass(frozen=True)
class Text:
    x: float
    y: float  # baseline
    text: str
    size: float = 11.0
    anchor: str = "start"  # start, middle, end
    rotate: float = 0.0
    bold: bool = False
    fill: str = INK
    css: str = ""


Shape = Rect | Polygon | Line | Text


@dataclass(frozen=True)
class Group:
    """Shapes that belong together (one class's bars): a hover title and data attributes."""

    shapes: tuple[Shape, ...]
    css: str = ""
    title: str = ""
    attrs: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Layout:
    width: float
    height: float
    items: tuple[Shape | Group, ...] = field(default_factory=tuple)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:+.1f}"


def _short(name: str) -> str:
    return name if len(name) <= MAX_LABEL else name[: MAX_LABEL - 3] + "..."


def text_width(text: str, size: float, bold: bool = False) -> float:
    """A generous estimate of a text's drawn width in a sans-serif font (layout only)."""
    return len(text) * size * (0.68 if bold else 0.62)


def _fit(text: str, size: float, room: float) -> str:
    """`text`, cut with an ellipsis where it would be wider than `room`."""
    if text_width(text, size) <= room:
        return text
    keep = max(1, int(room / (size * 0.62)) - 3)
    return text[:keep] + "..."


LEGEND_Y = 46.0
LEGEND_LINE = 18.0
_ABSOLUTE_LEGEND = f"{MARKED} largest absolute gains (bold name)"
_RELATIVE_LEGEND = (
    f"{MARKED} largest relative gains, baseline AP > {100 * RELATIVE_FLOOR:g} % (coloured name)"
)


def _marks_wrap(frame: _Frame) -> bool:
    """Whether the two marks' legends need a line each."""
    room = frame.width - frame.right - frame.left
    return 18 + text_width(_ABSOLUTE_LEGEND, 11) + 24 + 18 + text_width(_RELATIVE_LEGEND, 11) > room


def _legend(comparison: Comparison, room: float) -> list[tuple[str, str, float, int]]:
    """Each model's legend entry (fill, text, x from the left margin, line): side by side while
    they fit in `room`, else one a line; a name too long for a line of its own is cut."""
    entries = [(MODEL_FILL, "B: " if comparison.baseline is not None else "", comparison.report)]
    if comparison.baseline is not None:
        entries.insert(0, (BASELINE_FILL, "A: ", comparison.baseline))
    placed: list[tuple[str, str, float, int]] = []
    x, line = 0.0, 0
    for fill, prefix, summary in entries:
        suffix = f", mAP {_percent(summary.mean_ap)}"
        name = _fit(summary.model_name, 12, room - 18 - text_width(prefix + suffix, 12))
        text = f"{prefix}{name}{suffix}"
        width = 18 + text_width(text, 12)
        if x > 0 and x + width > room:
            x, line = 0.0, line + 1
        placed.append((fill, text, x, line))
        x += width + 24
    return placed


def _triangle(x: float, y: float, size: float = 5.0) -> tuple[tuple[float, float], ...]:
    """Upward triangle with its base centred at (x, y)."""
    return ((x - size, y), (x + size, y), (x, y - 1.7 * size))


def _diamond(x: float, y: float, size: float = 4.5) -> tuple[tuple[float, float], ...]:
    """Diamond with its bottom corner at (x, y)."""
    return ((x, y), (x + size, y - size), (x, y - 2 * size), (x - size, y - size))


def _hover(row: ClassRow, comparison: Comparison) -> str:
    lines = [f"{row.name} (id {row.action_id}, {row.gt_count} GT)"]
    if comparison.baseline is not None:
        lines.append(f"A {comparison.baseline.model_name}: AP {_percent(row.baseline_ap)}")
    lines.append(f"B {comparison.report.model_name}: AP {_percent(row.ap)}")
    if comparison.baseline is not None:
        relative = "" if row.relative_gain is None else f" ({100 * row.relative_gain:+.0f} %)"
        lines.append(f"gain {_signed(row.gain)}{relative}")
    if row.absolute_mark:
        lines.append(f"one of the {MARKED} largest absolute gains")
    if row.relative_mark:
        lines.append(f"one of the {MARKED} largest relative gains")
    return "\n".join(lines)


@dataclass(frozen=True)
class _Frame:
    """Where the plot sits: margins, sizes, the AP scale and the width of a class's slot."""

    paired: bool
    width: float
    y_max: float
    step: float
    left: float = 52.0
    right: float = 20.0
    top: float = 96.0
    plot_height: float = 260.0

    @property
    def bar(self) -> float:
        return 9.0 if self.paired else 12.0

    @property
    def slot(self) -> float:
        return 2 * self.bar + 7 if self.paired else self.bar + 8

    @property
    def base_y(self) -> float:
        return self.top + self.plot_height

    def y_of(self, ap: float) -> float:
        return self.base_y - self.plot_height * min(ap, self.y_max) / self.y_max


def _header(comparison: Comparison, frame: _Frame) -> list[Shape | Group]:
    """Title, the legend with each model's mAP, the marks' legend, a warning on mixed data."""
    report, left = comparison.report, frame.left
    title = f"Per-class AP, report {report.id}"
    if comparison.baseline is not None:
        title += f" vs baseline {comparison.baseline.id}"
    title += f" (scored boxes: {report.box_source.replace('_', ' ')}"
    title += f", {report.keyframes} keyframes)" if report.keyframes is not None else ")"
    items: list[Shape | Group] = [Text(left, 22, title, size=14, bold=True, css="title")]
    placed = _legend(comparison, frame.width - frame.right - left)
    for fill, text, x, line in placed:
        legend_y = LEGEND_Y + LEGEND_LINE * line
        items.append(Rect(left + x, legend_y - 10, 12, 12, fill))
        items.append(Text(left + x + 18, legend_y, text, size=12, css="legend-map"))
    if frame.paired:
        marks_y = LEGEND_Y + LEGEND_LINE * placed[-1][3] + 22
        # The relative gains' legend follows the absolute one's, or goes under it.
        x, y = 18 + text_width(_ABSOLUTE_LEGEND, 11) + 24, marks_y
        if _marks_wrap(frame):
            x, y = 0.0, marks_y + LEGEND_LINE
        items += [
            Polygon(_triangle(left + 6, marks_y), ABSOLUTE_FILL),
            Text(left + 18, marks_y, _ABSOLUTE_LEGEND, size=11),
            Polygon(_diamond(left + x + 6, y + 1), RELATIVE_FILL),
            Text(left + x + 18, y, _RELATIVE_LEGEND, size=11, fill=RELATIVE_FILL),
        ]
    if not comparison.same_snapshot:
        warning = "different data: the reports' snapshot hashes differ"
        items.append(
            Text(frame.width - frame.right, 22, warning, size=11, anchor="end", fill=WARNING)
        )
    return items


def _axis(frame: _Frame) -> list[Shape | Group]:
    items: list[Shape | Group] = []
    for tick in range(round(frame.y_max / frame.step) + 1):
        value = tick * frame.step
        y = frame.y_of(value)
        items.append(Line(frame.left, y, frame.width - frame.right, y, GRID if tick else MUTED))
        items.append(
            Text(frame.left - 6, y + 4, f"{100 * value:.0f}", size=10, anchor="end", fill=MUTED)
        )
    middle = frame.top + frame.plot_height / 2
    items.append(Text(14, middle, "AP (%)", size=11, anchor="middle", rotate=-90, fill=MUTED))
    return items


def _class_group(row: ClassRow, index: int, comparison: Comparison, frame: _Frame) -> Group:
    """One class: its bar (or A and B bars), marks above them, its name under the axis."""
    x0 = frame.left + frame.slot * index + 3.5
    bars = [(row.baseline_ap, BASELINE_FILL, "baseline")] if frame.paired else []
    bars.append((row.ap, MODEL_FILL, "model"))
    shapes: list[Shape] = []
    for offset, (ap, fill, css) in enumerate(bars):
        y = frame.y_of(ap or 0.0)
        data = (("data-ap", "" if ap is None else f"{ap:.6f}"),)
        x = x0 + offset * frame.bar
        shapes.append(Rect(x, y, frame.bar, frame.base_y - y, fill, f"bar {css}", data))
    centre = x0 + len(bars) * frame.bar / 2
    mark_y = min(frame.y_of(ap or 0.0) for ap, _, _ in bars) - 3
    if row.absolute_mark:
        shapes.append(Polygon(_triangle(centre, mark_y), ABSOLUTE_FILL, css="mark-absolute"))
        mark_y -= 11
    if row.relative_mark:
        shapes.append(Polygon(_diamond(centre, mark_y), RELATIVE_FILL, css="mark-relative"))
    shapes.append(
        Text(
            centre + 3,
            frame.base_y + 12,
            _short(row.name),
            size=10,
            anchor="end",
            rotate=LABEL_ANGLE,
            bold=row.absolute_mark,
            fill=RELATIVE_FILL if row.relative_mark else INK,
            css="class-name",
        )
    )
    kinds = (("absolute", row.absolute_mark), ("relative", row.relative_mark))
    marks = [kind for kind, on in kinds if on]
    return Group(
        tuple(shapes),
        css="pair" if frame.paired else "single",
        title=_hover(row, comparison),
        attrs=(
            ("data-action-id", str(row.action_id)),
            ("data-gt-count", str(row.gt_count)),
            ("data-marks", " ".join(marks)),
        ),
    )


def figure_layout(comparison: Comparison) -> Layout:
    """Bars per class in figure order (pairs when there is a baseline), legend and marks."""
    rows = comparison.classes
    paired = comparison.baseline is not None
    highest = max([0.1] + [max(row.ap, row.baseline_ap or 0.0) for row in rows])
    step = 0.1 if highest <= 0.5 else 0.2
    frame = _Frame(
        paired=paired,
        width=0.0,
        y_max=min(1.0, math.ceil(highest / step - 1e-9) * step),
        step=step,
    )
    # Rotated names hang down and to the left of their slot: the left margin takes the part of
    # the longest reach that the slots before it do not.
    cos, sin = math.cos(math.radians(LABEL_ANGLE)), math.sin(math.radians(-LABEL_ANGLE))
    reaches = [
        text_width(_short(row.name), 10, bold=True) * cos - frame.slot * index
        for index, row in enumerate(rows)
    ]
    centre = 3.5 + (2 if paired else 1) * frame.bar / 2 + 3  # of a slot, to a name's anchor
    left = max([frame.left] + [reach - centre + 6 for reach in reaches])
    frame = replace(frame, left=left)
    width = max(frame.left + frame.slot * len(rows) + frame.right, 720.0)
    frame = replace(frame, width=width)
    lines = _legend(comparison, frame.width - frame.right - frame.left)[-1][3]
    lines += 1 if paired and _marks_wrap(frame) else 0
    frame = replace(frame, top=frame.top + LEGEND_LINE * lines)
    longest = max(
        (text_width(_short(row.name), 10, bold=True) for row in rows), default=text_width("x", 10)
    )
    bottom = 12 + longest * sin + 10
    items = _header(comparison, frame) + _axis(frame)
    items += [_class_group(row, index, comparison, frame) for index, row in enumerate(rows)]
    # Whole units, so the SVG's viewBox and the PNG (twice the size) cover the same area.
    height = math.ceil(frame.base_y + bottom)
    return Layout(width=math.ceil(frame.width), height=height, items=tuple(items))


# --- SVG -----------------------------------------------------------------------------------------


def _attrs(pairs: tuple[tuple[str, str], ...]) -> str:
    return "".join(f" {name}={quoteattr(value)}" for name, value in pairs)


def _css(name: str) -> str:
    return f' class="{name}"' if name else ""


def _svg_shape(shape: Shape) -> str:
    if isinstance(shape, Rect):
        return (
            f'<rect{_css(shape.css)} x="{shape.x:.2f}" y="{shape.y:.2f}" '
            f'width="{shape.width:.2f}" height="{shape.height:.2f}" fill="{shape.fill}"'
            f"{_attrs(shape.attrs)}/>"
        )
    if isinstance(shape, Polygon):
        points = " ".join(f"{x:.2f},{y:.2f}" for x, y in shape.points)
        return f'<polygon{_css(shape.css)} points="{points}" fill="{shape.fill}"/>'
    if isinstance(shape, Line):
        return (
            f'<line x1="{shape.x1:.2f}" y1="{shape.y1:.2f}" x2="{shape.x2:.2f}" '
            f'y2="{shape.y2:.2f}" stroke="{shape.stroke}" stroke-width="{shape.width:g}"/>'
        )
    rotate = (
        f' transform="rotate({shape.rotate:g} {shape.x:.2f} {shape.y:.2f})"' if shape.rotate else ""
    )
    weight = ' font-weight="bold"' if shape.bold else ""
    return (
        f'<text{_css(shape.css)} x="{shape.x:.2f}" y="{shape.y:.2f}" font-size="{shape.size:g}" '
        f'text-anchor="{shape.anchor}" fill="{shape.fill}"{weight}{rotate}>'
        f"{escape(shape.text)}</text>"
    )


def figure_svg(comparison: Comparison) -> str:
    """The figure as a standalone SVG document."""
    layout = figure_layout(comparison)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="ap-figure" width="{layout.width:.0f}" '
        f'height="{layout.height:.0f}" viewBox="0 0 {layout.width:.0f} {layout.height:.0f}" '
        f'font-family="{FONT}">',
        f'<rect width="{layout.width:.0f}" height="{layout.height:.0f}" fill="#ffffff"/>',
    ]
    for item in layout.items:
        if isinstance(item, Group):
            parts.append(
                f"<g{_css(item.css)}{_attrs(item.attrs)}><title>{escape(item.title)}</title>"
            )
            parts.extend(_svg_shape(shape) for shape in item.shapes)
            parts.append("</g>")
        else:
            parts.append(_svg_shape(item))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


# --- PNG -----------------------------------------------------------------------------------------


def figure_png(comparison: Comparison) -> bytes:
    """The figure drawn with Pillow from the same layout as the SVG, at twice its size."""
    from PIL import Image, ImageDraw, ImageFont

    layout = figure_layout(comparison)
    s = PNG_SCALE
    image = Image.new("RGB", (math.ceil(layout.width * s), math.ceil(layout.height * s)), "white")
    draw = ImageDraw.Draw(image)
    fonts: dict[float, ImageFont.FreeTypeFont | ImageFont.ImageFont] = {}

    def font(size: float) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
        if size not in fonts:
            fonts[size] = ImageFont.load_default(size * s)
        return fonts[size]

    shapes: list[Shape] = []
    for item in layout.items:
        shapes.extend(item.shapes if isinstance(item, Group) else (item,))
    for shape in shapes:
        if isinstance(shape, Rect):
            if shape.height > 0:
                draw.rectangle(
                    [
                        shape.x * s,
                        shape.y * s,
                        (shape.x + shape.width) * s - 1,
                        (shape.y + shape.height) * s - 1,
                    ],
                    fill=shape.fill,
                )
        elif isinstance(shape, Polygon):
            draw.polygon([(x * s, y * s) for x, y in shape.points], fill=shape.fill)
        elif isinstance(shape, Line):
            draw.line(
                [shape.x1 * s, shape.y1 * s, shape.x2 * s, shape.y2 * s],
                fill=shape.stroke,
                width=round(shape.width * s),
            )
        else:
            _png_text(image, draw, shape, font(shape.size))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _png_text(image: Image.Image, draw: ImageDraw.ImageDraw, text: Text, font: Any) -> None:
    """Text at its baseline anchor; a rotated one is drawn on a square canvas centred on the
    anchor, turned about its centre (Pillow turns counter-clockwise, SVG clockwise) and pasted
    with its centre on the anchor."""
    from PIL import Image, ImageDraw

    s = PNG_SCALE
    anchor = {"start": "ls", "middle": "ms", "end": "rs"}[text.anchor]
    stroke = 1 if text.bold else 0  # Pillow's default font has no bold face: thicken it

    def put(target: ImageDraw.ImageDraw, xy: tuple[float, float]) -> None:
        target.text(
            xy,
            text.text,
            font=font,
            fill=text.fill,
            anchor=anchor,
            stroke_width=stroke,
            stroke_fill=text.fill,
        )

    if not text.rotate:
        put(draw, (text.x * s, text.y * s))
        return
    reach = math.ceil(draw.textlength(text.text, font=font) + text.size * s * 2)
    canvas = Image.new("RGBA", (2 * reach, 2 * reach), (255, 255, 255, 0))
    put(ImageDraw.Draw(canvas), (reach, reach))
    canvas = canvas.rotate(-text.rotate, resample=Image.Resampling.BICUBIC)
    image.paste(canvas, (round(text.x * s) - reach, round(text.y * s) - reach), canvas)


# --- command line --------------------------------------------------------------------------------


def _read_result(path: str) -> dict[str, Any]:
    """The JSON object of `python -m inference evaluate --json`: the file's last non-empty line
    (so its whole stdout may be saved), or the whole file."""
    text = Path(path).read_text()
    lines = [line for line in text.splitlines() if line.strip()]
    for candidate in (lines[-1] if lines else "", text):
        try:
            value = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict) and isinstance(value.get("per_class"), dict):
            return value
    raise ValueError(f"{path}: not the JSON of `python -m inference evaluate --json`")


def _summary_of(result: Mapping[str, Any], report_id: int, name: str) -> ReportSummary:
    return ReportSummary(
        id=report_id,
        model_version=report_id,
        model_name=name,
        mean_ap=result.get("mAP"),
        per_type=dict(result.get("per_type") or {}),
        box_source="detections",
        snapshot_hash="",
        keyframes=None,
        created_at="",
    )


def _per_class(result: Mapping[str, Any]) -> dict[int, dict[str, Any]]:
    counts = result.get("gt_count") or {}
    return {
        int(key): {"ap": ap, "gt_count": int(counts.get(key, 0))}
        for key, ap in result["per_class"].items()
    }


def comparison_from_results(
    result: Mapping[str, Any],
    baseline: Mapping[str, Any] | None,
    actions: Mapping[int, tuple[str, str]],
    names: tuple[str, str] = ("B", "A"),
) -> Comparison:
    """A `Comparison` of `evaluate --json` results (model B, and baseline A if given)."""
    return Comparison(
        report=_summary_of(result, 1, names[0]),
        baseline=_summary_of(baseline, 2, names[1]) if baseline is not None else None,
        classes=compare_classes(
            _per_class(result), _per_class(baseline) if baseline is not None else None, actions
        ),
    )


def cli(argv: list[str]) -> int:
    """`python -m inference figure`: the Figure-3 chart of `evaluate --json` results."""
    from inference.ava import read_labelmap
    from inference.evaluation import DEFAULT_LABELMAP

    parser = argparse.ArgumentParser(
        prog="python -m inference figure",
        description="Per-class AP chart (SlowFast paper, Figure 3) as SVG and/or PNG.",
    )
    parser.add_argument("result", help="output of `python -m inference evaluate --json` (B)")
    parser.add_argument("--baseline", help="the same for the baseline model (A)")
    parser.add_argument("-l", "--labelmap", default=str(DEFAULT_LABELMAP), help="pbtxt label map")
    parser.add_argument("--name", default="B", help="legend name of the model")
    parser.add_argument("--baseline-name", default="A", help="legend name of the baseline")
    parser.add_argument("--svg", help="write the SVG here")
    parser.add_argument("--png", help="write the PNG here")
    args = parser.parse_args(argv)
    if not args.svg and not args.png:
        parser.error("give --svg and/or --png")
    try:
        labelmap = read_labelmap(args.labelmap)
        comparison = comparison_from_results(
            _read_result(args.result),
            _read_result(args.baseline) if args.baseline else None,
            {action.id: (action.name, action.type or "") for action in labelmap.actions},
            (args.name, args.baseline_name),
        )
        if args.svg:
            Path(args.svg).write_text(figure_svg(comparison))
        if args.png:
            Path(args.png).write_bytes(figure_png(comparison))
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{len(comparison.classes)} classes drawn", file=sys.stderr)
    return 0

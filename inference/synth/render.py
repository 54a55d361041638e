"""Drawing scenes into yuv420p frames with numpy, and encoding them to H.264 with PyAV.

Frames are drawn straight into I420 planes (full-resolution luma, half-resolution chroma), which
is what x264 takes, so no colour conversion runs per frame. Backgrounds are textures made once
per video and sliced at the camera's offset; people are capsules (thick segments) and discs
rasterised only inside their bounding boxes; sensor noise comes from a few precomputed fields
added at random offsets.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from inference.synth.scene import FAR_PARALLAX, MATERIALS, Person, PersonView, Scene

Colour = tuple[float, float, float]
BATCH = 8  # frames drawn together by write_video


def rgb_to_yuv(rgb: Colour) -> tuple[float, float, float]:
    """BT.601 limited-range Y, U, V of an RGB colour with channels in [0, 1]."""
    r, g, b = rgb
    return (
        16.0 + 65.481 * r + 128.553 * g + 24.966 * b,
        128.0 - 37.797 * r - 74.203 * g + 112.0 * b,
        128.0 + 112.0 * r - 93.786 * g - 18.214 * b,
    )


def _value_noise(rng: np.random.Generator, height: int, width: int, cell: float) -> np.ndarray:
    """Smooth noise in [-1, 1], periodic across the width (width/cell rounded to a grid)."""
    columns = max(int(round(width / cell)), 1)
    rows = int(math.ceil(height / cell)) + 1
    grid = rng.uniform(-1.0, 1.0, size=(rows + 1, columns)).astype(np.float32)
    ys = np.arange(height, dtype=np.float32) / cell
    xs = np.arange(width, dtype=np.float32) * (columns / width)
    y0, x0 = ys.astype(np.int64), xs.astype(np.int64)
    fy, fx = ys - y0, xs - x0
    fy, fx = (fy * fy * (3 - 2 * fy))[:, None], (fx * fx * (3 - 2 * fx))[None, :]
    x1 = (x0 + 1) % columns
    top = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x1] * fx
    bottom = grid[y0 + 1][:, x0] * (1 - fx) + grid[y0 + 1][:, x1] * fx
    return top * (1 - fy) + bottom * fy


class _Layer:
    """One background layer as Y, U, V planes (U, V at half resolution)."""

    def __init__(self, luma: np.ndarray, colour: Colour, chroma_noise: np.ndarray, low: int,
                 high: int) -> None:  # fmt: skip
        _, u, v = rgb_to_yuv(colour)
        self.y = np.clip(luma, low, high).astype(np.uint8)
        half = chroma_noise[::2, ::2]
        self.u = np.clip(u + 6.0 * half, 16, 240).astype(np.uint8)
        self.v = np.clip(v - 4.0 * half, 16, 240).astype(np.uint8)


def _pattern(name: str, side: int, period: int) -> np.ndarray:
    """(side, side) uint8 map of where a clothing pattern shows its second colour."""
    y = np.arange(side)[:, None]
    x = np.arange(side)[None, :]
    if name == "hstripes":
        second = (y // period) % 2 == 1
    elif name == "vstripes":
        second = (x // period) % 2 == 1
    elif name == "checks":
        second = ((y // period) + (x // period)) % 2 == 1
    elif name == "dots":
        second = ((y % (2 * period)) < period // 2 + 1) & ((x % (2 * period)) < period // 2 + 1)
    else:
        second = np.zeros((side, side), dtype=bool)
    return np.broadcast_to(second, (side, side)).astype(np.uint8)


@dataclass(frozen=True)
class _Look:
    """A person's colours: Y, U, V tables indexed by 4 * (material code + 1) + pattern bits."""

    side: int  # texture size; the feet sit at its centre
    pattern: np.ndarray
    wrinkles: np.ndarray
    y: np.ndarray
    u: np.ndarray
    v: np.ndarray


class Renderer:
    """Draws the frames of one scene; `frame(i)` is deterministic and independent of call order."""

    def __init__(self, scene: Scene) -> None:
        self.scene = scene
        width, height = scene.width, scene.height
        if width % 2 or height % 2:
            raise ValueError(f"frame size {width}x{height} must have even width and height")
        rng = np.random.default_rng([scene.background.seed, 0])
        # Noise is added with uint8 wrap-around (one pass), so every luma value drawn stays this
        # far inside the legal range.
        self._margin = int(math.ceil(3.0 * scene.noise))
        self._low, self._high = 16 + self._margin, 235 - self._margin
        self._xs = np.arange(width, dtype=np.float32) + 0.5
        self._ys = np.arange(height, dtype=np.float32) + 0.5
        self._far = self._far_layer(rng)
        self._ground = self._ground_layer(rng)
        self._occluder = self._occluder_texture(rng)
        self._looks = {person.person_id: self._look(person) for person in scene.people}
        self._noise: np.ndarray | None = None
        if scene.noise > 0:
            pad = 16
            fields = rng.normal(0.0, scene.noise, size=(4, height + pad, width + pad))
            fields = np.clip(np.round(fields), -self._margin, self._margin)
            self._noise = fields.astype(np.int8).view(np.uint8)
            self._noise_at = rng.integers(0, [4, pad, pad], size=(scene.frames, 3))

    # --- textures ----------------------------------------------------------------------------

    def _far_layer(self, rng: np.random.Generator) -> _Layer:
        scene, background = self.scene, self.scene.background
        rows, period = scene.horizon, scene.width
        base = rgb_to_yuv(background.far_colour)[0]
        luma: np.ndarray
        if background.far == "plain":
            luma = np.full((rows, period), base, dtype=np.float32)
        elif background.far == "sky":
            gradient = np.linspace(-25.0, 15.0, rows, dtype=np.float32)[:, None]
            clouds = _value_noise(rng, rows, period, 48) + 0.5 * _value_noise(rng, rows, period, 16)
            luma = base + 20.0 + gradient + 45.0 * np.maximum(clouds, 0.0)
        elif background.far == "wall":
            brick_w = period / int(rng.integers(8, 16))
            brick_h = max(int(brick_w * rng.uniform(0.35, 0.5)), 4)
            y = np.arange(rows)[:, None]
            x = np.arange(period)[None, :] + (y // brick_h % 2) * (brick_w / 2)
            brick = (y // brick_h) * 1000 + (x // brick_w).astype(np.int64)
            shades = rng.uniform(-15.0, 15.0, size=int(brick.max()) + 1).astype(np.float32)
            mortar = (y % brick_h < 2) | (x % brick_w < 2)
            luma = base + shades[brick] + 6.0 * _value_noise(rng, rows, period, 3)
            luma = np.where(mortar, base + 40.0, luma)
        else:  # city: buildings with rows of windows against a sky
            luma = np.full((rows, period), base + 30.0, dtype=np.float32)
            left = 0
            while left < period - 8:
                w = int(rng.integers(30, 90))
                top = int(rng.uniform(0.0, 0.7) * rows)
                shade = float(rng.uniform(-60.0, 10.0))
                luma[top:, left : left + w] = base + shade
                rows_of_windows = (np.arange(rows - top) % 10 >= 4) & (
                    np.arange(rows - top) % 10 < 7
                )
                columns_of_windows = np.arange(min(w, period - left)) % 8 < 5
                columns_of_windows[:4] = columns_of_windows[-4:] = False
                window = rows_of_windows[:, None] & columns_of_windows[None, :]
                luma[top:, left : left + w][window] = base + shade + 35.0
                left += w + int(rng.integers(0, 12))
        chroma = _value_noise(rng, rows, period, 40) * (background.far != "plain")
        tiled = np.concatenate([luma, luma], axis=1)  # periodic, so the layer can drift forever
        return _Layer(tiled, background.far_colour, np.concatenate([chroma, chroma], axis=1),
                      self._low, self._high)  # fmt: skip

    def _ground_layer(self, rng: np.random.Generator) -> _Layer:
        scene, background = self.scene, self.scene.background
        rows = scene.height - scene.horizon
        width = scene.width + 2 * int(math.ceil(scene.pan_amplitude)) + 2
        base = rgb_to_yuv(background.ground_colour)[0]
        luma: np.ndarray
        if background.ground == "plain":
            luma = np.full((rows, width), base, dtype=np.float32)
        elif background.ground == "grass":
            luma = (
                base
                + 18.0 * _value_noise(rng, rows, width, 2.5)
                + 12.0 * _value_noise(rng, rows, width, 30)
            )
        elif background.ground == "tiles":
            # Rows of tiles widen towards the camera, a cheap perspective.
            depth = np.linspace(0.0, 1.0, rows, dtype=np.float32)
            row = np.floor(np.sqrt(depth) * 14).astype(np.int64)[:, None]
            tile_w = float(rng.uniform(30, 60))
            column = (np.arange(width)[None, :] // tile_w).astype(np.int64)
            luma = base + np.where((row + column) % 2 == 0, 12.0, -12.0)
            luma = luma + 5.0 * _value_noise(rng, rows, width, 4)
        else:  # asphalt with a painted line
            luma = base - 20.0 + 10.0 * _value_noise(rng, rows, width, 1.5)
            line = int(rows * rng.uniform(0.3, 0.8))
            luma[line : line + max(rows // 40, 2), ::3] += 60.0
        chroma = _value_noise(rng, rows, width, 50) * (background.ground != "plain")
        return _Layer(luma, background.ground_colour, chroma, self._low, self._high)

    def _occluder_texture(self, rng: np.random.Generator) -> _Layer | None:
        occluder = self.scene.occluder
        if occluder is None:
            return None
        height, width = int(math.ceil(occluder.height)) + 2, int(math.ceil(occluder.width)) + 2
        base = rgb_to_yuv(occluder.colour)[0]
        if occluder.kind == "pole":
            across = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :]
            luma = (
                base + 30.0 * (1.0 - across**2) - 15.0 + 8.0 * _value_noise(rng, height, width, 6)
            )
        else:
            luma = base + 30.0 * _value_noise(rng, height, width, 5)
        return _Layer(luma, occluder.colour, _value_noise(rng, height, width, 8), self._low,
                      self._high)  # fmt: skip

    def _look(self, person: Person) -> _Look:
        """Colour tables and clothing textures of one person."""
        looks = person.appearance
        rng = np.random.default_rng(looks.seed)
        largest = self.scene.person_height(person.size, 1.0)
        side = 4 * int(math.ceil(0.65 * largest)) + 8  # a lying or jumping body stays inside
        pattern = np.zeros((side, side), dtype=np.uint8)
        for bit, name in ((1, looks.shirt_pattern), (2, looks.pants_pattern)):
            period = max(3, int(round(0.05 * largest * rng.uniform(0.6, 1.4))))
            pattern += bit * _pattern(name, side, period)
        wrinkles = np.round(6.0 + 6.0 * _value_noise(rng, side, side, 7)).astype(np.uint8)
        # Entry 4 * (material code + 1) + pattern bits: shirt takes bit 1, pants bit 2.
        tables = np.zeros((3, 4 * (2 * len(MATERIALS) + 1)), dtype=np.uint8)
        flat = {"skin": looks.skin, "hair": looks.hair, "shoes": looks.shoes, "prop": looks.prop}
        for index, name in enumerate(MATERIALS):
            for far in (0, 1):
                for bits in range(4):
                    if name == "shirt":
                        colour = looks.shirt[bits & 1]
                    elif name == "pants":
                        colour = looks.pants[bits >> 1]
                    else:
                        colour = flat[name]
                    yuv = rgb_to_yuv(colour)
                    # Wrinkles add up to 12 to the luma; far limbs are darker.
                    luma = min(max(yuv[0] - 6.0 - 18.0 * far, self._low), self._high - 12)
                    entry = 4 * (2 * index + far + 1) + bits
                    tables[:, entry] = (round(luma), round(yuv[1]), round(yuv[2]))
        return _Look(side, pattern, wrinkles, tables[0], tables[1], tables[2])

    # --- drawing -----------------------------------------------------------------------------

    def frame(self, index: int, mask: np.ndarray | None = None) -> np.ndarray:
        """Frame `index` as a (height * 3 / 2, width) uint8 yuv420p buffer.

        With `mask` (a (height, width) uint8 array), also write there which person each pixel
        shows: 0 for none, person_id + 1 otherwise.
        """
        return self.frames(index, 1, None if mask is None else [mask])[0]

    def frames(
        self, start: int, count: int, masks: list[np.ndarray] | None = None
    ) -> list[np.ndarray]:
        """Frames `start` .. `start + count - 1`, as `frame` draws them (pixel for pixel).

        Drawing a few frames together is faster: each body part's shape is computed for all of
        them with one set of array operations.
        """
        scene = self.scene
        width, height = scene.width, scene.height
        indices = range(start, start + count)
        buffers = [self._background(index) for index in indices]
        views = [scene.people_at(scene.frame_time(index)) for index in indices]
        labels = {}  # person id -> (region, (count, h, w) material codes + 1)
        for person in scene.people:
            track = [next(v for v in frame if v.person_id == person.person_id) for frame in views]
            labels[person.person_id] = self._label_maps(track)
        for k, index in enumerate(indices):
            buffer = buffers[k]
            y = buffer[:height]
            u = buffer[height : height + height // 4].reshape(height // 2, width // 2)
            v = buffer[height + height // 4 :].reshape(height // 2, width // 2)
            mask = masks[k] if masks is not None else None
            if mask is not None:
                mask[:] = 0
            for view in views[k]:
                if view.seat is not None:
                    self._seat(y, u, v, mask, view.seat)
                region, maps = labels[view.person_id]
                self._person(y, u, v, mask, view, region, maps[k])
            rect = scene.occluder_rect(scene.frame_time(index))
            if rect is not None and self._occluder is not None:
                self._occlude(y, u, v, mask, rect)
            if self._noise is not None:
                n, dy, dx = (int(i) for i in self._noise_at[index])
                np.add(y, self._noise[n, dy : dy + height, dx : dx + width], out=y)
        return buffers

    def _background(self, index: int) -> np.ndarray:
        """A new yuv420p buffer holding the background layers of frame `index`."""
        scene = self.scene
        width, height = scene.width, scene.height
        buffer = np.empty((height * 3 // 2, width), dtype=np.uint8)
        y = buffer[:height]
        u = buffer[height : height + height // 4].reshape(height // 2, width // 2)
        v = buffer[height + height // 4 :].reshape(height // 2, width // 2)
        t = scene.frame_time(index)
        pan = scene.pan(t)
        horizon = scene.horizon
        far = int(round(FAR_PARALLAX * pan + scene.background.drift * t)) % width
        y[:horizon] = self._far.y[:, far : far + width]
        u[: horizon // 2] = self._far.u[:, far // 2 : far // 2 + width // 2]
        v[: horizon // 2] = self._far.v[:, far // 2 : far // 2 + width // 2]
        near = int(round(pan + math.ceil(scene.pan_amplitude)))
        y[horizon:] = self._ground.y[:, near : near + width]
        u[horizon // 2 :] = self._ground.u[:, near // 2 : near // 2 + width // 2]
        v[horizon // 2 :] = self._ground.v[:, near // 2 : near // 2 + width // 2]
        return buffer

    def _region(self, x1: float, y1: float, x2: float, y2: float) -> tuple[int, int, int, int]:
        """Pixel range covering [x1, x2] x [y1, y2], with even starts and ends (chroma)."""
        width, height = self.scene.width, self.scene.height
        left = max(int(math.floor(x1)) & ~1, 0)
        top = max(int(math.floor(y1)) & ~1, 0)
        right = min((int(math.ceil(x2)) + 2) & ~1, width)
        bottom = min((int(math.ceil(y2)) + 2) & ~1, height)
        return left, top, right, bottom

    def _label_maps(self, track: list[PersonView]) -> tuple[tuple[int, int, int, int], np.ndarray]:
        """One person over consecutive frames: the region covering all of them, and per frame
        a label map of it holding the material code + 1 of the part on top (0: none)."""
        boxes = np.array([view.box for view in track])  # (F, 4)
        region = self._region(*boxes[:, :2].min(axis=0), *boxes[:, 2:].max(axis=0))
        left, top, right, bottom = region
        maps = np.zeros((len(track), max(bottom - top, 0), max(right - left, 0)), np.uint8)
        if right <= left or bottom <= top:
            return region, maps
        parts = np.stack([view.parts for view in track])  # (F, PARTS, 5) float32
        drawn = np.zeros(parts.shape[:2], dtype=bool)  # (F, PARTS)
        for k, view in enumerate(track):
            drawn[k, view.order] = True
        low = np.minimum(parts[..., 0:2], parts[..., 2:4]) - parts[..., 4:5]  # (F, PARTS, 2)
        high = np.maximum(parts[..., 0:2], parts[..., 2:4]) + parts[..., 4:5]
        # per part: its pixel range in the region and (F, h, w) whether each pixel is inside
        shapes: list[tuple[tuple[int, int, int, int], np.ndarray] | None] = []
        for part in range(parts.shape[1]):
            frames = drawn[:, part]
            if not frames.any():
                shapes.append(None)
                continue
            x1, y1 = low[frames, part].min(axis=0).tolist()
            x2, y2 = high[frames, part].max(axis=0).tolist()
            x0, y0 = max(int(math.floor(x1)), left), max(int(math.floor(y1)), top)
            x3, y3 = min(int(math.ceil(x2)) + 1, right), min(int(math.ceil(y2)) + 1, bottom)
            if x3 <= x0 or y3 <= y0:
                shapes.append(None)
                continue
            ax, ay, bx, by, r = (parts[:, part, i, None, None] for i in range(5))  # (F, 1, 1)
            xs, ys = self._xs[x0:x3], self._ys[y0:y3, None]  # (w,), (h, 1)
            if part == parts.shape[1] - 1:  # the prop, a rectangle
                inside = (xs >= ax) & (xs <= bx) & (ys >= ay) & (ys <= by)
            else:  # distance to the segment, at most the radius
                px, py = xs - ax, ys - ay  # (F, 1, w), (F, h, 1)
                dx, dy = bx - ax, by - ay
                length2 = np.maximum(dx * dx + dy * dy, np.float32(1e-6))
                along = px * (dx / length2) + py * (dy / length2)  # (F, h, w)
                np.minimum(np.maximum(along, 0.0, out=along), 1.0, out=along)
                ex = px - along * dx
                ey = py - along * dy
                ex *= ex
                ey *= ey
                ex += ey
                inside = ex <= r * r
            shapes.append(((y0 - top, y3 - top, x0 - left, x3 - left), inside))
        for k, view in enumerate(track):
            for part in view.order.tolist():
                shape = shapes[part]
                if shape is not None:
                    (r0, r1, c0, c1), inside = shape
                    code = int(view.materials[part]) + 1
                    np.copyto(maps[k, r0:r1, c0:c1], code, where=inside[k])
        return region, maps

    def _person(
        self,
        y: np.ndarray,
        u: np.ndarray,
        v: np.ndarray,
        mask: np.ndarray | None,
        view: PersonView,
        region: tuple[int, int, int, int],
        labels: np.ndarray,
    ) -> None:
        """Colour one person from its label map (over `region`) within its box this frame."""
        left, top, right, bottom = self._region(*view.box)
        if right <= left or bottom <= top:
            return
        labels = labels[top - region[1] : bottom - region[1], left - region[0] : right - region[0]]
        look = self._looks[view.person_id]
        h, w = labels.shape
        index = labels * np.uint8(4)
        ox = 2 * int(round(view.origin[0] / 2))
        oy = 2 * int(round(view.origin[1] / 2))
        tx, ty = left - ox + look.side // 2, top - oy + look.side // 2
        textured = min(tx, ty) >= 0 and max(tx + w, ty + h) <= look.side
        if textured:  # always, unless a body leaves its texture; then it is drawn flat
            index += look.pattern[ty : ty + h, tx : tx + w]
        luma = look.y[index]
        if textured:
            luma += look.wrinkles[ty : ty + h, tx : tx + w]
        drawn = labels > 0
        np.copyto(y[top:bottom, left:right], luma, where=drawn)
        half_index, half_drawn = index[::2, ::2], drawn[::2, ::2]
        half = (slice(top // 2, bottom // 2), slice(left // 2, right // 2))
        np.copyto(u[half], look.u[half_index], where=half_drawn)
        np.copyto(v[half], look.v[half_index], where=half_drawn)
        if mask is not None:
            np.copyto(mask[top:bottom, left:right], view.person_id + 1, where=drawn)

    def _seat(
        self,
        y: np.ndarray,
        u: np.ndarray,
        v: np.ndarray,
        mask: np.ndarray | None,
        rect: tuple[float, float, float, float],
    ) -> None:
        """A dark grey stool under a sitting person (scenery: not part of the person)."""
        left, top, right, bottom = self._region(*rect)
        y[top:bottom, left:right] = self._low + 20
        u[top // 2 : bottom // 2, left // 2 : right // 2] = 128
        v[top // 2 : bottom // 2, left // 2 : right // 2] = 128
        if mask is not None:
            mask[top:bottom, left:right] = 0

    def _occlude(
        self,
        y: np.ndarray,
        u: np.ndarray,
        v: np.ndarray,
        mask: np.ndarray | None,
        rect: tuple[float, float, float, float],
    ) -> None:
        assert self._occluder is not None
        left, top, right, bottom = self._region(*rect)
        if right <= left or bottom <= top:
            return
        # The texture is anchored to the occluder's left edge, bottom of the frame.
        tx = max(left - int(math.floor(rect[0])), 0) & ~1
        texture = self._occluder
        th = texture.y.shape[0]
        h, w = bottom - top, min(right - left, texture.y.shape[1] - tx)
        if w <= 0:
            return
        y[top:bottom, left : left + w] = texture.y[th - h :, tx : tx + w]
        u[top // 2 : bottom // 2, left // 2 : (left + w) // 2] = texture.u[
            (th - h) // 2 : (th - h) // 2 + h // 2, tx // 2 : tx // 2 + w // 2
        ]
        v[top // 2 : bottom // 2, left // 2 : (left + w) // 2] = texture.v[
            (th - h) // 2 : (th - h) // 2 + h // 2, tx // 2 : tx // 2 + w // 2
        ]
        if mask is not None:
            mask[top:bottom, left : left + w] = 0


def write_video(
    scene: Scene,
    path: str | Path,
    *,
    preset: str = "ultrafast",
    crf: int = 23,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Render `scene` and encode it as H.264 (yuv420p) in an MP4 file at `path`."""
    renderer = Renderer(scene)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=scene.fps)
        stream.width, stream.height, stream.pix_fmt = scene.width, scene.height, "yuv420p"
        # A fixed thread count keeps the encoded bytes the same on machines with more cores.
        stream.options = {"preset": preset, "crf": str(crf), "threads": "2"}
        stream.codec_context.gop_size = max(int(round(2 * scene.fps)), 1)
        time_base = 1 / scene.fps
        for start in range(0, scene.frames, BATCH):
            count = min(BATCH, scene.frames - start)
            for index, buffer in enumerate(renderer.frames(start, count), start=start):
                frame = av.VideoFrame.from_ndarray(buffer, format="yuv420p")
                frame.pts, frame.time_base = index, time_base
                container.mux(stream.encode(frame))
            if progress is not None:
                progress(start + count, scene.frames)
        container.mux(stream.encode(None))

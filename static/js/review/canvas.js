// The keyframe and its boxes as SVG: drawing is a function of the state; pointer input turns into
// named actions (draw, move, resize, select), the wheel zooms about the pointer and dragging the
// background pans. Coordinates in the state are normalised to [0, 1].
import { MACHINE, ruleProblems, visibleBoxes } from "./state.js";

const SVG = "http://www.w3.org/2000/svg";
const MIN_SIDE = 0.01;

function el(name, attributes = {}) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  return node;
}

export function boxKind(box) {
  if (box.state === "edited") return "edited";
  if (MACHINE.has(box.source)) return box.state === "suggested" ? "suggested" : "accepted";
  return "human";
}

const clamp = (value) => Math.min(1, Math.max(0, value));

export function createCanvas({ svg, store, size, imageUrl, ctx, personIdFor, tracks = { previous: [], next: [] } }) {
  const [width, height] = size;
  // Text and handles in image units, so they keep their size on screen whatever the video's.
  const font = width / 45;
  const handle = width / 90;
  let view = { x: 0, y: 0, w: width, h: height };
  let preview = null; // {key, coords} while a drag is under way, or {draw: coords}
  const image = el("image", { href: imageUrl, x: 0, y: 0, width, height, preserveAspectRatio: "none" });
  const layer = el("g", { class: "boxes" });
  svg.append(image, layer);
  svg.setAttribute("aria-label", "keyframe with person boxes");

  const setView = () => svg.setAttribute("viewBox", `${view.x} ${view.y} ${view.w} ${view.h}`);
  setView();

  function toNorm(event) {
    const point = new DOMPoint(event.clientX, event.clientY).matrixTransform(svg.getScreenCTM().inverse());
    return { x: clamp(point.x / width), y: clamp(point.y / height) };
  }

  // The selected person's boxes on the previous and next keyframes: faint outlines, so the
  // reviewer sees where they come from and go.
  function trackNodes(state) {
    const box = state.doc.boxes.find((item) => item.key === state.ui.selected);
    if (!box || box.person_id === null || box.person_id === undefined) return [];
    const nodes = [];
    for (const side of ["previous", "next"]) {
      for (const other of tracks[side] || []) {
        if (other.person_id !== box.person_id) continue;
        nodes.push(el("rect", {
          class: `track track-${side}`,
          "data-person-id": other.person_id,
          x: other.x1 * width,
          y: other.y1 * height,
          width: (other.x2 - other.x1) * width,
          height: (other.y2 - other.y1) * height,
        }));
      }
    }
    return nodes;
  }

  function draw(state) {
    const nodes = trackNodes(state);
    for (const box of visibleBoxes(state)) {
      const coords = preview && preview.key === box.key ? preview.coords : box;
      const kind = boxKind(box);
      const problems = ruleProblems(box, ctx.rules, ctx.actionTypes);
      const selected = state.ui.selected === box.key;
      const group = el("g", {
        class: `box box-${kind}${selected ? " selected" : ""}${problems.length ? " broken" : ""}`,
        "data-key": box.key,
        "data-box-id": box.id ?? "",
        "data-person-id": box.person_id ?? "",
        "data-state": box.state,
      });
      const x = coords.x1 * width;
      const y = coords.y1 * height;
      const w = (coords.x2 - coords.x1) * width;
      const h = (coords.y2 - coords.y1) * height;
      group.append(el("rect", { class: "outline", x, y, width: w, height: h }));
      const tag = el("text", { class: "person", x: x + font / 4, y: y + font, "font-size": font });
      tag.textContent = box.person_id === null ? "?" : `P${box.person_id}`;
      group.append(tag);
      if (problems.length) {
        const warn = el("text", { class: "rule", x: x + font / 4, y: y + h - font / 3, "font-size": font * 0.8 });
        warn.textContent = `! ${problems.map((problem) => problem.text).join("; ")}`;
        group.append(warn);
      }
      if (selected) {
        for (const [hx, hy, corner] of [[x, y, "nw"], [x + w, y, "ne"], [x, y + h, "sw"], [x + w, y + h, "se"]]) {
          group.append(el("rect", { class: "handle", "data-corner": corner, x: hx - handle, y: hy - handle, width: 2 * handle, height: 2 * handle }));
        }
      }
      nodes.push(group);
    }
    if (preview?.draw) {
      const c = preview.draw;
      nodes.push(el("rect", { class: "drawing", x: c.x1 * width, y: c.y1 * height, width: (c.x2 - c.x1) * width, height: (c.y2 - c.y1) * height }));
    }
    layer.replaceChildren(...nodes);
    svg.classList.toggle("mode-draw", state.ui.mode === "draw");
  }

  let drag = null;
  svg.addEventListener("pointerdown", (event) => {
    if (event.button !== 0) return;
    const point = toNorm(event);
    const state = store.state;
    svg.setPointerCapture(event.pointerId);
    if (state.ui.mode === "draw") {
      drag = { type: "draw", start: point };
      return;
    }
    const target = event.target.closest("g.box");
    if (target) {
      const key = target.dataset.key;
      const box = state.doc.boxes.find((item) => item.key === key);
      if (state.ui.selected !== key) store.page("select", { key });
      const corner = event.target.dataset.corner;
      drag = { type: corner ? "resize" : "move", corner, key, start: point, origin: { x1: box.x1, y1: box.y1, x2: box.x2, y2: box.y2 } };
      return;
    }
    drag = { type: "pan", start: { x: event.clientX, y: event.clientY }, view: { ...view }, moved: false };
  });

  svg.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const point = toNorm(event);
    if (drag.type === "pan") {
      const scale = view.w / svg.clientWidth;
      const dx = (event.clientX - drag.start.x) * scale;
      const dy = (event.clientY - drag.start.y) * scale;
      drag.moved = drag.moved || Math.abs(dx) + Math.abs(dy) > 2;
      view = { ...view, x: drag.view.x - dx, y: drag.view.y - dy };
      setView();
      return;
    }
    if (drag.type === "draw") {
      preview = { draw: normalise(drag.start, point) };
    } else if (drag.type === "move") {
      const o = drag.origin;
      const dx = Math.min(1 - o.x2, Math.max(-o.x1, point.x - drag.start.x));
      const dy = Math.min(1 - o.y2, Math.max(-o.y1, point.y - drag.start.y));
      preview = { key: drag.key, coords: { x1: o.x1 + dx, y1: o.y1 + dy, x2: o.x2 + dx, y2: o.y2 + dy } };
    } else {
      const o = drag.origin;
      const anchor = { x: drag.corner.includes("w") ? o.x2 : o.x1, y: drag.corner.includes("n") ? o.y2 : o.y1 };
      preview = { key: drag.key, coords: normalise(anchor, point) };
    }
    draw(store.state);
  });

  svg.addEventListener("pointerup", () => {
    if (!drag) return;
    const finished = drag;
    const result = preview;
    drag = null;
    preview = null;
    if (finished.type === "pan") {
      if (!finished.moved) store.page("select", { key: null });
      return;
    }
    if (finished.type === "draw") {
      store.page("setMode", { mode: "select" });
      const coords = result?.draw;
      if (coords && coords.x2 - coords.x1 >= MIN_SIDE && coords.y2 - coords.y1 >= MIN_SIDE) {
        store.edit("addBox", { coords, person_id: personIdFor(coords) });
      } else draw(store.state);
      return;
    }
    const coords = result?.coords;
    const o = finished.origin;
    if (coords && (coords.x1 !== o.x1 || coords.y1 !== o.y1 || coords.x2 !== o.x2 || coords.y2 !== o.y2)) {
      store.edit("setBoxCoords", { key: finished.key, coords });
    } else draw(store.state);
  });

  svg.addEventListener("wheel", (event) => {
    event.preventDefault();
    const point = new DOMPoint(event.clientX, event.clientY).matrixTransform(svg.getScreenCTM().inverse());
    zoom(event.deltaY < 0 ? 1 / 1.2 : 1.2, point);
  }, { passive: false });

  function zoom(factor, about = { x: view.x + view.w / 2, y: view.y + view.h / 2 }) {
    const w = Math.min(width, Math.max(width / 16, view.w * factor));
    const h = (w * height) / width;
    view = { x: about.x - ((about.x - view.x) * w) / view.w, y: about.y - ((about.y - view.y) * h) / view.h, w, h };
    if (w === width) view = { x: 0, y: 0, w: width, h: height };
    setView();
  }

  return {
    draw,
    zoomIn: () => zoom(1 / 1.25),
    zoomOut: () => zoom(1.25),
    zoomReset: () => zoom(Infinity),
  };
}

function normalise(a, b) {
  return { x1: Math.min(a.x, b.x), y1: Math.min(a.y, b.y), x2: Math.max(a.x, b.x), y2: Math.max(a.y, b.y) };
}

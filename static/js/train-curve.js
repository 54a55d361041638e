// The loss curve and learning rate of a training job, drawn as SVG from the job's REST resource
// (job-progress.js polls it and sends each reading as a "job" event).
const section = document.getElementById("job");
const figure = document.getElementById("train-curve");
const svg = document.getElementById("train-curve-svg");
const SVG_NS = "http://www.w3.org/2000/svg";
const WIDTH = 640;
const HEIGHT = 260;
const PAD = { left: 56, right: 64, top: 12, bottom: 32 };

function element(name, attributes, text) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function scale(values, low, high) {
  const min = Math.min(...values);
  const max = Math.max(...values);
  const span = max - min || Math.abs(max) || 1;
  return (value) => high - ((value - min) / span) * (high - low);
}

export function curvePaths(curve) {
  // Path data of the loss and the learning rate over the steps (exported for tests and reuse).
  const steps = curve.map((point) => point.step);
  const first = Math.min(...steps);
  const last = Math.max(...steps);
  const x = (step) => PAD.left + ((step - first) / (last - first || 1)) * (WIDTH - PAD.left - PAD.right);
  const yLoss = scale(curve.map((point) => point.loss), PAD.top, HEIGHT - PAD.bottom);
  const yLr = scale(curve.map((point) => point.lr), PAD.top, HEIGHT - PAD.bottom);
  const path = (y, key) =>
    curve.map((point, i) => `${i ? "L" : "M"}${x(point.step).toFixed(1)},${y(point[key]).toFixed(1)}`).join("");
  return { loss: path(yLoss, "loss"), lr: path(yLr, "lr"), first, last };
}

function draw(curve) {
  const { loss, lr, first, last } = curvePaths(curve);
  const losses = curve.map((point) => point.loss);
  const rates = curve.map((point) => point.lr);
  const bottom = HEIGHT - PAD.bottom;
  svg.replaceChildren(
    element("line", { x1: PAD.left, y1: bottom, x2: WIDTH - PAD.right, y2: bottom, class: "axis" }),
    element("line", { x1: PAD.left, y1: PAD.top, x2: PAD.left, y2: bottom, class: "axis" }),
    element("text", { x: PAD.left, y: HEIGHT - 8, class: "tick" }, `step ${first}`),
    element("text", { x: WIDTH - PAD.right, y: HEIGHT - 8, class: "tick", "text-anchor": "end" }, `step ${last}`),
    element("text", { x: 4, y: PAD.top + 10, class: "tick" }, Math.max(...losses).toPrecision(3)),
    element("text", { x: 4, y: bottom, class: "tick" }, Math.min(...losses).toPrecision(3)),
    element("text", { x: WIDTH - 4, y: PAD.top + 10, class: "tick", "text-anchor": "end" }, Math.max(...rates).toPrecision(2)),
    element("text", { x: WIDTH - 4, y: bottom, class: "tick", "text-anchor": "end" }, Math.min(...rates).toPrecision(2)),
    element("path", { d: loss, class: "loss", fill: "none", stroke: "currentColor", "stroke-width": 1.5 }),
    element("path", { d: lr, class: "lr", fill: "none", stroke: "currentColor", "stroke-dasharray": "4 3", "stroke-width": 1 }),
  );
  const point = curve[curve.length - 1];
  document.getElementById("train-curve-last").textContent =
    `step ${point.step}: loss ${point.loss.toFixed(4)}, lr ${point.lr.toPrecision(3)}`;
  figure.hidden = false;
}

section.addEventListener("job", (event) => {
  const job = event.detail;
  const curve = job.result.curve || [];
  if (curve.length) draw(curve);
  if (job.result.evaluation_job) {
    const link = document.querySelector("#job-evaluation a");
    link.href = link.dataset.base.replace(/0\/$/, `${job.result.evaluation_job}/`);
    link.parentElement.hidden = false;
  }
});

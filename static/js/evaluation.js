// Per-class AP dashboard. The server ranks and marks the classes (figure JSON) and draws the
// figure (SVG), so the page and the downloads agree; this module inlines the SVG, fills a
// sortable table from the JSON and keeps the pickers, the address and the download links in step.
const root = document.getElementById("evaluation");
const reportPicker = document.getElementById("report");
const baselinePicker = document.getElementById("baseline");
const figure = document.getElementById("figure");
const table = document.getElementById("classes");
const statusLine = document.getElementById("status");

const TYPES = {
  PERSON_MOVEMENT: "movement",
  OBJECT_MANIPULATION: "object",
  PERSON_INTERACTION: "interaction",
  OTHER: "other",
};

// key, header, how a cell shows its value, numeric?, only with a baseline?
const COLUMNS = [
  { key: "position", label: "#", show: (v) => String(v), numeric: true },
  { key: "name", label: "Class", show: (v) => v },
  { key: "action_type", label: "Type", show: (v) => TYPES[v] ?? v.toLowerCase() },
  { key: "gt_count", label: "GT", show: (v) => String(v), numeric: true },
  { key: "baseline_ap", label: "AP A", show: percent, numeric: true, paired: true },
  { key: "ap", label: "AP B", show: percent, numeric: true },
  { key: "gain", label: "Gain", show: signed, numeric: true, paired: true },
  { key: "relative_gain", label: "Rel. gain", show: relative, numeric: true, paired: true },
  { key: "marks", label: "Marks", show: (v) => v, paired: true },
];

let rows = [];
let sortKey = "position";
let ascending = true;

function percent(value) {
  return value === null ? "–" : (100 * value).toFixed(1);
}

function signed(value) {
  return value === null ? "–" : `${value >= 0 ? "+" : ""}${(100 * value).toFixed(1)}`;
}

function relative(value) {
  return value === null ? "–" : `${value >= 0 ? "+" : ""}${(100 * value).toFixed(0)} %`;
}

function reportUrl(suffix) {
  const baseline = baselinePicker.value;
  const query = baseline ? `?baseline=${encodeURIComponent(baseline)}` : "";
  return `${root.dataset.api}${encodeURIComponent(reportPicker.value)}/${suffix}${query}`;
}

async function fetchOk(url, accept) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: accept } });
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`;
    try {
      detail = (await response.json()).detail || detail;
    } catch {
      // not JSON: keep the status line
    }
    throw new Error(detail);
  }
  return response;
}

function columns(paired) {
  return COLUMNS.filter((column) => paired || !column.paired);
}

function renderHead(paired) {
  const head = table.tHead.rows[0];
  head.replaceChildren();
  for (const column of columns(paired)) {
    const th = document.createElement("th");
    th.textContent = column.key === "ap" && !paired ? "AP" : column.label;
    th.dataset.key = column.key;
    th.scope = "col";
    if (column.key === sortKey) th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    th.addEventListener("click", () => {
      ascending = column.key === sortKey ? !ascending : !column.numeric;
      sortKey = column.key;
      renderHead(paired);
      renderBody(paired);
    });
    head.append(th);
  }
}

function compare(a, b) {
  const left = a[sortKey];
  const right = b[sortKey];
  if (left === right) return a.position - b.position;
  if (left === null || left === "") return 1; // missing values last, either direction
  if (right === null || right === "") return -1;
  const order = typeof left === "number" ? left - right : String(left).localeCompare(String(right));
  return ascending ? order : -order;
}

function renderBody(paired) {
  const body = table.tBodies[0];
  body.replaceChildren();
  for (const row of [...rows].sort(compare)) {
    const tr = document.createElement("tr");
    tr.dataset.actionId = row.action_id;
    for (const column of columns(paired)) {
      const td = document.createElement("td");
      td.dataset.key = column.key;
      if (column.numeric) td.className = "number";
      if (column.key === "gain" && row.gain !== null) {
        td.classList.add(row.gain > 0 ? "gain-up" : row.gain < 0 ? "gain-down" : "gain-none");
      }
      if (column.key === "marks") {
        if (row.absolute_mark) td.append(mark("▲", "mark-absolute", "one of the largest absolute gains"));
        if (row.relative_mark) td.append(mark("◆", "mark-relative", "one of the largest relative gains"));
      } else {
        td.textContent = column.show(row[column.key]);
      }
      tr.append(td);
    }
    tr.addEventListener("mouseenter", () => highlight(row.action_id, true));
    tr.addEventListener("mouseleave", () => highlight(row.action_id, false));
    body.append(tr);
  }
}

function mark(symbol, className, title) {
  const span = document.createElement("span");
  span.className = className;
  span.textContent = symbol;
  span.title = title;
  return span;
}

function highlight(actionId, on) {
  const group = figure.querySelector(`g[data-action-id="${actionId}"]`);
  if (group) group.classList.toggle("highlight", on);
}

function setDownloads() {
  const name = `report-${reportPicker.value}${baselinePicker.value ? `-vs-${baselinePicker.value}` : ""}`;
  const links = { png: "figure.png", svg: "figure.svg", csv: "figure.csv", json: "figure/" };
  for (const [kind, suffix] of Object.entries(links)) {
    const link = document.getElementById(`download-${kind}`);
    link.href = reportUrl(suffix);
    link.download = `${name}.${kind}`;
  }
}

async function load() {
  const address = new URL(window.location.href);
  address.searchParams.set("report", reportPicker.value);
  address.searchParams.set("baseline", baselinePicker.value);
  window.history.replaceState(null, "", address);
  setDownloads();
  statusLine.textContent = "loading…";
  statusLine.className = "";
  try {
    const [comparison, svg] = await Promise.all([
      fetchOk(reportUrl("figure/"), "application/json").then((r) => r.json()),
      fetchOk(reportUrl("figure.svg"), "image/svg+xml").then((r) => r.text()),
    ]);
    // The SVG is the server's own drawing of this report (names escaped there).
    const parsed = new DOMParser().parseFromString(svg, "image/svg+xml").documentElement;
    figure.replaceChildren(document.importNode(parsed, true));
    const paired = comparison.baseline !== null;
    rows = comparison.classes.map((row, index) => ({
      ...row,
      position: index + 1,
      marks: `${row.absolute_mark ? "▲" : ""}${row.relative_mark ? "◆" : ""}`,
    }));
    renderHead(paired);
    renderBody(paired);
    root.dataset.loaded = `${reportPicker.value}:${baselinePicker.value}`;
    statusLine.textContent = comparison.same_snapshot
      ? ""
      : "The two reports scored different data (their snapshot hashes differ): compare with care.";
  } catch (error) {
    figure.replaceChildren();
    rows = [];
    renderBody(false);
    statusLine.textContent = `Could not load the report: ${error.message}`;
    statusLine.className = "error";
  }
}

reportPicker.addEventListener("change", () => {
  // A report of a two-version job comes with its own baseline.
  baselinePicker.value = reportPicker.selectedOptions[0].dataset.baseline || "";
  load();
});
baselinePicker.addEventListener("change", load);
load();

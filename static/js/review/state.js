// The review page's one state object, changed only by named actions. Actions that edit the
// annotation are recorded by the undo history: undo restores the state before one, redo replays
// it. Everything else (selection, threshold, mode) is page state that undo leaves alone.

export const MACHINE = new Set(["model", "detector"]);
const GT_STATES = new Set(["accepted", "edited"]);

let nextKey = 1;
const newKey = () => `k${nextKey++}`;

export function isGroundTruth(item) {
  return item.state !== "rejected" && (!MACHINE.has(item.source) || GT_STATES.has(item.state));
}

export const isPending = (label) => MACHINE.has(label.source) && label.state === "suggested";
export const visibleBoxes = (state) => state.doc.boxes.filter((box) => box.state !== "rejected");

export function fromServerBoxes(boxes) {
  return boxes.map((box) => ({
    key: newKey(),
    id: box.id,
    person_id: box.person_id,
    x1: box.x1,
    y1: box.y1,
    x2: box.x2,
    y2: box.y2,
    source: box.source,
    state: box.state,
    labels: box.labels.map((label) => ({
      action_id: label.action_id,
      source: label.source,
      state: label.state,
      score: label.score,
    })),
  }));
}

export function iou(a, b) {
  const w = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const h = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  const area = (box) => (box.x2 - box.x1) * (box.y2 - box.y1);
  return inter / (area(a) + area(b) - inter);
}

// The person id of the previous keyframe's box a new box overlaps most, if IoU >= 0.3.
export function personIdFor(coords, previousBoxes) {
  let best = null;
  let bestIou = 0.3;
  for (const box of previousBoxes) {
    const overlap = iou(coords, box);
    if (overlap >= bestIou && box.person_id !== null) {
      best = box.person_id;
      bestIou = overlap;
    }
  }
  return best;
}

// Rule problems of one box: [{type, count, min, max, text}] for every rule it breaks.
export function ruleProblems(box, rules, actionTypes) {
  if (!isGroundTruth(box)) return [];
  const counts = {};
  for (const label of box.labels) {
    if (!isGroundTruth(label)) continue;
    const type = actionTypes.get(label.action_id);
    counts[type] = (counts[type] || 0) + 1;
  }
  const problems = [];
  for (const [type, bounds] of Object.entries(rules || {})) {
    const count = counts[type] || 0;
    const min = bounds.min ?? 0;
    const max = bounds.max ?? null;
    if (count < min || (max !== null && count > max)) {
      const rule = max === null ? `at least ${min}` : min === max ? `exactly ${min}` : `${min} to ${max}`;
      problems.push({ type, count, min, max, text: `${count} ${type} (needs ${rule})` });
    }
  }
  return problems;
}

const clone = (value) => structuredClone(value);

function findBox(doc, key) {
  const box = doc.boxes.find((item) => item.key === key);
  if (!box) throw new Error(`no box ${key}`);
  return box;
}

function acceptBoxLabels(box, threshold, ctx) {
  const pending = box.labels.filter((label) => isPending(label) && label.score !== null && label.score >= threshold);
  let accepted = 0;
  const byType = new Map();
  for (const label of pending) {
    const type = ctx.actionTypes.get(label.action_id);
    if (!byType.has(type)) byType.set(type, []);
    byType.get(type).push(label);
  }
  for (const [type, labels] of byType) {
    const single = ctx.rules?.[type]?.max === 1;
    if (single) {
      // Single choice: only the top label, and none if the box has one of that type already.
      const has = box.labels.some((label) => isGroundTruth(label) && ctx.actionTypes.get(label.action_id) === type);
      if (has) continue;
      labels.sort((a, b) => b.score - a.score);
      labels[0].state = "accepted";
      accepted += 1;
    } else {
      for (const label of labels) label.state = "accepted";
      accepted += labels.length;
    }
  }
  if (accepted && box.state === "suggested") box.state = "accepted";
  return accepted;
}

// Annotation actions: (doc, payload, ctx) -> nothing; they edit the cloned doc in place.
const EDITS = {
  addBox(doc, { coords, person_id, key }) {
    doc.boxes.push({ key, id: null, person_id, ...coords, source: "human", state: "accepted", labels: [] });
  },
  setBoxCoords(doc, { key, coords }) {
    const box = findBox(doc, key);
    Object.assign(box, coords);
    if (MACHINE.has(box.source)) box.state = "edited";
  },
  deleteBox(doc, { key }) {
    const box = findBox(doc, key);
    if (MACHINE.has(box.source)) box.state = "rejected";
    else doc.boxes = doc.boxes.filter((item) => item.key !== key);
  },
  setPersonId(doc, { key, person_id }) {
    findBox(doc, key).person_id = person_id;
  },
  toggleLabel(doc, { key, action_id }, ctx) {
    const box = findBox(doc, key);
    const label = box.labels.find((item) => item.action_id === action_id);
    if (label && isGroundTruth(label)) {
      if (MACHINE.has(label.source)) label.state = "rejected";
      else box.labels = box.labels.filter((item) => item !== label);
      return;
    }
    const type = ctx.actionTypes.get(action_id);
    if (ctx.rules?.[type]?.max === 1) {
      // A single-choice type: choosing one label replaces the box's other one.
      for (const other of box.labels) {
        if (other.action_id !== action_id && isGroundTruth(other) && ctx.actionTypes.get(other.action_id) === type) {
          if (MACHINE.has(other.source)) other.state = "rejected";
          else box.labels = box.labels.filter((item) => item !== other);
        }
      }
    }
    if (label) label.state = "accepted";
    else box.labels.push({ action_id, source: "human", state: "accepted", score: null });
    if (box.state === "suggested") box.state = "accepted";
  },
  acceptBox(doc, { key, threshold }, ctx) {
    acceptBoxLabels(findBox(doc, key), threshold, ctx);
  },
  acceptAll(doc, { threshold }, ctx) {
    for (const box of doc.boxes) if (box.state !== "rejected") acceptBoxLabels(box, threshold, ctx);
  },
  rejectBox(doc, { key }) {
    for (const label of findBox(doc, key).labels) if (isPending(label)) label.state = "rejected";
  },
  carryForward(doc, { previous, keys }) {
    previous.forEach((source, index) => {
      const labels = source.labels.map((label) => ({ action_id: label.action_id, source: "human", state: "accepted", score: null }));
      const match = doc.boxes.find((box) => box.state !== "rejected" && iou(box, source) >= 0.5);
      if (match) {
        match.person_id = match.person_id ?? source.person_id;
        for (const label of labels) {
          const mine = match.labels.find((item) => item.action_id === label.action_id);
          if (!mine) match.labels.push(label);
          else if (!isGroundTruth(mine)) mine.state = "accepted";
        }
        if (match.state === "suggested") match.state = "accepted";
        return;
      }
      doc.boxes.push({
        key: keys[index],
        id: null,
        person_id: source.person_id,
        x1: source.x1,
        y1: source.y1,
        x2: source.x2,
        y2: source.y2,
        source: "human",
        state: "accepted",
        labels,
      });
    });
  },
  replaceDoc(doc, { boxes }) {
    doc.boxes = clone(boxes);
  },
};

// Page actions: (state, payload) -> nothing; not recorded by the history.
const PAGE = {
  select(state, { key }) {
    state.ui.selected = key;
  },
  setThreshold(state, { threshold }) {
    state.ui.threshold = threshold;
  },
  setMode(state, { mode }) {
    state.ui.mode = mode;
  },
  setFilter(state, { filter }) {
    state.ui.filter = filter;
  },
  setSave(state, { save, message = "" }) {
    state.ui.save = save;
    state.ui.saveMessage = message;
  },
  setVersion(state, { version }) {
    state.meta.version = version;
  },
  assignIds(state, { ids }) {
    for (const box of state.doc.boxes) if (ids.has(box.key)) box.id = ids.get(box.key);
  },
  load(state, { boxes, version, status }) {
    state.doc.boxes = fromServerBoxes(boxes);
    state.meta.version = version;
    state.meta.status = status;
    state.ui.selected = null;
  },
  setStatus(state, { status }) {
    state.meta.status = status;
  },
};

export function createStore({ boxes, version, status, rules, actionTypes, readOnly }) {
  const state = {
    doc: { boxes: fromServerBoxes(boxes) },
    meta: { version, status },
    ui: { selected: null, threshold: 0.5, mode: "select", filter: "", save: "saved", saveMessage: "" },
  };
  const ctx = { rules, actionTypes };
  const undo = [];
  const redo = [];
  const listeners = new Set();
  let revision = 0; // counts edits, so a save knows whether the doc changed while it ran

  const notify = (name) => {
    for (const listener of listeners) listener(state, name);
  };

  function apply(entry) {
    const before = clone(state.doc);
    EDITS[entry.name](state.doc, entry.payload, ctx);
    revision += 1;
    return before;
  }

  return {
    state,
    get revision() {
      return revision;
    },
    canUndo: () => undo.length > 0,
    canRedo: () => redo.length > 0,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    // An annotation edit: refused on a read-only keyframe.
    edit(name, payload = {}) {
      if (readOnly) return false;
      if (!(name in EDITS)) throw new Error(`unknown action ${name}`);
      if (name === "addBox" && !payload.key) payload = { ...payload, key: newKey() };
      if (name === "carryForward") payload = { ...payload, keys: payload.previous.map(() => newKey()) };
      const entry = { name, payload: clone(payload) };
      entry.before = apply(entry);
      undo.push(entry);
      redo.length = 0;
      if (name === "addBox") state.ui.selected = payload.key;
      notify(name);
      return true;
    },
    page(name, payload = {}) {
      PAGE[name](state, payload);
      notify(name);
    },
    undo() {
      const entry = undo.pop();
      if (!entry) return;
      state.doc = clone(entry.before);
      revision += 1;
      redo.push(entry);
      if (!state.doc.boxes.some((box) => box.key === state.ui.selected)) state.ui.selected = null;
      notify("undo");
    },
    redo() {
      const entry = redo.pop();
      if (!entry) return;
      entry.before = apply(entry);
      undo.push(entry);
      if (entry.name === "addBox") state.ui.selected = entry.payload.key;
      notify("redo");
    },
  };
}

// The PUT body of the annotations endpoint: the keyframe's whole annotation.
export function saveBody(doc, version, status) {
  const body = {
    version,
    boxes: doc.boxes.map((box) => ({
      id: box.id,
      person_id: box.person_id,
      x1: box.x1,
      y1: box.y1,
      x2: box.x2,
      y2: box.y2,
      state: box.state,
      labels: box.labels.map((label) => ({ action_id: label.action_id, state: label.state })),
    })),
  };
  if (status) body.status = status;
  return body;
}

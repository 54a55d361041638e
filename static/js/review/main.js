// The review page: wires the state, the canvas, the action picker, the clip, the keys, the queue
// and the saver together. Everything on screen is drawn from the one state object.
import { getReview, markKeyframe, releaseLease } from "./api.js";
import { createCanvas, boxKind } from "./canvas.js";
import { createClip } from "./clip.js";
import { bindKeys, keymapFor } from "./keys.js";
import { createLabelPanel } from "./labels.js";
import { createQueue } from "./queue.js";
import { createSaver } from "./save.js";
import { createStore, fromServerBoxes, isGroundTruth, isPending, personIdFor, ruleProblems, visibleBoxes } from "./state.js";

let root = document.getElementById("review");
// The page as the server rendered it, before any keyframe was drawn into it: moving on to the
// next keyframe in place starts again from a copy of it (no listener of the last one survives).
const pristine = root.cloneNode(true);
const $ = (id) => document.getElementById(id);

function showMessage(text) {
  $("message").textContent = text;
  $("message").hidden = !text;
}

async function loadReview(keyframeId) {
  return { review: await getReview(keyframeId), fresh: null };
}

function describeBox(box, actionNames) {
  const labels = box.labels.filter(isGroundTruth).map((label) => actionNames.get(label.action_id) || label.action_id);
  return `P${box.person_id ?? "?"} (${box.state}): ${labels.join(", ") || "no action"}`;
}

// Three-way merge by box: theirs, plus what I changed since my base (new boxes, edited boxes,
// deleted boxes); on a box both changed, mine wins (the reviewer sees both before choosing).
function mergeBoxes(base, mine, theirs) {
  const baseById = new Map(base.filter((box) => box.id !== null).map((box) => [box.id, JSON.stringify(strip(box))]));
  const mineById = new Map(mine.filter((box) => box.id !== null).map((box) => [box.id, box]));
  const merged = [];
  for (const box of theirs) {
    const my = mineById.get(box.id);
    if (!my) {
      if (baseById.has(box.id)) continue; // I deleted it
      merged.push(box);
    } else if (JSON.stringify(strip(my)) !== baseById.get(box.id)) merged.push(my);
    else merged.push(box);
  }
  return [...merged, ...mine.filter((box) => box.id === null)];
}

function strip(box) {
  const { key, ...rest } = box;
  return rest;
}

async function main(keyframeId, given = null) {
  const { review, fresh } = given ? { review: given, fresh: getReview(keyframeId) } : await loadReview(keyframeId);
  $("review-title").textContent = `${review.video.video_id} @ ${review.keyframe.timestamp} s`;
  const actionTypes = new Map(review.actions.map((action) => [action.action_id, action.action_type]));
  const actionNames = new Map(review.actions.map((action) => [action.action_id, action.name]));
  const rules = review.dataset.review_rules || {};
  const readOnly = review.read_only;
  const ctx = { rules, actionTypes };
  const store = createStore({
    boxes: review.boxes,
    version: review.keyframe.version,
    status: review.keyframe.status,
    rules,
    actionTypes,
    readOnly: Boolean(readOnly),
  });
  let base = structuredClone(store.state.doc.boxes);
  const previousBoxes = review.previous?.boxes || [];

  if (readOnly) {
    $("read-only").textContent = `Read-only: this keyframe is ${readOnly}.`;
    $("read-only").hidden = false;
    root.classList.add("read-only");
  }
  // A gold keyframe is answered blind: saves store the reviewer's own answer (a draft until
  // marked reviewed, then submitted); the keyframe's own status does not move.
  let goldAnswer = review.keyframe.gold_answer;
  if (review.keyframe.gold) root.classList.add("gold");
  $("suggestions").hidden = review.keyframe.gold;

  const media = review.media;
  const size = media ? [review.video.width || 640, review.video.height || 360] : [640, 360];
  const canvas = createCanvas({
    svg: $("stage"),
    store,
    size,
    imageUrl: media ? media.image : "",
    ctx,
    personIdFor: (coords) => personIdFor(coords, previousBoxes),
    tracks: review.tracks || { previous: [], next: [] },
  });
  const labels = createLabelPanel({
    root: $("labels"),
    filterInput: $("label-filter"),
    store,
    actions: review.actions,
    ctx,
    showScores: !review.keyframe.gold,
  });
  const clip = media
    ? createClip({
        video: $("clip"),
        speed: $("speed"),
        playButton: $("play"),
        frameCanvas: $("model-frame"),
        frameLabel: $("model-frame-label"),
        media,
      })
    : { step() {}, toggle() {}, stop() {} };
  const queue = createQueue({
    keyframeId,
    query: root.dataset.query,
    leaseSeconds: Number(root.dataset.leaseSeconds),
    readOnly: Boolean(readOnly),
  });

  const saver = createSaver({
    store,
    keyframeId,
    onConflict: (current) => openConflict(current),
    onAuth: () => {
      $("login-link").href = `${root.dataset.login}?next=${encodeURIComponent(root.dataset.home)}`;
      if (!$("login-dialog").open) $("login-dialog").showModal();
    },
    onSaved: () => {
      base = structuredClone(store.state.doc.boxes);
      if (goldAnswer === "none") {
        goldAnswer = "draft";
        render(store.state);
      }
      if ($("login-dialog").open) $("login-dialog").close();
    },
    onError: (error) => showMessage(error.message),
  });

  // --- drawing: a function of the state ---
  function render(state) {
    canvas.draw(state);
    labels.draw(state);
    const box = state.doc.boxes.find((item) => item.key === state.ui.selected);
    $("person-id").disabled = !box || Boolean(readOnly);
    if (document.activeElement !== $("person-id")) $("person-id").value = box?.person_id ?? "";
    $("box-summary").textContent = box
      ? `${describeBox(box, actionNames)}${ruleProblems(box, rules, actionTypes).length ? " — breaks a rule" : ""}`
      : "No box selected (Tab selects one).";
    $("box-summary").dataset.kind = box ? boxKind(box) : "";
    $("delete-box").disabled = !box || Boolean(readOnly);
    $("threshold-value").textContent = state.ui.threshold.toFixed(2);
    $("undo").disabled = !store.canUndo();
    $("redo").disabled = !store.canRedo();
    const labelsBySave = { saved: "All changes saved", unsaved: "Unsaved changes", saving: "Saving…" };
    $("save-status").textContent = state.ui.saveMessage || labelsBySave[state.ui.save] || state.ui.save;
    $("save-status").dataset.state = state.ui.save;
    $("keyframe-status").textContent = review.keyframe.gold
      ? `gold · your answer: ${goldAnswer} · v${state.meta.version}`
      : `${state.meta.status} · v${state.meta.version}`;
    root.dataset.version = state.meta.version;
  }
  store.subscribe(render);

  // --- commands: what buttons and keys do ---
  const selected = () => store.state.doc.boxes.find((box) => box.key === store.state.ui.selected);
  function cycle(delta) {
    // Tab walks the boxes from the keyframe; from any other control it moves the focus as usual.
    if (![$("stage"), document.body].includes(document.activeElement)) return false;
    const boxes = visibleBoxes(store.state);
    if (!boxes.length) return false;
    const index = boxes.findIndex((box) => box.key === store.state.ui.selected);
    const next = index === -1 ? (delta > 0 ? 0 : boxes.length - 1) : index + delta;
    if (next < 0 || next >= boxes.length) return false; // let focus leave the stage
    store.page("select", { key: boxes[next].key });
    return true;
  }

  function reviewRefusal() {
    for (const box of visibleBoxes(store.state)) {
      const problems = ruleProblems(box, rules, actionTypes);
      if (problems.length) return `Cannot mark reviewed: box P${box.person_id ?? "?"} has ${problems.map((p) => p.text).join("; ")}.`;
    }
    return null;
  }

  async function markReviewed() {
    if (readOnly) return;
    const refusal = reviewRefusal();
    if (refusal) {
      showMessage(refusal);
      return false;
    }
    try {
      await saver.save("reviewed");
    } catch (error) {
      if (error.kind === "invalid") showMessage(error.message);
      return false;
    }
    if (review.keyframe.gold) {
      goldAnswer = "submitted";
      render(store.state);
    }
    showMessage("");
    return true;
  }

  async function openKeyframe(id) {
    if (!id) return;
    if (saver.dirty()) await saver.save().catch(() => {});
    if (!saver.dirty()) window.location.assign(queue.pageUrl(id));
  }

  async function reviewAndNext() {
    // The next keyframe is taken while the save runs (it skips this one); given back if the
    // save fails.
    const taking = readOnly ? Promise.resolve(null) : queue.takeNext().catch(() => null);
    if (!(await markReviewed())) {
      const taken = await taking;
      if (taken) releaseLease(taken).catch(() => {});
      return;
    }
    const next = await taking;
    if (!next) {
      window.location.assign(root.dataset.nextUrl + (root.dataset.query ? `?${root.dataset.query}` : ""));
      return;
    }
    if (queue.prefetched && queue.prefetched.keyframe.id === next) {
      switchTo(next, queue.prefetched);
      return;
    }
    window.location.assign(queue.pageUrl(next));
  }

  // Open the next keyframe in this page: stop this one's lease renewal, saver and keys, put a
  // fresh copy of the page in place and draw the prefetched keyframe into it.
  function switchTo(next, prefetched) {
    unbindKeys();
    queue.stop();
    saver.stop();
    clip.stop();
    const fresh = pristine.cloneNode(true);
    fresh.dataset.keyframe = next;
    root.replaceWith(fresh);
    root = fresh;
    history.pushState({ keyframe: next }, "", queue.pageUrl(next));
    document.title = `Review ${prefetched.video.video_id}@${prefetched.keyframe.timestamp} · AVA annotator`;
    main(next, prefetched).catch((error) => showMessage(`Could not open the keyframe: ${error.message}`));
  }

  const commands = {
    help: () => $("help").showModal(),
    play: () => clip.toggle(),
    framePrev: () => clip.step(-1),
    frameNext: () => clip.step(1),
    boxNext: () => cycle(1),
    boxPrev: () => cycle(-1),
    draw: () => !readOnly && store.page("setMode", { mode: store.state.ui.mode === "draw" ? "select" : "draw" }),
    delete: () => selected() && store.edit("deleteBox", { key: selected().key }) && store.page("select", { key: null }),
    acceptBox: () => selected() && store.edit("acceptBox", { key: selected().key, threshold: store.state.ui.threshold }),
    acceptAll: () => store.edit("acceptAll", { threshold: store.state.ui.threshold }),
    rejectBox: () => selected() && store.edit("rejectBox", { key: selected().key }),
    carry: () => {
      if (!previousBoxes.length) showMessage("The previous keyframe has no reviewed boxes to carry forward.");
      else store.edit("carryForward", { previous: previousBoxes });
    },
    flag: () => !readOnly && $("flag-dialog").showModal(),
    filter: () => $("label-filter").focus(),
    personId: () => selected() && $("person-id").focus(),
    undo: () => store.undo(),
    redo: () => store.redo(),
    save: () => saver.save().catch(() => {}),
    reviewNext: () => reviewAndNext(),
    nextKeyframe: () => openKeyframe(review.neighbours.next),
    prevKeyframe: () => openKeyframe(review.neighbours.previous),
    zoomIn: () => canvas.zoomIn(),
    zoomOut: () => canvas.zoomOut(),
    zoomReset: () => canvas.zoomReset(),
  };
  const modalOpen = () => [...document.querySelectorAll("dialog")].some((dialog) => dialog.open);
  const bindings = JSON.parse(root.dataset.keys || "{}");
  const unbindKeys = bindKeys(commands, { modalOpen, bindings });

  const buttons = {
    undo: "undo",
    redo: "redo",
    draw: "draw",
    carry: "carry",
    save: "save",
    "mark-reviewed": "reviewNext",
    flag: "flag",
    "prev-keyframe": "prevKeyframe",
    "next-keyframe": "nextKeyframe",
    "help-button": "help",
    "delete-box": "delete",
    "accept-box": "acceptBox",
    "reject-box": "rejectBox",
    "accept-all": "acceptAll",
    "frame-prev": "framePrev",
    "frame-next": "frameNext",
  };
  for (const [id, command] of Object.entries(buttons)) $(id).addEventListener("click", () => commands[command]());
  $("prev-keyframe").disabled = !review.neighbours.previous;
  $("next-keyframe").disabled = !review.neighbours.next;
  for (const id of ["draw", "carry", "save", "mark-reviewed", "flag", "exclude"]) if (readOnly) $(id).disabled = true;

  $("threshold").addEventListener("input", () => store.page("setThreshold", { threshold: Number($("threshold").value) }));
  $("person-id").addEventListener("change", () => {
    const box = selected();
    const value = $("person-id").value.trim();
    if (box) store.edit("setPersonId", { key: box.key, person_id: value === "" ? null : Number(value) });
  });
  $("person-id").addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === "Escape") $("stage").focus();
  });

  const helpBody = $("help-keys").querySelector("tbody");
  for (const [key, , text] of keymapFor(bindings)) {
    const row = helpBody.insertRow();
    const keyCell = document.createElement("th");
    const kbd = document.createElement("kbd");
    kbd.textContent = key === " " ? "Space" : key;
    keyCell.append(kbd);
    row.append(keyCell);
    row.insertCell().textContent = text;
  }

  $("flag-form").addEventListener("submit", async (event) => {
    const submitter = event.submitter;
    if (submitter?.value !== "flag") return;
    await saver.save().catch(() => {});
    try {
      const keyframe = await markKeyframe(keyframeId, { version: store.state.meta.version, mark: "flagged", comment: $("flag-comment").value });
      store.page("setVersion", { version: keyframe.version });
      store.page("setStatus", { status: keyframe.status });
      showMessage("");
    } catch (error) {
      showMessage(error.message);
    }
  });
  $("exclude").addEventListener("click", async () => {
    await saver.save().catch(() => {});
    try {
      const keyframe = await markKeyframe(keyframeId, { version: store.state.meta.version, mark: "excluded" });
      store.page("setVersion", { version: keyframe.version });
      store.page("setStatus", { status: `${keyframe.status} · excluded` });
    } catch (error) {
      showMessage(error.message);
    }
  });
  $("login-retry").addEventListener("click", () => saver.retry());

  // --- the 409 merge view ---
  let theirs = null;
  function openConflict(current) {
    theirs = current;
    const list = (element, boxes) => {
      element.replaceChildren(
        ...boxes
          .filter((box) => box.state !== "rejected")
          .map((box) => {
            const item = document.createElement("li");
            item.textContent = describeBox(box, actionNames);
            return item;
          }),
      );
    };
    list($("conflict-mine"), store.state.doc.boxes);
    list($("conflict-theirs"), current.boxes);
    $("conflict-version").textContent = current.version;
    if (!$("conflict").open) $("conflict").showModal();
  }
  function resolve(boxes) {
    $("conflict").close();
    base = fromServerBoxes(theirs.boxes);
    store.page("setVersion", { version: theirs.version });
    store.edit("replaceDoc", { boxes });
    saver.save().catch(() => {});
  }
  $("conflict-merge").addEventListener("click", () =>
    resolve(mergeBoxes(base, store.state.doc.boxes, fromServerBoxes(theirs.boxes))),
  );
  $("conflict-overwrite").addEventListener("click", () => {
    const mine = store.state.doc.boxes.map((box) => ({ ...box }));
    // Boxes only they have are dropped by an overwrite: the server deletes or rejects them.
    resolve(mine.filter((box) => box.id === null || theirs.boxes.some((other) => other.id === box.id)));
  });
  $("conflict-theirs-button").addEventListener("click", () => resolve(fromServerBoxes(theirs.boxes)));

  // Edits a previous visit could not save come back (they are saved like any edit).
  const unsaved = readOnly ? null : saver.restore();
  if (unsaved) {
    store.page("setVersion", { version: unsaved.version });
    store.edit("replaceDoc", { boxes: unsaved.boxes });
    showMessage("Restored edits that were not saved last time; saving them now.");
  }
  render(store.state);
  root.dataset.ready = "true";

  if (fresh) {
    // The page was drawn from the prefetched copy: take the server's newer state if it moved on.
    const latest = await fresh;
    if (latest.keyframe.version !== store.state.meta.version && !saver.dirty()) {
      store.page("load", { boxes: latest.boxes, version: latest.keyframe.version, status: latest.keyframe.status });
      base = structuredClone(store.state.doc.boxes);
    }
  }
  if (!readOnly) {
    queue
      .prefetch()
      .then((next) => {
        root.dataset.prefetched = next ?? "none";
      })
      .catch(() => {});
  }
  // Keep the pending count honest for the marks reviewers look at.
  root.dataset.pending = String(store.state.doc.boxes.flatMap((box) => box.labels).filter(isPending).length);
}

// Back and forward between keyframes opened in place load the page of the address shown.
window.addEventListener("popstate", () => window.location.reload());

main(Number(root.dataset.keyframe)).catch((error) => {
  showMessage(`Could not open the keyframe: ${error.message}`);
  throw error;
});

// Saving without losing work: autosave through the REST API with the keyframe's version, a copy
// of unsaved edits in localStorage, retries after network failures, a log-in prompt when the
// session expired, and the 409's current state handed to the merge view.
import { saveBody } from "./state.js";
import { saveAnnotations } from "./api.js";

const AUTOSAVE_MS = 1200;
const RETRY_MS = [1000, 2000, 5000, 10000, 20000];

export function createSaver({ store, keyframeId, onConflict, onAuth, onSaved, onError }) {
  const storageKey = `review:unsaved:${keyframeId}`;
  let savedRevision = store.revision;
  let timer = null;
  let running = null;
  let failures = 0;

  const dirty = () => store.revision !== savedRevision;

  function keepCopy() {
    if (!dirty()) {
      localStorage.removeItem(storageKey);
      return;
    }
    localStorage.setItem(
      storageKey,
      JSON.stringify({ version: store.state.meta.version, boxes: store.state.doc.boxes, at: Date.now() }),
    );
  }

  function schedule(delay = AUTOSAVE_MS) {
    clearTimeout(timer);
    timer = setTimeout(() => save().catch(() => {}), delay);
  }

  async function run(status) {
    const revision = store.revision;
    const sent = store.state.doc;
    const sentIds = new Set(sent.boxes.filter((box) => box.id !== null).map((box) => box.id));
    const newKeys = sent.boxes.filter((box) => box.id === null).map((box) => box.key);
    store.page("setSave", { save: "saving" });
    let result;
    try {
      result = await saveAnnotations(keyframeId, saveBody(sent, store.state.meta.version, status));
    } catch (error) {
      keepCopy();
      if (error.kind === "network" || error.kind === "server") {
        store.page("setSave", { save: "offline", message: "Not saved: the server cannot be reached. Retrying…" });
        schedule(RETRY_MS[Math.min(failures++, RETRY_MS.length - 1)]);
      } else if (error.kind === "auth") {
        store.page("setSave", { save: "auth", message: "Not saved: your session expired. Log in again; your edits are kept." });
        onAuth();
        schedule(RETRY_MS[RETRY_MS.length - 1]);
      } else if (error.kind === "conflict") {
        store.page("setSave", { save: "conflict", message: "Someone saved this keyframe first: merge or overwrite." });
        onConflict(error.body.current);
      } else {
        store.page("setSave", { save: "error", message: error.message });
        onError(error);
      }
      throw error;
    }
    failures = 0;
    // New boxes got ids, in the order they were sent (the server creates them in that order).
    const created = result.boxes.map((box) => box.id).filter((id) => !sentIds.has(id)).sort((a, b) => a - b);
    store.page("assignIds", { ids: new Map(newKeys.map((key, index) => [key, created[index]])) });
    store.page("setVersion", { version: result.version });
    store.page("setStatus", { status: result.status });
    if (store.revision === revision) savedRevision = store.revision;
    keepCopy();
    store.page("setSave", { save: dirty() ? "unsaved" : "saved" });
    onSaved(result);
    if (dirty()) schedule();
    return result;
  }

  async function save(status = null) {
    clearTimeout(timer);
    if (running) {
      await running.catch(() => {});
    }
    if (!dirty() && status === null) return null;
    running = run(status);
    try {
      return await running;
    } finally {
      running = null;
    }
  }

  // The browser's copy is written a moment after an edit, not during it (a label toggle must
  // repaint at once; serialising every box then would delay the frame).
  let copyTimer = null;
  const keepCopySoon = () => {
    clearTimeout(copyTimer);
    copyTimer = setTimeout(keepCopy, 250);
  };

  store.subscribe((state, name) => {
    if (["setSave", "setVersion", "setStatus", "assignIds", "select", "setThreshold", "setMode", "setFilter"].includes(name)) return;
    if (name === "load") {
      savedRevision = store.revision;
      return;
    }
    keepCopySoon();
    store.page("setSave", { save: "unsaved" });
    schedule();
  });

  const warn = (event) => {
    if (dirty()) {
      keepCopy();
      event.preventDefault();
      event.returnValue = "";
    }
  };
  const online = () => dirty() && schedule(0);
  window.addEventListener("beforeunload", warn);
  window.addEventListener("online", online);

  return {
    save,
    dirty,
    retry: () => schedule(0),
    // Edits a previous visit left unsaved (the tab closed, the network failed), if any.
    restore() {
      const text = localStorage.getItem(storageKey);
      return text ? JSON.parse(text) : null;
    },
    stop() {
      clearTimeout(timer);
      clearTimeout(copyTimer);
      window.removeEventListener("beforeunload", warn);
      window.removeEventListener("online", online);
    },
    forget() {
      savedRevision = store.revision;
      localStorage.removeItem(storageKey);
    },
  };
}

// Keyboard first: one key per command; nothing fires while a text field has focus (the label
// filter handles its own Enter and Escape). KEYMAP holds the default keys (the server's
// annotator/services/keys.py holds the same); each user's own bindings come from the server.

const TEXT = new Set(["INPUT", "TEXTAREA", "SELECT"]);

export const KEYMAP = [
  ["?", "help", "show this sheet (Escape closes it)"],
  [" ", "play", "play / pause the context clip"],
  [",", "framePrev", "previous model frame"],
  [".", "frameNext", "next model frame"],
  ["Tab", "boxNext", "next box"],
  ["Shift+Tab", "boxPrev", "previous box"],
  ["d", "draw", "draw a box"],
  ["Delete", "delete", "delete the selected box"],
  ["a", "acceptBox", "accept the selected box's suggestions above the threshold"],
  ["Shift+A", "acceptAll", "accept every suggestion above the threshold"],
  ["r", "rejectBox", "reject the selected box's pending suggestions"],
  ["c", "carry", "carry the previous keyframe forward"],
  ["f", "flag", "flag the keyframe with a comment"],
  ["/", "filter", "type to filter the actions"],
  ["i", "personId", "edit the selected box's person id"],
  ["Ctrl+Z", "undo", "undo"],
  ["Ctrl+Shift+Z", "redo", "redo"],
  ["Ctrl+S", "save", "save"],
  ["Ctrl+Enter", "reviewNext", "mark reviewed, save, open the next keyframe"],
  ["n", "nextKeyframe", "next keyframe of this video"],
  ["p", "prevKeyframe", "previous keyframe of this video"],
  ["+", "zoomIn", "zoom in"],
  ["-", "zoomOut", "zoom out"],
  ["0", "zoomReset", "fit the keyframe"],
];

// The name of a key press, as bindings spell it: "d", "Shift+A", "Ctrl+Shift+Z", "Tab".
export function describe(event) {
  const ctrl = event.ctrlKey || event.metaKey;
  let key = event.key === "Backspace" ? "Delete" : event.key;
  if (key.length === 1 && /[a-z]/i.test(key)) {
    const letter = key.toUpperCase();
    if (ctrl) return `Ctrl+${event.shiftKey ? "Shift+" : ""}${letter}`;
    return event.shiftKey ? `Shift+${letter}` : letter.toLowerCase();
  }
  if (key === "Tab" || key === "Enter") key = `${event.shiftKey ? "Shift+" : ""}${key}`;
  return ctrl ? `Ctrl+${key}` : key;
}

// The keymap with the user's bindings (command -> key) over the defaults.
export function keymapFor(bindings = {}) {
  return KEYMAP.map(([key, command, text]) => [bindings[command] ?? key, command, text]);
}

export function bindKeys(commands, { modalOpen, bindings = {} }) {
  const BINDINGS = new Map(keymapFor(bindings).map(([key, command]) => [key, command]));
  const onKey = (event) => {
    const target = event.target;
    if (TEXT.has(target.tagName) && target.type !== "checkbox" && target.type !== "radio" && target.type !== "range") return;
    if (target.isContentEditable || modalOpen()) return;
    const combo = describe(event);
    const command = BINDINGS.get(combo);
    if (!command || !commands[command]) return;
    const handled = commands[command](event);
    if (handled !== false) event.preventDefault();
  };
  document.addEventListener("keydown", onKey);
  return () => document.removeEventListener("keydown", onKey);
}

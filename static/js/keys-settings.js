// The key settings page: one field per command of the review page; a key press in a field
// records that key; Save sends the bindings to the server, which refuses conflicts; Reset returns
// to the defaults.
import { describe, KEYMAP } from "./review/keys.js";

const root = document.getElementById("key-settings");
const body = document.querySelector("#keys-table tbody");
const message = document.getElementById("keys-message");
const problem = document.getElementById("keys-error");
const fields = new Map(); // command -> input

const shown = (key) => (key === " " ? "Space" : key);
const stored = (text) => (text === "Space" ? " " : text);

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : root.dataset.csrf;
}

async function call(method, payload) {
  const response = await fetch(root.dataset.api, {
    method,
    credentials: "same-origin",
    headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
    body: payload === undefined ? undefined : JSON.stringify(payload),
  });
  const result = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(result.detail || `the server answered ${response.status}`);
  return result;
}

function show(bindings) {
  for (const [command, input] of fields) input.value = shown(bindings[command]);
}

function report(text, isError) {
  problem.hidden = !isError;
  problem.textContent = isError ? text : "";
  message.textContent = isError ? "" : text;
}

for (const [key, command, text] of KEYMAP) {
  const row = body.insertRow();
  row.dataset.command = command;
  const label = document.createElement("th");
  label.scope = "row";
  const labelText = document.createElement("label");
  labelText.htmlFor = `key-${command}`;
  labelText.textContent = text;
  label.append(labelText);
  row.append(label);
  const input = document.createElement("input");
  input.id = `key-${command}`;
  input.name = command;
  input.readOnly = true;
  input.className = "key-field";
  input.setAttribute("aria-description", "press the key for this command");
  input.addEventListener("keydown", (event) => {
    if (["Shift", "Control", "Meta", "Alt"].includes(event.key)) return;
    if (event.key === "Tab" && !event.shiftKey && !event.ctrlKey && input.dataset.armed !== "true") return;
    event.preventDefault();
    input.value = shown(describe(event));
    input.dataset.armed = "false";
  });
  input.addEventListener("click", () => (input.dataset.armed = "true")); // then Tab can be bound
  row.insertCell().append(input);
  const kbd = document.createElement("kbd");
  kbd.textContent = shown(key);
  row.insertCell().append(kbd);
  fields.set(command, input);
}

document.getElementById("keys-save").addEventListener("click", async () => {
  const bindings = Object.fromEntries([...fields].map(([command, input]) => [command, stored(input.value)]));
  try {
    show((await call("PUT", { bindings })).bindings);
    report("Your keys are saved.", false);
  } catch (error) {
    report(error.message, true);
  }
});

document.getElementById("keys-reset").addEventListener("click", async () => {
  try {
    show((await call("DELETE")).bindings);
    report("Your keys are back to the defaults.", false);
  } catch (error) {
    report(error.message, true);
  }
});

call("GET")
  .then((result) => {
    show(result.bindings);
    root.dataset.ready = "true";
  })
  .catch((error) => report(error.message, true));

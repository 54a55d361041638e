// The action picker of the selected box: the dataset's actions grouped by type (a single-choice
// type is radio buttons, the others checkboxes), each group's rule shown live, type-to-filter,
// the reviewer's most used actions first, and the suggestions' scores against the threshold.
import { isGroundTruth, isPending, ruleProblems } from "./state.js";

const TYPE_NAMES = {
  PERSON_MOVEMENT: "Pose / movement",
  OBJECT_MANIPULATION: "Object manipulation",
  PERSON_INTERACTION: "Person interaction",
  OTHER: "Other",
};

function ruleText(bounds) {
  if (!bounds) return "no rule";
  const min = bounds.min ?? 0;
  const max = bounds.max ?? null;
  if (max === null) return `at least ${min}`;
  return min === max ? `exactly ${min}` : min ? `${min} to ${max}` : `at most ${max}`;
}

export function createLabelPanel({ root, filterInput, store, actions, ctx, showScores }) {
  const groups = new Map();
  const rows = new Map();
  const ordered = [...actions].sort((a, b) => b.uses - a.uses || a.action_id - b.action_id);
  const types = [...new Set(ordered.map((action) => action.action_type))].sort(
    (a, b) => Object.keys(TYPE_NAMES).indexOf(a) - Object.keys(TYPE_NAMES).indexOf(b),
  );
  for (const type of types) {
    const fieldset = document.createElement("fieldset");
    fieldset.className = "label-group";
    fieldset.dataset.type = type;
    const legend = document.createElement("legend");
    const title = document.createElement("span");
    title.textContent = `${TYPE_NAMES[type] || type} (${ruleText(ctx.rules?.[type])})`;
    const rule = document.createElement("span");
    rule.className = "rule-status";
    rule.setAttribute("aria-live", "polite");
    legend.append(title, " ", rule);
    const list = document.createElement("div");
    list.className = "label-list";
    fieldset.append(legend, list);
    root.append(fieldset);
    groups.set(type, { fieldset, rule, list });
  }
  for (const action of ordered) {
    const single = ctx.rules?.[action.action_type]?.max === 1;
    const row = document.createElement("label");
    row.className = "label-row";
    row.dataset.actionId = action.action_id;
    const input = document.createElement("input");
    input.type = single ? "radio" : "checkbox";
    input.name = `type-${action.action_type}`;
    input.value = action.action_id;
    input.addEventListener("click", (event) => {
      event.preventDefault(); // the state decides what is checked
      const key = store.state.ui.selected;
      if (key) store.edit("toggleLabel", { key, action_id: action.action_id });
    });
    const name = document.createElement("span");
    name.className = "label-name";
    name.textContent = `${action.name}`;
    const score = document.createElement("span");
    score.className = "score";
    row.append(input, name, score);
    groups.get(action.action_type).list.append(row);
    rows.set(action.action_id, { row, input, score, action, search: action.name.toLowerCase() });
  }

  filterInput.addEventListener("input", () => store.page("setFilter", { filter: filterInput.value }));
  filterInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      const first = [...rows.values()].find((item) => !item.row.hidden);
      const key = store.state.ui.selected;
      if (first && key) store.edit("toggleLabel", { key, action_id: first.action.action_id });
      filterInput.value = "";
      store.page("setFilter", { filter: "" });
    } else if (event.key === "Escape") {
      filterInput.value = "";
      store.page("setFilter", { filter: "" });
      filterInput.blur();
    }
  });

  function draw(state) {
    const box = state.doc.boxes.find((item) => item.key === state.ui.selected);
    root.classList.toggle("no-box", !box);
    const filter = state.ui.filter.trim().toLowerCase();
    const labels = new Map((box?.labels || []).map((label) => [label.action_id, label]));
    for (const item of rows.values()) {
      const label = labels.get(item.action.action_id);
      const chosen = Boolean(label && isGroundTruth(label));
      const pending = Boolean(label && isPending(label));
      item.input.checked = chosen;
      item.input.disabled = !box;
      item.row.hidden = Boolean(filter) && !item.search.includes(filter);
      item.row.classList.toggle("chosen", chosen);
      item.row.classList.toggle("pending", pending);
      item.row.classList.toggle("rejected", Boolean(label && label.state === "rejected"));
      const scored = showScores && label && label.score !== null;
      item.row.classList.toggle("above", Boolean(pending && scored && label.score >= state.ui.threshold));
      item.score.textContent = scored ? label.score.toFixed(2) : "";
    }
    const problems = box ? ruleProblems(box, ctx.rules, ctx.actionTypes) : [];
    for (const [type, group] of groups) {
      const problem = problems.find((item) => item.type === type);
      group.rule.textContent = problem ? `✗ ${problem.count}, ${ruleText(ctx.rules[type])}` : box && ctx.rules?.[type] ? "✓" : "";
      group.fieldset.classList.toggle("broken", Boolean(problem));
    }
  }

  return { draw };
}

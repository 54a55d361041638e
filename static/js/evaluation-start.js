// The manager's "start an evaluation" form: POST to the REST endpoint, then open the job's page.
const form = document.getElementById("start-form");
const dataset = document.getElementById("start-dataset");
const error = document.getElementById("start-error");

// Only the chosen dataset's versions and videos are offered.
function filterChoices() {
  for (const select of [document.getElementById("start-model"), document.getElementById("start-baseline")]) {
    for (const option of select.options) {
      option.hidden = option.dataset.dataset !== undefined && option.dataset.dataset !== dataset.value;
    }
    if (select.selectedOptions[0]?.hidden) {
      const first = [...select.options].find((option) => !option.hidden);
      select.value = first ? first.value : "";
    }
  }
  for (const option of document.getElementById("start-videos").options) {
    option.hidden = option.dataset.dataset !== dataset.value;
    if (option.hidden) option.selected = false;
  }
}

function message(body, status) {
  if (body && typeof body === "object") {
    return Object.entries(body)
      .map(([field, reason]) => (field === "detail" ? `${reason}` : `${field}: ${[reason].flat().join(" ")}`))
      .join("; ");
  }
  return `the server answered ${status}`;
}

async function submit(event) {
  event.preventDefault();
  error.textContent = "";
  const data = new FormData(form);
  const body = {
    model_version: Number(data.get("model_version")),
    baseline: data.get("baseline") ? Number(data.get("baseline")) : null,
    videos: data.getAll("videos").map(Number),
    box_source: data.get("box_source"),
    gold_only: data.get("gold_only") === "on",
  };
  const response = await fetch(form.dataset.api.replace("/0/", `/${dataset.value}/`), {
    method: "POST",
    credentials: "same-origin",
    headers: {
      Accept: "application/json",
      "Content-Type": "application/json",
      "X-CSRFToken": data.get("csrfmiddlewaretoken"),
    },
    body: JSON.stringify(body),
  });
  const answer = await response.json().catch(() => null);
  if (response.status === 202) {
    window.location.assign(form.dataset.job.replace("/0/", `/${answer.id}/`));
  } else {
    error.textContent = `Not started: ${message(answer, response.status)}`;
  }
}

dataset.addEventListener("change", filterChoices);
form.addEventListener("submit", submit);
filterChoices();

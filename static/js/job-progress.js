// Live progress of one job: poll its REST resource while it is queued, running or waiting.
const section = document.getElementById("job");
const ACTIVE = new Set(["queued", "running", "waiting"]);
const POLL_MS = 1000;

function show(job) {
  document.getElementById("job-progress").value = job.progress;
  document.getElementById("job-percent").textContent = `${Math.round(job.progress * 100)} %`;
  document.getElementById("job-status").textContent = job.status;
  document.getElementById("job-message").textContent = job.message;
  document.getElementById("job-worker").textContent = job.worker;
  document.getElementById("job-result").textContent = Object.keys(job.result).length
    ? JSON.stringify(job.result, null, 2)
    : "";
  const reports = job.result.reports || [];
  if (job.job_type === "evaluate" && reports.length) {
    // The last report is model B's; the dashboard opens it against its baseline.
    const link = document.querySelector("#job-report a");
    link.href = `${section.dataset.dashboard}?report=${reports[reports.length - 1]}`;
    link.parentElement.hidden = false;
  }
  const bundle = document.getElementById("job-bundle-row");
  if (bundle) bundle.hidden = job.status !== "succeeded"; // the tar is there once the job is done
  // Other modules of the page (the training curve) draw from the same poll.
  section.dispatchEvent(new CustomEvent("job", { detail: job }));
}

async function poll() {
  const response = await fetch(section.dataset.url, {
    credentials: "same-origin",
    headers: { Accept: "application/json" },
  });
  if (!response.ok) {
    document.getElementById("job-message").textContent = `could not read the job (${response.status})`;
    return;
  }
  const job = await response.json();
  show(job);
  if (ACTIVE.has(job.status)) setTimeout(poll, POLL_MS);
}

poll();

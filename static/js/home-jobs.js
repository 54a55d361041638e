// Live progress of the jobs the home page lists: poll each job's REST resource while it runs.
const ACTIVE = new Set(["queued", "running", "waiting"]);
const POLL_MS = 2000;

async function poll(item) {
  const response = await fetch(item.dataset.url, {
    credentials: "same-origin",
    headers: { Accept: "application/json" },
  });
  if (!response.ok) return;
  const job = await response.json();
  item.querySelector("progress").value = job.progress;
  item.querySelector(".job-status").textContent = `${job.status} ${Math.round(job.progress * 100)} %`;
  if (ACTIVE.has(job.status)) setTimeout(() => poll(item), POLL_MS);
}

for (const item of document.querySelectorAll("#jobs .job")) poll(item);

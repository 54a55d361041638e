// The work queue seen from one open keyframe: renew its lease while the page is open, give it
// back on leaving, prefetch the next keyframe and take it when the reviewer moves on.
import { peekQueue, releaseLease, renewLease, takeQueue, getReview } from "./api.js";

export function createQueue({ keyframeId, query, leaseSeconds, readOnly }) {
  const filters = Object.fromEntries(new URLSearchParams(query));
  for (const key of Object.keys(filters)) filters[key] = Number(filters[key]);
  let prefetched = null;

  let timer = null;
  const release = () => {
    releaseLease(keyframeId).catch(() => {});
  };
  if (!readOnly) {
    const renew = () => renewLease(keyframeId).catch(() => {});
    renew(); // a keyframe opened directly (n, p, a link) is leased at once
    timer = setInterval(renew, Math.max(1000, (leaseSeconds * 1000) / 3));
    window.addEventListener("pagehide", release);
  }

  const pageUrl = (id) => `/review/${id}/${query ? `?${query}` : ""}`;

  return {
    pageUrl,
    // Fetch the next keyframe's resource and image now, so opening it later draws at once.
    async prefetch() {
      const params = new URLSearchParams({ ...filters, skip: keyframeId });
      const peek = await peekQueue(params.toString());
      if (!peek.next) return null;
      const review = await getReview(peek.next);
      if (review.media) {
        const image = new Image();
        image.src = review.media.image;
        await image.decode().catch(() => {});
      }
      prefetched = review;
      return peek.next;
    },
    async takeNext() {
      const taken = await takeQueue({ ...filters, skip: keyframeId });
      return taken.keyframe;
    },
    get prefetched() {
      return prefetched;
    },
    // The page moves on to another keyframe in place: this one's lease is no longer renewed.
    stop() {
      clearInterval(timer);
      window.removeEventListener("pagehide", release);
    },
  };
}

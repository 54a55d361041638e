// The context clip (+-1.5 s around the keyframe, looped, 0.25x to 2x) and the frames the model
// saw, stepped one at a time from the sprite the ingest wrote, the keyframe's position marked.

export function createClip({ video, speed, playButton, frameCanvas, frameLabel, media }) {
  const frames = media.model_frames;
  let position = frames.keyframe_position;
  const sprite = new Image();
  sprite.src = frames.sprite;
  const [tileW, tileH] = frames.tile;
  frameCanvas.width = tileW;
  frameCanvas.height = tileH;
  const context2d = frameCanvas.getContext("2d");

  if (media.context) {
    video.src = media.context.clip;
    video.loop = true;
    video.muted = true;
    video.addEventListener("loadedmetadata", () => {
      video.currentTime = Math.max(0, media.context.keyframe_offset);
    });
  } else {
    video.hidden = true;
  }
  speed.addEventListener("change", () => {
    video.playbackRate = Number(speed.value);
  });
  const showPlaying = () => {
    playButton.textContent = video.paused ? "Play (Space)" : "Pause (Space)";
  };
  video.addEventListener("play", showPlaying);
  video.addEventListener("pause", showPlaying);
  playButton.addEventListener("click", () => toggle());

  function drawFrame() {
    const column = position % frames.columns;
    const row = Math.floor(position / frames.columns);
    context2d.drawImage(sprite, column * tileW, row * tileH, tileW, tileH, 0, 0, tileW, tileH);
    const keyframe = position === frames.keyframe_position;
    const slow = frames.slow_positions.includes(position);
    frameCanvas.dataset.position = position;
    frameCanvas.dataset.frameIndex = frames.frame_indices[position];
    frameCanvas.classList.toggle("is-keyframe", keyframe);
    frameLabel.textContent =
      `Model frame ${position + 1} of ${frames.frame_indices.length} ` +
      `(source frame ${frames.frame_indices[position]})` +
      `${keyframe ? " · keyframe" : ""}${slow ? " · Slow pathway" : ""}`;
  }
  sprite.addEventListener("load", drawFrame);
  if (sprite.complete) drawFrame();

  function step(delta) {
    position = Math.min(frames.frame_indices.length - 1, Math.max(0, position + delta));
    if (sprite.complete) drawFrame();
  }

  function toggle() {
    if (!media.context) return;
    if (video.paused) video.play().catch(() => {});
    else video.pause();
  }
  showPlaying();
  // Leaving the keyframe in place: the old clip stops loading and playing.
  const stop = () => {
    video.pause();
    video.removeAttribute("src");
    video.load();
  };
  return { step, toggle, stop };
}

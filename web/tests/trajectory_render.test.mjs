// node --test web/tests/: the editor draws with the colours the Python preview uses (issue 14.7).
import { test } from "node:test";
import assert from "node:assert/strict";

import { BRUSH_RGBA, MAX_FRAME_DOTS, TRACK_COLORS, dotFrames, trackColor } from "../js/trajectory_render.js";
import { SHARED } from "../js/tracks_shared.js";

test("track colours and the brush tint come from tracks_shared.js, which Python reads too", () => {
  assert.equal(TRACK_COLORS, SHARED.palette);
  for (let index = 0; index < 2 * SHARED.palette.length + 3; index++) {
    assert.equal(trackColor(index), SHARED.palette[index % SHARED.palette.length], `track ${index}`);
  }
  const hex = SHARED.brush_tint.color;
  assert.deepEqual(BRUSH_RGBA, [parseInt(hex.slice(1, 3), 16), parseInt(hex.slice(3, 5), 16), parseInt(hex.slice(5, 7), 16),
    Math.round(255 * SHARED.brush_tint.opacity)]);
});

test("a track gets a dot per frame up to 128 frames, then every ceil(F / 128)-th", () => {
  assert.equal(MAX_FRAME_DOTS, 128);
  assert.deepEqual(dotFrames(16), Array.from({ length: 16 }, (_, i) => i));
  assert.deepEqual(dotFrames(128), Array.from({ length: 128 }, (_, i) => i));
  assert.deepEqual(dotFrames(129), Array.from({ length: 65 }, (_, i) => 2 * i)); // 0, 2, ..., 128
  const long = dotFrames(1024); // every 8th: 0, 8, ..., 1016
  assert.deepEqual([long.length, long[1], long.at(-1)], [128, 8, 1016]);
  for (const frames of [1, 2, 100, 129, 500, 1000, 1024]) {
    const dots = dotFrames(frames);
    assert.ok(dots.length <= MAX_FRAME_DOTS && dots[0] === 0 && dots.at(-1) < frames, `${frames} frames`);
  }
});

// node --test web/tests/: the editor draws with the colours the Python preview uses (issue 14.7).
import { test } from "node:test";
import assert from "node:assert/strict";

import { BRUSH_RGBA, TRACK_COLORS, trackColor } from "../js/trajectory_render.js";
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

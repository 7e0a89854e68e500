// node --test web/tests/: the trajectory document, its JSON, the brush raster and the undo history.
import { test } from "node:test";
import assert from "node:assert/strict";

import { readFileSync } from "node:fs";

import { History, TrajectoryModel, edgeMargin, paintSegment, placePoint, rasterizeBrush } from "../js/trajectory_model.js";

// KJNodes outputs written from their format, shared with the Python tests (see tests/test_tracks_parsing.py).
const KJ = JSON.parse(readFileSync(new URL("../../tests/data/kj_outputs.json", import.meta.url), "utf8"));

test("a document round-trips through the versioned JSON string", () => {
  const model = new TrajectoryModel(64, 48);
  const track = model.addTrack([[1, 2], [30.123, 40.456]]);
  model.setTrackOption(track, "start", 2);
  model.setTrackOption(track, "end", 9);
  model.setTrackOption(track, "easing", "ease_in_out");
  model.setTrackOption(track, "interpolation", "arc_length");
  model.addTrack([[5, 5]]);
  const stroke = model.addStroke([10, 10], 4, false);
  model.extendStroke(stroke, [20, 10]);
  model.addStroke([12, 10], 2, true);

  const text = model.serialize();
  assert.equal(typeof text, "string");
  assert.deepEqual(JSON.parse(text), {
    version: 1,
    width: 64,
    height: 48,
    tracks: [
      { points: [[1, 2], [30.12, 40.46]], start: 2, end: 9, easing: "ease_in_out", interpolation: "arc_length" },
      { points: [[5, 5]], start: 0, end: null, easing: "linear", interpolation: "pchip" },
    ],
    brush: { strokes: [{ points: [[10, 10], [20, 10]], radius: 4, erase: false }, { points: [[12, 10]], radius: 2, erase: true }] },
  });
  assert.equal(TrajectoryModel.parse(text).serialize(), text);
});

test("a new track without points is not saved", () => {
  const model = new TrajectoryModel(10, 10);
  model.addTrack();
  assert.deepEqual(JSON.parse(model.serialize()).tracks, []);
});

test("the pre-version layout and KJNodes coordinate strings still load", () => {
  const older = TrajectoryModel.parse('{"width": 100, "height": 50, "tracks": [[[1, 2], [3, 4]], [[9, 9]]]}');
  assert.deepEqual(older.tracks.map((t) => t.points), [[[1, 2], [3, 4]], [[9, 9]]]);
  assert.equal(older.tracks[0].easing, "linear");

  const one = TrajectoryModel.parse("[{'x': 10, 'y': 20}, {'x': 30, 'y': 40}]", 200, 100);
  assert.deepEqual([one.width, one.height], [200, 100]);
  assert.deepEqual(one.tracks.map((t) => t.points), [[[10, 20], [30, 40]]]);

  const several = TrajectoryModel.parse('[[{"x": 1, "y": 1}], [{"x": 2, "y": 2}, {"x": 3, "y": 3}]]', 64, 64);
  assert.deepEqual(several.tracks.map((t) => t.points), [[[1, 1]], [[2, 2], [3, 3]]]);

  const strings = TrajectoryModel.parse(['[{"x": 1, "y": 1}]', '[{"x": 4, "y": 5}]'], 64, 64);
  assert.deepEqual(strings.tracks.map((t) => t.points), [[[1, 1]], [[4, 5]]]);

  assert.equal(TrajectoryModel.isCurrent(older.serialize()), true);
  assert.equal(TrajectoryModel.isCurrent('{"width": 100, "height": 50, "tracks": []}'), false);
  assert.equal(TrajectoryModel.isCurrent("[{'x': 10, 'y': 20}]"), false);
  assert.deepEqual(TrajectoryModel.parse("", 32, 16).toJSON(), { version: 1, width: 32, height: 16, tracks: [], brush: { strokes: [] } });
});

test("bad values raise errors that say what is wrong", () => {
  assert.throws(() => TrajectoryModel.parse("{nope"), /trajectories: the value is not JSON/);
  assert.throws(() => TrajectoryModel.parse('{"version": 7, "width": 8, "height": 8, "tracks": []}'), /unknown version 7/);
  assert.throws(() => TrajectoryModel.parse('{"version": 1, "width": 8, "height": 8, "tracks": [{"points": []}]}'), /track 0 needs at least one point/);
  assert.throws(() => TrajectoryModel.parse('{"version": 1, "width": 8, "height": 8, "tracks": [{"points": [[1, "a"]]}]}'), /point 0 of track 0 should be \[x, y\]/);
  assert.throws(
    () => TrajectoryModel.parse('{"version": 1, "width": 8, "height": 8, "tracks": [{"points": [[1, 1]], "easing": "bounce"}]}'),
    /track 0 easing should be one of linear, ease_in, ease_out, ease_in_out, got "bounce"/,
  );
  assert.throws(() => TrajectoryModel.parse('{"version": 1, "width": 0, "height": 8, "tracks": []}'), /width should be an integer >= 1/);
});

test("points drawn are clamped into the image", () => {
  const model = new TrajectoryModel(100, 50);
  const track = model.addTrack([[-5, 20]]);
  model.insertPoint(track, 1, [140, 70]);
  model.movePoint(track, 0, [3, -1]);
  assert.deepEqual(model.tracks[0].points, [[3, 0], [99, 49]]);
});

test("loaded points follow the edge rule of motion_i2v/tracks/canvas.py", () => {
  // 3 % of a side, at least 2 px: the same margins as Python's edge_margin
  assert.deepEqual([edgeMargin(512), edgeMargin(320), edgeMargin(8)], [15.36, 9.6, 2]);
  assert.deepEqual(placePoint([512, 320], 512, 320, "p"), [511, 319]);
  assert.deepEqual(placePoint([-15, 100], 512, 320, "p"), [0, 100]);
  const near = TrajectoryModel.parse('{"version": 1, "width": 10, "height": 10, "tracks": [{"points": [[10.5, -1.5]]}]}');
  assert.deepEqual(near.tracks[0].points, [[9, 0]]);
  // the message is Python's, word for word
  assert.throws(() => TrajectoryModel.parse('{"version": 1, "width": 512, "height": 320, "tracks": [{"points": [[1, 1]]}, {"points": [[0, 0], [5, 5], [600, 10]]}]}'),
    { message: "trajectories: point 2 of track 1 is at (600.0, 10.0), outside the 512x320 canvas" });
  assert.throws(() => TrajectoryModel.parse('{"version": 1, "width": 64, "height": 40, "tracks": [], "brush": {"strokes": [{"points": [[200, 1]], "radius": 4}]}}'),
    /point 0 of brush stroke 0 is at \(200.0, 1.0\), outside the 64x40 canvas/);
});

test("KJNodes outputs read as the Python node reads them (issue 14.1, 14.2, 14.3, 14.5)", () => {
  const spline = TrajectoryModel.parse(KJ.spline_default_512x320, 512, 320);
  assert.deepEqual([spline.tracks[0].points[0], spline.tracks[0].points.at(-1)], [[0, 319], [511, 0]]);
  assert.throws(() => TrajectoryModel.parse(KJ.spline_default_512x512, 512, 320),
    { message: "trajectories: point 0 of track 0 is at (0.0, 512.0), outside the 512x320 canvas" });
  const stretched = TrajectoryModel.parse(KJ.spline_default_512x512, 512, 320, { source: [512, 512] });
  const raw = JSON.parse(KJ.spline_default_512x512);
  assert.deepEqual([stretched.width, stretched.height], [512, 320]);
  assert.deepEqual(stretched.tracks[0].points[1], [raw[1].x, (raw[1].y * 320) / 512]);
  const joined = TrajectoryModel.parse(KJ.append_strings_to_list, 512, 320);
  assert.deepEqual(joined.toJSON(), TrajectoryModel.parse(KJ.two_splines_512x320, 512, 320).toJSON());
  const anchors = TrajectoryModel.parse(KJ.points_editor_two_points, 512, 320, { anchors: true });
  assert.deepEqual(anchors.tracks.map((t) => t.points), [[[100, 200]], [[400, 80]]]);
  assert.deepEqual(TrajectoryModel.parse(KJ.points_editor_two_points, 512, 320).tracks.length, 1);
});

test("a brush radius is at most the canvas diagonal", () => {
  assert.throws(() => TrajectoryModel.parse('{"version": 1, "width": 64, "height": 40, "tracks": [], "brush": {"strokes": [{"points": [[10, 10]], "radius": 80000}]}}'),
    { message: "trajectories: brush stroke 0: radius 80000 is more than the 64x40 canvas's diagonal (75.5 pixels)" });
  const model = new TrajectoryModel(64, 40);
  model.addStroke([10, 10], 512, false);
  assert.equal(model.strokes[0].radius, Math.hypot(64, 40));
  const thin = TrajectoryModel.parse('{"version": 1, "width": 100, "height": 2, "tracks": [], "brush": {"strokes": [{"points": [[10, 1]], "radius": 100}]}}');
  thin.rescale(100, 20);
  assert.equal(thin.strokes[0].radius, Math.hypot(100, 20));
});

test("rescaling moves points per axis and brush radii by the geometric mean", () => {
  const model = new TrajectoryModel(100, 50);
  model.addTrack([[10, 10], [99, 49]]);
  model.addStroke([50, 25], 10, false);
  model.rescale(200, 200);
  assert.deepEqual([model.width, model.height], [200, 200]);
  assert.deepEqual(model.tracks[0].points, [[20, 40], [198, 196]]);
  assert.deepEqual(model.strokes[0].points, [[100, 100]]);
  assert.equal(model.strokes[0].radius, 10 * Math.sqrt(2 * 4));
  model.rescale(50, 50); // downscaling the last column would land outside; it is clamped
  assert.deepEqual(model.tracks[0].points, [[5, 10], [49, 49]]);
});

test("editing points and tracks", () => {
  const model = new TrajectoryModel(100, 100);
  const t0 = model.addTrack([[0, 0], [10, 10]]);
  model.insertPoint(t0, 1, [5, 5]);
  assert.deepEqual(model.tracks[0].points, [[0, 0], [5, 5], [10, 10]]);
  assert.equal(model.deletePoint(t0, 1), false);
  model.addTrack([[50, 50]]);
  assert.equal(model.deletePoint(1, 0), true, "the last point takes its track with it");
  assert.equal(model.tracks.length, 1);
  assert.throws(() => model.setTrackOption(0, "start", -1), /track 0 start should be a frame index >= 0/);
  model.setTrackOption(0, "start", 3);
  assert.throws(() => model.setTrackOption(0, "end", 3), /track 0 end should be null or a frame after start 3, got 3/);
  assert.equal(model.tracks[0].end, null, "a rejected option leaves the track as it was");
  assert.throws(() => model.setTrackOption(0, "speed", 2), /unknown track option "speed"/);
  model.clear();
  assert.deepEqual([model.tracks, model.strokes], [[], []]);
});

test("the brush raster uses pixel centres, segments and erase order", () => {
  const model = new TrajectoryModel(8, 4);
  assert.equal(rasterizeBrush(model), null, "no strokes means no brush");
  const stroke = model.addStroke([1.5, 1.5], 1, false);
  model.extendStroke(stroke, [5.5, 1.5]);
  model.addStroke([3.5, 1.5], 0.5, true);
  const rows = [];
  const mask = rasterizeBrush(model);
  for (let row = 0; row < 4; row++) rows.push(Array.from(mask.slice(row * 8, row * 8 + 8)).join(""));
  // Centres within 1 px of the segment y = 1.5, x in [1.5, 5.5]; the erase disk clears the centre at (3.5, 1.5).
  assert.deepEqual(rows, ["01111100", "11101110", "01111100", "00000000"]);
});

test("paintSegment reports the box it touched, clipped to the image", () => {
  const mask = new Uint8Array(16);
  assert.deepEqual(paintSegment(mask, 4, 4, [0, 0], [0, 0], 1, 1), [0, 0, 2, 2]);
  assert.deepEqual(Array.from(mask), [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
});

test("history undoes and redoes snapshots and drops the redo branch on a new edit", () => {
  const history = new History(3);
  history.reset("a");
  assert.equal(history.canUndo, false);
  assert.equal(history.push("a"), false, "an unchanged state is not recorded");
  history.push("b");
  history.push("c");
  assert.equal(history.undo(), "b");
  assert.equal(history.undo(), "a");
  assert.equal(history.undo(), null);
  assert.equal(history.redo(), "b");
  history.push("d");
  assert.equal(history.canRedo, false);
  history.push("e"); // limit 3: "a" falls off
  assert.deepEqual(history.states, ["b", "d", "e"]);
  assert.equal(history.undo(), "d");
  assert.equal(history.undo(), "b");
  assert.equal(history.undo(), null);
});

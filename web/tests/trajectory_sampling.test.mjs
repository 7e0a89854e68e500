// node --test web/tests/: the JS sampler against scipy and against the Python engine's own samples.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";

import { ease, motionTime, pchipCurve, sampleTrack, sampleTracks, trackCurve } from "../js/trajectory_sampling.js";

const PYTHON_SAMPLES = new URL("../../tests/data/trajectory_samples.json", import.meta.url);

function assertClose(actual, expected, tolerance, label) {
  assert.equal(actual.length, expected.length, `${label}: length`);
  actual.forEach((point, i) => {
    point.forEach((v, axis) => {
      assert.ok(Math.abs(v - expected[i][axis]) <= tolerance, `${label}[${i}][${axis}]: ${v} vs ${expected[i][axis]}`);
    });
  });
}

// Values printed by scipy.interpolate.PchipInterpolator(linspace(0, 1, K), points, axis=0)(linspace(0, 1, n)).
const SCIPY_CASES = [
  {
    name: "monotone in both axes",
    points: [[10, 20], [100, 40], [120, 200], [300, 210]],
    expected: [[10, 20], [53.910689, 23.203125], [87.194602, 31.875], [103.49929, 50.020425], [109.590909, 122.091503],
      [116.142756, 191.809641], [141, 204.209559], [208.125, 208.490349], [300, 210]],
  },
  {
    name: "turning points (zero interior slopes, end-slope limiter)",
    points: [[0, 0], [50, 100], [100, 20], [110, 90], [30, 40]],
    expected: [[0, 0], [33.333333, 88.148148], [69.135802, 79.259259], [100, 20], [108.641975, 71.851852],
      [98.518519, 85.185185], [30, 40]],
  },
  {
    name: "repeated point (flat secant)",
    points: [[5, 5], [5, 5], [60, 5]],
    expected: [[5, 5], [5, 5], [5, 5], [5, 5], [13.148148, 5], [33.518519, 5], [60, 5]],
  },
  {
    name: "end slope set to zero when its sign flips",
    points: [[0, 10], [30, 10], [31, 80]],
    expected: [[0, 10], [14.227001, 10], [25.23178, 10], [30, 10], [30.545998, 20.37037], [30.88411, 46.296296], [31, 80]],
  },
];

for (const { name, points, expected } of SCIPY_CASES) {
  test(`pchip matches scipy: ${name}`, () => {
    const curve = pchipCurve(points);
    const actual = expected.map((_, i) => curve(i / (expected.length - 1)));
    assertClose(actual, expected, 1e-5, name);
  });
}

test("two points interpolate linearly, one point stays put", () => {
  const line = pchipCurve([[0, 0], [10, 20]]);
  assert.deepEqual(line(0.25), [2.5, 5]);
  assert.deepEqual(sampleTrack({ points: [[7, 9]] }, 4), [[7, 9], [7, 9], [7, 9], [7, 9]]);
});

test("easings map 0 to 0 and 1 to 1 with the brief's formulas", () => {
  for (const name of ["linear", "ease_in", "ease_out", "ease_in_out"]) {
    assert.equal(ease(name, 0), 0);
    assert.equal(ease(name, 1), 1);
  }
  assert.equal(ease("ease_in", 0.5), 0.25);
  assert.equal(ease("ease_out", 0.5), 0.75);
  assert.equal(ease("ease_in_out", 0.25), 3 * 0.0625 - 2 * 0.015625);
  assert.throws(() => ease("bounce", 0.5), /easing: expected one of linear/);
});

test("start and end hold the track still outside its motion window", () => {
  const track = { points: [[0, 0], [90, 0]], start: 3, end: 6 };
  const xs = sampleTrack(track, 10).map(([x]) => x);
  // s = clamp((i - 3) / 3, 0, 1) -> x = 90 s
  assert.deepEqual(xs.map((x) => Math.round(x * 1e9) / 1e9), [0, 0, 0, 0, 30, 60, 90, 90, 90, 90]);
  assert.equal(motionTime(4, 10, { start: 4, end: 4 }), 1);
  assert.equal(motionTime(3, 10, { start: 4, end: 4 }), 0);
});

test("default timing with 16 frames is the official demo's uniform PCHIP resampling", () => {
  const points = [[10, 20], [100, 40], [120, 200], [300, 210]];
  const curve = pchipCurve(points);
  const samples = sampleTrack({ points }, 16);
  assertClose(samples, Array.from({ length: 16 }, (_, i) => curve(i / 15)), 0, "demo");
});

test("arc_length moves at constant speed along the same curve", () => {
  const points = [[0, 0], [10, 0], [100, 0]];
  const xs = sampleTrack({ points, interpolation: "arc_length" }, 11).map(([x]) => x);
  xs.forEach((x, i) => assert.ok(Math.abs(x - 10 * i) < 0.05, `frame ${i}: ${x}`));
  const bent = [[0, 0], [100, 0], [100, 100]];
  const walk = sampleTrack({ points: bent, interpolation: "arc_length" }, 9);
  const steps = walk.slice(1).map((p, i) => Math.hypot(p[0] - walk[i][0], p[1] - walk[i][1]));
  const mean = steps.reduce((a, b) => a + b) / steps.length;
  steps.forEach((step) => assert.ok(Math.abs(step - mean) / mean < 0.02, `chord ${step} vs mean ${mean}`));
  assert.throws(() => trackCurve({ points: bent, interpolation: "spline" }), /interpolation: expected one of/);
});

test("sampleTracks lays positions out as [F][N][2]", () => {
  const path = sampleTracks([{ points: [[0, 0], [30, 0]] }, { points: [[5, 6]] }], 4);
  assert.equal(path.length, 4);
  assert.deepEqual(path[3], [[30, 0], [5, 6]]);
  assert.deepEqual(path[1][1], [5, 6]);
});

test("the JS sampler reproduces the Python engine's samples", { skip: !existsSync(PYTHON_SAMPLES) && "tests/data/trajectory_samples.json is absent" }, () => {
  const cases = JSON.parse(readFileSync(PYTHON_SAMPLES, "utf8")).cases;
  assert.ok(cases.length > 0);
  for (const { name, track, frames, positions } of cases) {
    // Same formulas and the same arc-length table: only the file's 9 printed decimals differ.
    assertClose(sampleTrack(track, frames), positions, 1e-8, name);
  }
});

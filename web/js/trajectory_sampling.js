// Where a track is at every frame: the JS mirror of motion_i2v/tracks/sampling.py (Python is authoritative).
//
// A track is {points: [[x, y], ...], start, end, easing, interpolation} in image pixels. For frame i of F:
//   s = clamp((i - start) / (end - start), 0, 1)    time along the motion (end defaults to F - 1)
//   u = ease(s)                                     fraction of the path covered
//   position = curve(u)
// where curve is the monotone cubic (PCHIP, scipy's PchipInterpolator) through the K control points at
// t_k = k / (K - 1), x and y separately ("pchip", the official demo's click-index parametrisation), or that same
// curve re-parameterised by arc length so the point moves at constant speed ("arc_length").
// Pure module: no DOM, no ComfyUI; ComfyUI imports every .js under web/, so nothing runs at import.

export const EASINGS = ["linear", "ease_in", "ease_out", "ease_in_out"];
export const INTERPOLATIONS = ["pchip", "arc_length"];

// Chords per curve segment in the arc-length table: motion_i2v.tracks.sampling.ARC_LENGTH_STEPS, so both tables agree.
export const ARC_SAMPLES_PER_SEGMENT = 1024;

/** Easing curve `name` applied to s in [0, 1]; every curve maps 0 to 0 and 1 to 1. */
export function ease(name, s) {
  switch (name) {
    case "linear":
      return s;
    case "ease_in":
      return s * s;
    case "ease_out":
      return 1 - (1 - s) * (1 - s);
    case "ease_in_out":
      return s * s * (3 - 2 * s);
    default:
      throw new Error(`easing: expected one of ${EASINGS.join(", ")}, got ${JSON.stringify(name)}`);
  }
}

// scipy's one-sided three-point end slope, kept monotone (PchipInterpolator._edge_case).
function edgeSlope(h0, h1, m0, m1) {
  const d = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1);
  if (Math.sign(d) !== Math.sign(m0)) return 0;
  if (Math.sign(m0) !== Math.sign(m1) && Math.abs(d) > 3 * Math.abs(m0)) return 3 * m0;
  return d;
}

/**
 * PCHIP slopes (Fritsch-Carlson with scipy's weighted harmonic mean and end rule) of values y_k at t_k = k/(K-1).
 * @param {number[]} values K >= 2 samples
 * @returns {number[]} K slopes dy/dt
 */
export function pchipSlopes(values) {
  const count = values.length;
  const h = 1 / (count - 1);
  const secants = [];
  for (let k = 0; k + 1 < count; k++) secants.push((values[k + 1] - values[k]) / h);
  if (count === 2) return [secants[0], secants[0]];
  const slopes = new Array(count).fill(0);
  for (let k = 1; k + 1 < count; k++) {
    const [before, after] = [secants[k - 1], secants[k]];
    // Equal spacing makes scipy's weights w1 = w2 = 3h, so the weighted harmonic mean is the plain one.
    if (before !== 0 && after !== 0 && Math.sign(before) === Math.sign(after)) {
      slopes[k] = 2 / (1 / before + 1 / after);
    }
  }
  slopes[0] = edgeSlope(h, h, secants[0], secants[1]);
  slopes[count - 1] = edgeSlope(h, h, secants[count - 2], secants[count - 3]);
  return slopes;
}

/**
 * The PCHIP curve through `points` as a function of t in [0, 1] (t_k = k/(K-1) at control point k).
 * @param {number[][]} points K >= 1 control points [x, y]
 * @returns {(t: number) => number[]}
 */
export function pchipCurve(points) {
  const count = points.length;
  if (count === 1) return () => [points[0][0], points[0][1]];
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const [dxs, dys] = [pchipSlopes(xs), pchipSlopes(ys)];
  const h = 1 / (count - 1);
  return (t) => {
    const k = Math.min(Math.max(Math.floor(t / h), 0), count - 2);
    const s = Math.min(Math.max((t - k * h) / h, 0), 1);
    // Cubic Hermite basis on [t_k, t_k+1].
    const s2 = s * s;
    const s3 = s2 * s;
    const h00 = 2 * s3 - 3 * s2 + 1;
    const h10 = s3 - 2 * s2 + s;
    const h01 = -2 * s3 + 3 * s2;
    const h11 = s3 - s2;
    const hermite = (v, d) => h00 * v[k] + h * h10 * d[k] + h01 * v[k + 1] + h * h11 * d[k + 1];
    return [hermite(xs, dxs), hermite(ys, dys)];
  };
}

/**
 * The track's path as a function of the covered fraction u in [0, 1], honouring its interpolation.
 * @param {{points: number[][], interpolation?: string}} track
 * @returns {(u: number) => number[]}
 */
export function trackCurve(track) {
  const interpolation = track.interpolation ?? "pchip";
  if (!INTERPOLATIONS.includes(interpolation)) {
    throw new Error(`interpolation: expected one of ${INTERPOLATIONS.join(", ")}, got ${JSON.stringify(interpolation)}`);
  }
  const curve = pchipCurve(track.points);
  if (interpolation === "pchip" || track.points.length === 1) return curve;
  // Arc length: tabulate cumulative chord length over a fine uniform t grid, then invert it piecewise linearly.
  const samples = ARC_SAMPLES_PER_SEGMENT * (track.points.length - 1);
  const lengths = [0];
  let previous = curve(0);
  for (let j = 1; j <= samples; j++) {
    const point = curve(j / samples);
    lengths.push(lengths[j - 1] + Math.hypot(point[0] - previous[0], point[1] - previous[1]));
    previous = point;
  }
  const total = lengths[samples];
  if (total === 0) return curve;
  return (u) => {
    const target = Math.min(Math.max(u, 0), 1) * total;
    let [lo, hi] = [0, samples];
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (lengths[mid] <= target) lo = mid;
      else hi = mid;
    }
    const span = lengths[hi] - lengths[lo];
    const fraction = span > 0 ? (target - lengths[lo]) / span : 0;
    return curve((lo + fraction) / samples);
  };
}

/**
 * Time along the motion at frame i: s = clamp((i - start) / (end - start), 0, 1).
 * @param {number} frame i in 0..frames-1
 * @param {number} frames F
 * @param {{start?: number, end?: number|null}} track start defaults to 0, end to F - 1
 */
export function motionTime(frame, frames, track) {
  const start = track.start ?? 0;
  const end = track.end ?? frames - 1;
  // Python rejects start >= end; the preview still has to draw such a track (e.g. after the frame count
  // shrank below its start) until the editor's warning is acted on, so it jumps at `start`.
  if (end <= start) return frame >= start ? 1 : 0;
  return Math.min(Math.max((frame - start) / (end - start), 0), 1);
}

/**
 * Positions of one track at every frame.
 * @returns {number[][]} F positions [x, y] in pixels
 */
export function sampleTrack(track, frames) {
  const curve = trackCurve(track);
  const easing = track.easing ?? "linear";
  const positions = [];
  for (let frame = 0; frame < frames; frame++) positions.push(curve(ease(easing, motionTime(frame, frames, track))));
  return positions;
}

/**
 * Positions of every track at every frame, laid out like TRACKS' track_path.
 * @returns {number[][][]} [F][N][2] pixels
 */
export function sampleTracks(tracks, frames) {
  const perTrack = tracks.map((track) => sampleTrack(track, frames));
  return Array.from({ length: frames }, (_, frame) => perTrack.map((positions) => positions[frame]));
}

// The trajectory document behind the editor: tracks of control points, per-track timing, the motion brush,
// the versioned JSON string it is saved as, and the undo history. Pure module: no DOM, no ComfyUI.
//
// Widget value (version 1, the schema motion_i2v/tracks/parsing.py parses):
//   {"version": 1, "width": W, "height": H,
//    "tracks": [{"points": [[x, y], ...], "start": 0, "end": null, "easing": "linear", "interpolation": "pchip"}],
//    "brush": {"strokes": [{"points": [[x, y], ...], "radius": 24, "erase": false}]}}
// Coordinates are image pixels (origin top-left, x right, y down) inside [0, W-1] x [0, H-1].
//
// The edge rule, the same as motion_i2v/tracks/canvas.py and for every source: a point at most edgeMargin(side)
// beyond an edge is moved onto it (a spline drawn to the edge ends there); a point further out is refused. A brush
// radius is at most the canvas diagonal (a larger one paints nothing more).

import { EASINGS, INTERPOLATIONS } from "./trajectory_sampling.js";
import { SHARED } from "./tracks_shared.js";

export const SCHEMA_VERSION = 1;
export const DEFAULT_WIDTH = 512;
export const DEFAULT_HEIGHT = 320;
export const DEFAULT_BRUSH_RADIUS = 24;

const TRACK_DEFAULTS = { start: 0, end: null, easing: "linear", interpolation: "pchip" };
// Two decimals of a pixel: finer than any drawing, short enough to read the JSON.
const round = (v) => Math.round(v * 100) / 100;
// A coordinate as Python prints round(v, 2): 600.0, 10.25.
const shown = (v) => (Number.isInteger(round(v)) ? round(v).toFixed(1) : String(round(v)));

function fail(message) {
  throw new Error(`trajectories: ${message}`);
}

/** How far beyond an edge of a `side`-pixel axis a point is still moved onto it, in pixels. */
export const edgeMargin = (side) => Math.max(SHARED.edge_margin.fraction * side, SHARED.edge_margin.pixels);

/** [x, y] under the edge rule on a width x height canvas: moved onto it, or an Error naming it (`where`). */
export function placePoint([x, y], width, height, where) {
  const [mx, my] = [edgeMargin(width), edgeMargin(height)];
  if (x < -mx || x > width - 1 + mx || y < -my || y > height - 1 + my) {
    fail(`${where} is at (${shown(x)}, ${shown(y)}), outside the ${width}x${height} canvas`);
  }
  return [Math.min(Math.max(x, 0), width - 1), Math.min(Math.max(y, 0), height - 1)];
}

// A point as [x, y] from [x, y] or KJNodes' {x, y}.
function readPoint(raw, where) {
  const xy = Array.isArray(raw) ? raw : raw && typeof raw === "object" ? [raw.x, raw.y] : null;
  if (!xy || xy.length !== 2 || !xy.every((v) => typeof v === "number" && Number.isFinite(v))) {
    fail(`${where} should be [x, y] numbers, got ${JSON.stringify(raw)}`);
  }
  return [xy[0], xy[1]];
}

function readFrame(raw, name, where) {
  if (raw === null || raw === undefined) return name === "start" ? 0 : null;
  if (!Number.isInteger(raw) || raw < 0) fail(`${where} ${name} should be a frame index >= 0, got ${JSON.stringify(raw)}`);
  return raw;
}

function readChoice(raw, name, choices, where) {
  if (raw === undefined || raw === null) return TRACK_DEFAULTS[name];
  if (!choices.includes(raw)) fail(`${where} ${name} should be one of ${choices.join(", ")}, got ${JSON.stringify(raw)}`);
  return raw;
}

// A track from a version-1 object, or from a bare list of points (the pre-version layout and KJNodes' lists).
function readTrack(raw, index) {
  const where = `track ${index}`;
  const options = Array.isArray(raw) ? {} : raw;
  const points = Array.isArray(raw) ? raw : raw?.points;
  if (!Array.isArray(points) || points.length === 0) fail(`${where} needs at least one point, got ${JSON.stringify(raw)}`);
  const track = {
    points: points.map((p, k) => readPoint(p, `point ${k} of ${where}`)),
    start: readFrame(options.start, "start", where),
    end: readFrame(options.end, "end", where),
    easing: readChoice(options.easing, "easing", EASINGS, where),
    interpolation: readChoice(options.interpolation, "interpolation", INTERPOLATIONS, where),
  };
  checkWindow(track, where);
  return track;
}

// The motion window must be non-empty, as motion_i2v.tracks.value.DrawnTrack demands.
function checkWindow(track, where) {
  if (track.end !== null && track.end <= track.start) {
    fail(`${where} end should be null or a frame after start ${track.start}, got ${track.end}`);
  }
}

function readStroke(raw, index) {
  const where = `brush stroke ${index}`;
  if (!raw || !Array.isArray(raw.points) || raw.points.length === 0) fail(`${where} needs points, got ${JSON.stringify(raw)}`);
  if (typeof raw.radius !== "number" || !(raw.radius > 0)) fail(`${where} radius should be > 0, got ${JSON.stringify(raw.radius)}`);
  return { points: raw.points.map((p, k) => readPoint(p, `point ${k} of ${where}`)), radius: raw.radius, erase: raw.erase === true };
}

// KJNodes coordinate strings: one track [{x,y}, ...], several [[{x,y}, ...], ...], or a list of such strings.
function foreignTracks(list) {
  if (list.length === 0) return [];
  if (list.every((item) => typeof item === "string")) return list.flatMap((text) => foreignTracks(asList(parseText(text))));
  const isPoint = (item) => !Array.isArray(item) || (item.length === 2 && item.every((v) => typeof v === "number"));
  return list.every(isPoint) ? [list] : list;
}

function asList(parsed) {
  if (!Array.isArray(parsed)) fail(`a coordinate string should hold a list, got ${JSON.stringify(parsed)}`);
  return parsed;
}

function parseText(text) {
  try {
    return JSON.parse(text);
  } catch (error) {
    // KJNodes' Python writes single-quoted strings; accept them as its parse_json_tracks does.
    try {
      return JSON.parse(text.replaceAll("'", '"'));
    } catch {
      fail(`the value is not JSON (${error.message}): ${text.slice(0, 80)}`);
    }
  }
}

function readSize(raw, name) {
  if (!Number.isInteger(raw) || raw < 1) fail(`${name} should be an integer >= 1, got ${JSON.stringify(raw)}`);
  return raw;
}

export class TrajectoryModel {
  /** An empty document for a width x height image. */
  constructor(width = DEFAULT_WIDTH, height = DEFAULT_HEIGHT) {
    this.width = readSize(width, "width");
    this.height = readSize(height, "height");
    this.tracks = [];
    this.strokes = [];
  }

  /**
   * Read a widget value: our versioned JSON (string or object), the pre-version object (no "version", tracks as
   * bare point lists) or KJNodes coordinates. Those carry no canvas: they are pixels of `source` ([w, h]; default
   * width x height) stretched to width x height, and with `anchors` every point is a still anchor (PointsEditor)
   * instead of a list being one track (the node's source_size and point_lists). Points follow the edge rule.
   * Throws an Error naming what is wrong; it never guesses.
   */
  static parse(value, width = DEFAULT_WIDTH, height = DEFAULT_HEIGHT, { source = null, anchors = false } = {}) {
    if (value === undefined || value === null || (typeof value === "string" && value.trim() === "")) {
      return new TrajectoryModel(width, height);
    }
    const data = typeof value === "string" ? parseText(value) : value;
    if (Array.isArray(data)) {
      const model = new TrajectoryModel(...(source ?? [width, height]));
      const lists = foreignTracks(data);
      model.tracks = (anchors ? lists.flatMap((points) => points.map((p) => [p])) : lists).map(readTrack);
      return model.placeAll().rescale(width, height);
    }
    if (!data || typeof data !== "object") fail(`expected a JSON object, got ${JSON.stringify(data)}`);
    const version = data.version ?? 0;
    if (!Number.isInteger(version) || version < 0 || version > SCHEMA_VERSION) {
      fail(`unknown version ${JSON.stringify(data.version)}; this editor reads versions up to ${SCHEMA_VERSION}`);
    }
    if (!Array.isArray(data.tracks ?? [])) fail(`"tracks" should be a list, got ${JSON.stringify(data.tracks)}`);
    const model = new TrajectoryModel(readSize(data.width ?? width, "width"), readSize(data.height ?? height, "height"));
    model.tracks = (data.tracks ?? []).map(readTrack);
    model.strokes = (data.brush?.strokes ?? []).map(readStroke);
    return model.placeAll();
  }

  /**
   * Whether `value` is already our current JSON. Anything else that parse() reads (the unversioned layout,
   * KJNodes coordinates) is what the editor converts and saves back, since the Python node reads only the current one.
   */
  static isCurrent(value) {
    if (typeof value !== "string") return value?.version === SCHEMA_VERSION;
    try {
      return JSON.parse(value)?.version === SCHEMA_VERSION;
    } catch {
      return false;
    }
  }

  /** The version-1 object; tracks without points (a new track not yet clicked) are left out. */
  toJSON() {
    return {
      version: SCHEMA_VERSION,
      width: this.width,
      height: this.height,
      tracks: this.tracks
        .filter((track) => track.points.length > 0)
        .map((track) => ({ ...track, points: track.points.map(([x, y]) => [round(x), round(y)]) })),
      brush: {
        strokes: this.strokes.map((s) => ({ points: s.points.map(([x, y]) => [round(x), round(y)]), radius: round(s.radius), erase: s.erase })),
      },
    };
  }

  /** The widget value: one JSON string. */
  serialize() {
    return JSON.stringify(this.toJSON());
  }

  /** [x, y] moved inside [0, W-1] x [0, H-1]. */
  clamp([x, y]) {
    return [Math.min(Math.max(x, 0), this.width - 1), Math.min(Math.max(y, 0), this.height - 1)];
  }

  /** The largest brush radius that means anything here: the canvas diagonal. */
  get diagonal() {
    return Math.hypot(this.width, this.height);
  }

  /** Every point under the edge rule, every radius at most the diagonal; throws naming the first that is not. */
  placeAll() {
    const place = (points, where) => points.map((p, k) => placePoint(p, this.width, this.height, `point ${k} of ${where}`));
    this.tracks.forEach((track, k) => (track.points = place(track.points, `track ${k}`)));
    this.strokes.forEach((stroke, k) => {
      if (stroke.radius > this.diagonal) {
        fail(`brush stroke ${k}: radius ${stroke.radius} is more than the ${this.width}x${this.height} canvas's diagonal (${this.diagonal.toFixed(1)} pixels)`);
      }
      stroke.points = place(stroke.points, `brush stroke ${k}`);
    });
    return this;
  }

  /** Move everything to a width x height image: points scale per axis, brush radii by sqrt(sx * sy) (at most the diagonal). */
  rescale(width, height) {
    const [sx, sy] = [readSize(width, "width") / this.width, readSize(height, "height") / this.height];
    const scale = ([x, y]) => this.clamp([x * sx, y * sy]);
    [this.width, this.height] = [width, height];
    for (const track of this.tracks) track.points = track.points.map(scale);
    for (const stroke of this.strokes) {
      stroke.points = stroke.points.map(scale);
      stroke.radius = Math.min(stroke.radius * Math.sqrt(sx * sy), this.diagonal);
    }
    return this;
  }

  /** Append a track (default options) and return its index. */
  addTrack(points = []) {
    this.tracks.push({ points: points.map((p) => this.clamp(p)), ...TRACK_DEFAULTS });
    return this.tracks.length - 1;
  }

  deleteTrack(trackIndex) {
    this.tracks.splice(trackIndex, 1);
  }

  /** Insert a point before index `pointIndex` (= length appends); returns its index. */
  insertPoint(trackIndex, pointIndex, xy) {
    this.tracks[trackIndex].points.splice(pointIndex, 0, this.clamp(xy));
    return pointIndex;
  }

  movePoint(trackIndex, pointIndex, xy) {
    this.tracks[trackIndex].points[pointIndex] = this.clamp(xy);
  }

  /** Remove a point; a track left without points goes too. Returns whether the track was removed. */
  deletePoint(trackIndex, pointIndex) {
    const track = this.tracks[trackIndex];
    track.points.splice(pointIndex, 1);
    if (track.points.length > 0) return false;
    this.deleteTrack(trackIndex);
    return true;
  }

  /** Set start, end, easing or interpolation of a track, validated like parse(). */
  setTrackOption(trackIndex, name, value) {
    const where = `track ${trackIndex}`;
    const track = this.tracks[trackIndex];
    if (name === "start" || name === "end") {
      const frame = readFrame(value, name, where);
      checkWindow({ ...track, [name]: frame }, where);
      track[name] = frame;
    } else if (name === "easing") track.easing = readChoice(value, name, EASINGS, where);
    else if (name === "interpolation") track.interpolation = readChoice(value, name, INTERPOLATIONS, where);
    else fail(`unknown track option ${JSON.stringify(name)}`);
  }

  /** Start a brush stroke at xy (the radius cut to the diagonal); returns its index. */
  addStroke(xy, radius, erase) {
    if (!(radius > 0)) fail(`brush radius should be > 0, got ${radius}`);
    this.strokes.push({ points: [this.clamp(xy)], radius: Math.min(radius, this.diagonal), erase: Boolean(erase) });
    return this.strokes.length - 1;
  }

  extendStroke(strokeIndex, xy) {
    this.strokes[strokeIndex].points.push(this.clamp(xy));
  }

  /** Remove every track and stroke; the size stays. */
  clear() {
    this.tracks = [];
    this.strokes = [];
  }
}

/**
 * Paint one segment of a stroke into a mask: pixel (col, row) takes `value` iff its centre (col + 0.5, row + 0.5)
 * lies within `radius` of the segment a-b (a == b paints a disk). Only the segment's bounding box is visited.
 * @param {Uint8Array} mask H*W, row-major
 * @returns {number[]} the touched box [col0, row0, col1, row1] (exclusive ends), empty when outside the image
 */
export function paintSegment(mask, width, height, a, b, radius, value) {
  const col0 = Math.max(0, Math.floor(Math.min(a[0], b[0]) - radius - 0.5));
  const row0 = Math.max(0, Math.floor(Math.min(a[1], b[1]) - radius - 0.5));
  const col1 = Math.min(width, Math.ceil(Math.max(a[0], b[0]) + radius + 0.5));
  const row1 = Math.min(height, Math.ceil(Math.max(a[1], b[1]) + radius + 0.5));
  const [dx, dy] = [b[0] - a[0], b[1] - a[1]];
  const lengthSquared = dx * dx + dy * dy;
  const radiusSquared = radius * radius;
  for (let row = row0; row < row1; row++) {
    for (let col = col0; col < col1; col++) {
      const [px, py] = [col + 0.5 - a[0], row + 0.5 - a[1]];
      const along = lengthSquared > 0 ? Math.min(Math.max((px * dx + py * dy) / lengthSquared, 0), 1) : 0;
      const [ex, ey] = [px - along * dx, py - along * dy];
      if (ex * ex + ey * ey <= radiusSquared) mask[row * width + col] = value;
    }
  }
  return [col0, row0, Math.max(col0, col1), Math.max(row0, row1)];
}

/** Paint a whole stroke (all its segments; one point is a disk) into `mask`. */
export function paintStroke(mask, width, height, stroke) {
  const value = stroke.erase ? 0 : 1;
  const { points, radius } = stroke;
  if (points.length === 1) paintSegment(mask, width, height, points[0], points[0], radius, value);
  for (let k = 0; k + 1 < points.length; k++) paintSegment(mask, width, height, points[k], points[k + 1], radius, value);
}

/**
 * The motion-brush mask the Python node outputs: 1 = painted (may move), strokes applied in order.
 * @returns {Uint8Array|null} H*W row-major, or null when there are no strokes (no brush: everything may move)
 */
export function rasterizeBrush(model) {
  if (model.strokes.length === 0) return null;
  const mask = new Uint8Array(model.width * model.height);
  for (const stroke of model.strokes) paintStroke(mask, model.width, model.height, stroke);
  return mask;
}

/** Undo/redo over serialized snapshots (strings), so a restored state is exactly what was saved. */
export class History {
  constructor(limit = 200) {
    this.limit = limit;
    this.states = [];
    this.index = -1;
  }

  /** Forget everything; `snapshot` becomes the only state. */
  reset(snapshot) {
    this.states = [snapshot];
    this.index = 0;
  }

  /** Record a new state after the current one (drops the redo branch); identical states are not recorded. */
  push(snapshot) {
    if (this.states[this.index] === snapshot) return false;
    this.states.splice(this.index + 1, Infinity, snapshot);
    if (this.states.length > this.limit) this.states.shift();
    this.index = this.states.length - 1;
    return true;
  }

  get canUndo() {
    return this.index > 0;
  }

  get canRedo() {
    return this.index < this.states.length - 1;
  }

  /** The previous snapshot, or null at the oldest. */
  undo() {
    return this.canUndo ? this.states[--this.index] : null;
  }

  /** The next snapshot, or null at the newest. */
  redo() {
    return this.canRedo ? this.states[++this.index] : null;
  }
}

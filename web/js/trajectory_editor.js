// The trajectory editor: draw tracks, anchors and a motion brush over an image. Knows a parent element, an image
// size, a value and an onChange(value) callback; nothing of ComfyUI (motion_i2v.js is the glue).
//
//   const editor = new TrajectoryEditor(parent, { width: 512, height: 320, value, frames: 16, onChange });
//   editor.value            the versioned JSON string (trajectory_model.js)
//   editor.setValue(text)   load a value (unversioned and KJNodes values are converted, then reported via onChange)
//   editor.setBackground(image | null)   an <img>/canvas/ImageBitmap; another size rescales the drawing
//   editor.setSize(width, height)        rescale the drawing to another image size without a picture
//   editor.setFrames(n), editor.destroy(), and the commands in COMMANDS (each ends in commit()).
//   editor.setForeignFormat({source, anchors})   how KJNodes coordinates read (TrajectoryModel.parse)
//   editor.setLinked(true | false)       the node runs on a linked value: the drawing is shown as unused and
//                                        cannot be edited (the frame slider still works)
//
// Points live in image pixels. The one pair fromEvent/view.toCanvas maps between them and the canvas through
// getBoundingClientRect, so CSS zoom (ComfyUI scales DOM widgets with the graph) changes nothing.

import { DEFAULT_BRUSH_RADIUS, DEFAULT_HEIGHT, DEFAULT_WIDTH, History, TrajectoryModel } from "./trajectory_model.js";
import { EASINGS, INTERPOLATIONS } from "./trajectory_sampling.js";
import { BRUSH_RADIUS_RANGE, COMMANDS, MODES, keyCombo, keyLabel, shortcutHelp } from "./trajectory_commands.js";
import { BrushLayer, curvePolyline, drawScene, trackColor } from "./trajectory_render.js";
import { adoptStyle, releaseStyle } from "./trajectory_style.js";

export { COMMANDS, MODES, shortcutHelp };

const HIT_RADIUS = 10; // screen pixels, whatever the zoom
// What still works while the value is linked: looking, not editing.
const VIEW_COMMANDS = new Set(["previousFrame", "nextFrame", "previousTrack", "nextTrack"]);
const LINKED_NOTE = "trajectories is linked to another node: the node runs on that value, not on this drawing.";

function element(tag, attributes = {}, children = []) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value;
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

export class TrajectoryEditor {
  /**
   * @param {HTMLElement} parent the editor appends its root element here
   * @param {{width?: number, height?: number, value?: string, frames?: number, onChange?: (value: string) => void}} options
   *   width x height is the image size used until a value or a background says otherwise
   */
  constructor(parent, { width = DEFAULT_WIDTH, height = DEFAULT_HEIGHT, value = "", frames = 16, onChange = () => {} } = {}) {
    this.onChange = onChange;
    this.frames = Math.max(1, frames);
    this.frame = 0;
    this.mode = "track";
    this.brushRadius = DEFAULT_BRUSH_RADIUS;
    this.selection = { track: -1, point: -1 };
    [this.hover, this.insert, this.pointer, this.drag, this.background] = [null, null, null, null, null];
    this.message = "";
    this.linked = false;
    this.foreign = {}; // {source, anchors}: how KJNodes coordinates are read
    this.raw = null; // a value that failed to parse, kept as the value until the first edit
    this.history = new History();
    this.brush = new BrushLayer();
    this.keymap = new Map(COMMANDS.flatMap((command) => command.keys.map((key) => [key, command])));
    this.cleanups = [];
    this.model = new TrajectoryModel(width, height);
    this.build(parent);
    this.setValue(value);
  }

  // ----- value ---------------------------------------------------------------------------------------------------

  /** The widget value: the versioned JSON string (or, until the first edit, a value that failed to load). */
  get value() {
    return this.raw ?? this.model.serialize();
  }

  /** Load a value from outside; it is not an edit (history restarts, onChange only if it had to be converted). */
  setValue(value) {
    let upgraded = false;
    try {
      this.load(TrajectoryModel.parse(value, this.model.width, this.model.height, this.foreign));
      [this.raw, this.message] = [null, ""];
      upgraded = Boolean(value) && !TrajectoryModel.isCurrent(value);
    } catch (error) {
      this.load(new TrajectoryModel(this.model.width, this.model.height));
      [this.raw, this.message] = [value, `Could not load the saved trajectories: ${error.message}`];
    }
    this.selection = { track: this.model.tracks.length - 1, point: -1 };
    this.fitToBackground();
    this.history.reset(this.model.serialize());
    this.emitted = upgraded ? null : this.model.serialize();
    this.commit();
  }

  /** Show `image` (HTMLImageElement, canvas or ImageBitmap; null clears) and move the drawing onto its size. */
  setBackground(image) {
    this.background = image ?? null;
    if (this.fitToBackground()) this.history.reset(this.model.serialize()); // undo does not cross a size change
    this.commit();
  }

  /** Move the drawing onto a width x height image (the node's size widgets when no image is shown). */
  setSize(width, height) {
    if (this.resizeModel(width, height)) this.history.reset(this.model.serialize());
    this.commit();
  }

  /** How coordinates without a canvas read from now on: `source` [w, h] or null (the image), `anchors`. */
  setForeignFormat({ source = null, anchors = false } = {}) {
    this.foreign = { source, anchors };
  }

  /** Whether the node's value comes from a link: then this drawing is not used, and says so. */
  setLinked(linked) {
    this.linked = Boolean(linked);
    this.root.classList.toggle("mi2v-linked", this.linked);
    if (this.linked) [this.drag, this.hover, this.insert] = [null, null, null];
    this.commit();
  }

  /** The frame count the preview samples (the node's `frames` widget). */
  setFrames(frames) {
    this.frames = Math.max(1, Math.round(frames));
    this.frame = Math.min(this.frame, this.frames - 1);
    this.commit();
  }

  load(model) {
    this.model = model;
    this.brush.rebuild(model);
    const { track, point } = this.selection;
    const kept = Math.min(track, model.tracks.length - 1);
    this.selection = { track: kept, point: kept >= 0 ? Math.min(point, model.tracks[kept].points.length - 1) : -1 };
  }

  fitToBackground() {
    if (!this.background) return false;
    return this.resizeModel(this.background.naturalWidth || this.background.width, this.background.naturalHeight || this.background.height);
  }

  resizeModel(width, height) {
    if (!width || !height || (width === this.model.width && height === this.model.height)) return false;
    this.model.rescale(width, height);
    this.brush.rebuild(this.model);
    return true;
  }

  /** Record the state (one undo step), tell onChange if the value changed, refresh controls and canvas. */
  commit() {
    const value = this.model.serialize();
    this.history.push(value);
    if (value !== this.emitted) {
      [this.emitted, this.raw] = [value, null];
      this.onChange(value);
    }
    this.syncControls();
    this.requestRender();
  }

  // ----- commands (each ends in one commit) ------------------------------------------------------------------------

  setMode(mode) {
    if (!MODES.includes(mode)) throw new Error(`mode: expected one of ${MODES.join(", ")}, got ${JSON.stringify(mode)}`);
    this.mode = mode;
    // Track mode appends to the selected track; an anchor is rarely meant to grow, so start afresh.
    if (mode === "track" && this.model.tracks[this.selection.track]?.points.length === 1) this.select(-1, -1);
    this.commit();
  }

  newTrack() {
    this.select(this.emptyTrack(), -1);
    if (this.mode !== "track" && this.mode !== "anchor") this.mode = "track";
    this.commit();
  }

  deleteTrack() {
    const { track } = this.selection;
    if (track >= 0) {
      this.model.deleteTrack(track);
      this.selection = { track: Math.min(track, this.model.tracks.length - 1), point: -1 };
    }
    this.commit();
  }

  /** Delete a point (by default the selected one); a track losing its last point goes too. */
  deletePoint(track = this.selection.track, point = this.selection.point) {
    if (this.model.tracks[track]?.points[point]) {
      const trackGone = this.model.deletePoint(track, point);
      const kept = trackGone ? Math.min(track, this.model.tracks.length - 1) : track;
      this.selection = { track: kept, point: trackGone ? -1 : Math.min(point, this.model.tracks[track].points.length - 1) };
      this.hover = null;
    }
    this.commit();
  }

  undo() {
    const snapshot = this.history.undo();
    if (snapshot !== null) this.load(TrajectoryModel.parse(snapshot));
    this.commit();
  }

  redo() {
    const snapshot = this.history.redo();
    if (snapshot !== null) this.load(TrajectoryModel.parse(snapshot));
    this.commit();
  }

  clear() {
    this.model.clear();
    this.brush.rebuild(this.model);
    this.selection = { track: -1, point: -1 };
    this.commit();
  }

  setBrushRadius(radius) {
    const [low, high] = BRUSH_RADIUS_RANGE;
    if (Number.isFinite(radius)) this.brushRadius = Math.min(Math.max(Math.round(radius), low), high);
    this.commit();
  }

  /** Set start, end, easing or interpolation of the selected track; a bad value is reported, not applied. */
  setTrackOption(name, value) {
    this.message = "";
    if (this.model.tracks[this.selection.track]?.points.length) {
      try {
        this.model.setTrackOption(this.selection.track, name, value);
      } catch (error) {
        this.message = error.message;
      }
    }
    this.commit();
  }

  /** Select track `index` (wrapping around). */
  selectTrack(index) {
    const count = this.model.tracks.filter((t) => t.points.length > 0).length;
    if (count > 0) this.select(((index % count) + count) % count, -1);
    this.commit();
  }

  setFrame(frame) {
    this.frame = Math.min(Math.max(Math.round(frame), 0), this.frames - 1);
    this.commit();
  }

  // ----- selection helpers -------------------------------------------------------------------------------------------

  // Only the last track may be empty (a new track not clicked yet); selecting away from it drops it, so the
  // colours on screen match the saved order.
  select(track, point) {
    const last = this.model.tracks.length - 1;
    if (last >= 0 && track !== last && this.model.tracks[last].points.length === 0) this.model.deleteTrack(last);
    this.selection = { track, point };
  }

  emptyTrack() {
    const last = this.model.tracks.length - 1;
    return last >= 0 && this.model.tracks[last].points.length === 0 ? last : this.model.addTrack();
  }

  // ----- geometry ----------------------------------------------------------------------------------------------------

  layout() {
    const { width, height } = this.canvas;
    const scale = Math.min(width / this.model.width, height / this.model.height) || 1;
    const offsetX = (width - this.model.width * scale) / 2;
    const offsetY = (height - this.model.height * scale) / 2;
    const unit = window.devicePixelRatio || 1;
    this.view = { scale, unit, offsetX, offsetY, toCanvas: ([x, y]) => [offsetX + x * scale, offsetY + y * scale] };
  }

  /** Image pixels under a pointer event (not clamped). */
  fromEvent(event) {
    this.layout(); // the image size may have changed since the last frame was drawn
    const rect = this.canvas.getBoundingClientRect();
    const cx = ((event.clientX - rect.left) * this.canvas.width) / rect.width;
    const cy = ((event.clientY - rect.top) * this.canvas.height) / rect.height;
    this.screenToImage = this.canvas.width / rect.width / this.view.scale;
    return [(cx - this.view.offsetX) / this.view.scale, (cy - this.view.offsetY) / this.view.scale];
  }

  /** The point within HIT_RADIUS screen pixels of `at`, the selected track first. */
  hitPoint(at) {
    const limit = HIT_RADIUS * this.screenToImage;
    let best = null;
    const order = this.model.tracks.map((_, i) => i).sort((a, b) => (b === this.selection.track) - (a === this.selection.track));
    for (const track of order) {
      this.model.tracks[track].points.forEach(([x, y], point) => {
        const distance = Math.hypot(x - at[0], y - at[1]);
        if (distance <= limit && (!best || distance < best.distance - 1e-9)) best = { track, point, distance };
      });
    }
    return best && { track: best.track, point: best.point };
  }

  /** Where a click at `at` would insert a point on a track's curve: {track, point (insert index), at}, or null. */
  hitCurve(at) {
    const limit = HIT_RADIUS * this.screenToImage;
    for (const [track, { points }] of this.model.tracks.entries()) {
      if (points.length < 2) continue;
      const line = curvePolyline(points);
      const steps = (line.length - 1) / (points.length - 1);
      for (let j = 0; j + 1 < line.length; j++) {
        const [a, b] = [line[j], line[j + 1]];
        const [dx, dy] = [b[0] - a[0], b[1] - a[1]];
        const along = Math.min(Math.max(((at[0] - a[0]) * dx + (at[1] - a[1]) * dy) / (dx * dx + dy * dy || 1), 0), 1);
        const foot = [a[0] + along * dx, a[1] + along * dy];
        if (Math.hypot(foot[0] - at[0], foot[1] - at[1]) <= limit) return { track, point: Math.floor(j / steps) + 1, at: foot };
      }
    }
    return null;
  }

  // ----- input -------------------------------------------------------------------------------------------------------

  onPointerDown(event) {
    if (event.button !== 0 && event.button !== 2) return; // middle button: leave it to the host (panning)
    event.stopPropagation(); // the graph must not drag the node or pan under the editor
    event.preventDefault();
    this.root.focus({ preventScroll: true });
    if (this.drag || this.linked) return;
    const at = this.fromEvent(event);
    if (event.button === 2) {
      const hit = this.hitPoint(at);
      if (hit) this.deletePoint(hit.track, hit.point);
      return;
    }
    this.canvas.setPointerCapture(event.pointerId);
    if (this.mode === "brush" || this.mode === "erase") {
      const erase = this.mode === "erase";
      const stroke = this.model.addStroke(at, this.brushRadius, erase);
      const start = this.model.strokes[stroke].points[0];
      this.brush.paint(start, start, this.brushRadius, erase);
      this.drag = { stroke, last: start };
    } else {
      const target = this.grab(at);
      this.select(target.track, target.point);
      this.drag = target;
    }
    this.hover = null;
    this.requestRender();
  }

  // The point a press at `at` grabs: an existing one, one inserted on a curve, or a new one.
  grab(at) {
    const hit = this.hitPoint(at);
    if (hit) return hit;
    const onCurve = this.mode === "track" ? this.hitCurve(at) : null;
    if (onCurve) return { track: onCurve.track, point: this.model.insertPoint(onCurve.track, onCurve.point, onCurve.at) };
    const { track } = this.selection;
    const extend = this.mode === "track" && track >= 0 && this.model.tracks[track];
    const target = extend ? track : this.emptyTrack();
    return { track: target, point: this.model.insertPoint(target, this.model.tracks[target].points.length, at) };
  }

  onPointerMove(event) {
    const at = this.fromEvent(event);
    this.pointer = at;
    if (this.drag && "stroke" in this.drag) {
      const { stroke, last } = this.drag;
      const spacing = Math.max(1, this.model.strokes[stroke].radius / 4); // keeps the JSON short, the mask smooth
      if (Math.hypot(at[0] - last[0], at[1] - last[1]) >= spacing) this.extendStroke(at);
    } else if (this.drag) {
      this.model.movePoint(this.drag.track, this.drag.point, at);
    } else if (!this.linked) {
      this.hover = this.mode === "track" || this.mode === "anchor" ? this.hitPoint(at) : null;
      this.insert = this.mode === "track" && !this.hover ? this.hitCurve(at)?.at ?? null : null;
    }
    // The pointer tells what a press would do: grab a point, insert one, paint (the drawn ring), or add one.
    const painting = this.mode === "brush" || this.mode === "erase";
    this.canvas.style.cursor = this.linked ? "not-allowed" : painting ? "none" : this.drag ? "grabbing" : this.hover ? "grab" : this.insert ? "copy" : "crosshair";
    this.syncReadout();
    this.requestRender();
  }

  extendStroke(at) {
    const { stroke, last } = this.drag;
    this.model.extendStroke(stroke, at);
    const { points, radius, erase } = this.model.strokes[stroke];
    this.brush.paint(last, points[points.length - 1], radius, erase);
    this.drag.last = points[points.length - 1];
  }

  onPointerUp(event) {
    if (!this.drag) return;
    if ("stroke" in this.drag) {
      const at = this.fromEvent(event);
      if (Math.hypot(at[0] - this.drag.last[0], at[1] - this.drag.last[1]) > 0.5) this.extendStroke(at);
    }
    this.drag = null;
    this.commit();
  }

  onPointerLeave() {
    if (this.drag) return;
    [this.pointer, this.hover, this.insert] = [null, null, null];
    this.syncReadout();
    this.requestRender();
  }

  onKeyDown(event) {
    if (event.target.closest("input, select, textarea")) return; // typing in a field
    const command = this.keymap.get(keyCombo(event));
    if (!command || (this.linked && !VIEW_COMMANDS.has(command.id))) return;
    event.preventDefault();
    event.stopPropagation(); // Delete and Ctrl+Z mean the editor here, not the graph
    command.run(this);
  }

  // ----- DOM ---------------------------------------------------------------------------------------------------------

  listen(target, type, handler, options) {
    target.addEventListener(type, handler, options);
    this.cleanups.push(() => target.removeEventListener(type, handler, options));
  }

  build(parent) {
    adoptStyle();
    this.root = element("div", { class: "mi2v-editor", tabindex: "0" });
    this.buttons = {};
    const button = (id) => {
      const command = COMMANDS.find((c) => c.id === id);
      const keys = command.keys.map(keyLabel).join(" / ");
      const node = element("button", { type: "button", "data-command": id, title: `${command.help} (${keys})`, text: command.label });
      this.listen(node, "click", () => this.linked || command.run(this));
      this.buttons[id] = node;
      return node;
    };
    const gap = () => element("span", { class: "mi2v-gap" });
    this.radiusInput = element("input", { type: "number", min: String(BRUSH_RADIUS_RANGE[0]), max: String(BRUSH_RADIUS_RANGE[1]), "data-option": "radius", title: "brush radius in image pixels ([ and ])" });
    this.listen(this.radiusInput, "change", () => this.setBrushRadius(Number(this.radiusInput.value)));
    const help = element("button", { type: "button", title: shortcutHelp(), text: "?" });
    const tools = element("div", { class: "mi2v-row" }, [
      ...MODES.map(button), gap(), button("newTrack"), button("deleteTrack"), gap(), button("undo"), button("redo"), button("clear"),
      gap(), element("label", { text: "r " }, [this.radiusInput]), help,
    ]);

    this.swatch = element("span", { class: "mi2v-swatch" });
    this.trackLabel = element("span");
    this.options = {
      start: element("input", { type: "number", min: "0", step: "1", "data-option": "start", title: "frame where the motion starts" }),
      end: element("input", { type: "number", min: "1", step: "1", placeholder: "last", "data-option": "end", title: "frame where the motion ends (empty: the last frame)" }),
      easing: element("select", { "data-option": "easing", title: "how the motion speeds up and slows down" }, EASINGS.map((name) => element("option", { value: name, text: name.replaceAll("_", " ") }))),
      interpolation: element("select", { "data-option": "interpolation", title: "pchip: the official demo's timing (spacing of points sets speed); arc length: constant speed" },
        INTERPOLATIONS.map((name) => element("option", { value: name, text: name.replace("_", " ") }))),
    };
    for (const [name, control] of Object.entries(this.options)) {
      this.listen(control, "change", () => {
        const raw = control.value.trim();
        this.setTrackOption(name, control.tagName === "SELECT" ? raw : raw === "" ? null : Number(raw));
      });
    }
    const trackRow = element("div", { class: "mi2v-row" }, [
      this.swatch, this.trackLabel, gap(),
      element("label", { text: "start " }, [this.options.start]), element("label", { text: "end " }, [this.options.end]),
      this.options.easing, this.options.interpolation,
    ]);

    this.canvas = element("canvas");
    this.context = this.canvas.getContext("2d");
    const stage = element("div", { class: "mi2v-stage" }, [this.canvas]);
    this.frameInput = element("input", { type: "range", min: "0", step: "1", class: "mi2v-frame", "data-role": "frame", title: "scrub: where every point is at this frame (Left / Right)" });
    this.listen(this.frameInput, "input", () => this.setFrame(Number(this.frameInput.value)));
    this.frameLabel = element("span", { class: "mi2v-readout", "data-role": "frame-label" });
    this.readout = element("span", { class: "mi2v-readout", "data-role": "readout" });
    this.messageLine = element("div", { class: "mi2v-message", "data-role": "message" });
    const footer = element("div", { class: "mi2v-row" }, [this.frameInput, this.frameLabel, gap(), this.readout]);
    this.root.append(tools, trackRow, stage, footer, this.messageLine);
    parent.append(this.root);

    this.listen(this.canvas, "pointerdown", (e) => this.onPointerDown(e));
    this.listen(this.canvas, "pointermove", (e) => this.onPointerMove(e));
    this.listen(this.canvas, "pointerup", (e) => this.onPointerUp(e));
    this.listen(this.canvas, "pointercancel", (e) => this.onPointerUp(e));
    this.listen(this.canvas, "pointerleave", () => this.onPointerLeave());
    this.listen(this.canvas, "contextmenu", (e) => {
      e.preventDefault();
      e.stopPropagation();
    });
    this.listen(this.root, "pointerdown", (e) => e.stopPropagation());
    this.listen(this.root, "keydown", (e) => this.onKeyDown(e));
    const observer = new ResizeObserver(() => this.resize());
    observer.observe(stage);
    this.cleanups.push(() => observer.disconnect());
    this.stage = stage;
    this.resize();
  }

  resize() {
    const ratio = window.devicePixelRatio || 1;
    const [width, height] = [Math.max(1, Math.round(this.stage.clientWidth * ratio)), Math.max(1, Math.round(this.stage.clientHeight * ratio))];
    if (width !== this.canvas.width || height !== this.canvas.height) [this.canvas.width, this.canvas.height] = [width, height];
    this.layout();
    this.requestRender();
  }

  syncControls() {
    for (const mode of MODES) this.buttons[mode].classList.toggle("mi2v-active", mode === this.mode);
    for (const button of Object.values(this.buttons)) button.disabled = this.linked;
    this.buttons.undo.disabled ||= !this.history.canUndo;
    this.buttons.redo.disabled ||= !this.history.canRedo;
    const { track } = this.selection;
    const selected = this.model.tracks[track];
    const count = this.model.tracks.filter((t) => t.points.length > 0).length;
    this.buttons.deleteTrack.disabled ||= !selected;
    this.swatch.style.background = selected ? trackColor(track) : "transparent";
    this.trackLabel.textContent = !selected ? "no track selected" : selected.points.length === 0 ? `track ${track + 1} (new: click to place)` : `track ${track + 1} of ${count}${selected.points.length === 1 ? " (anchor)" : ""}`;
    for (const [name, control] of Object.entries(this.options)) {
      control.disabled = this.linked || !selected || selected.points.length < 2;
      if (document.activeElement !== control) control.value = selected?.[name] ?? "";
    }
    this.options.start.max = String(Math.max(0, this.frames - 2));
    this.options.end.max = String(this.frames - 1);
    if (document.activeElement !== this.radiusInput) this.radiusInput.value = String(this.brushRadius);
    this.frameInput.max = String(this.frames - 1);
    this.frameInput.value = String(this.frame);
    this.frameLabel.textContent = `frame ${this.frame} / ${this.frames - 1}`;
    this.radiusInput.disabled = this.linked;
    this.messageLine.textContent = [this.linked ? LINKED_NOTE : "", this.message, ...this.timingWarnings()].filter(Boolean).join("\n");
    this.syncReadout();
  }

  // Tracks whose start/end do not fit the frame count: the Python node would refuse them, so say it here first.
  timingWarnings() {
    const last = this.frames - 1;
    return this.model.tracks.flatMap((track, k) => {
      if (track.points.length < 2) return [];
      const end = track.end ?? last;
      return end > last || track.start >= end ? [`track ${k + 1}: start ${track.start} / end ${track.end ?? "last"} do not fit ${this.frames} frames`] : [];
    });
  }

  syncReadout() {
    const point = this.hover ? this.model.tracks[this.hover.track].points[this.hover.point] : this.pointer;
    if (!point) {
      this.readout.textContent = "";
      return;
    }
    const [x, y] = point;
    const where = this.hover ? `track ${this.hover.track + 1} point ${this.hover.point + 1}: ` : "";
    const normalised = `${(x / this.model.width).toFixed(3)}, ${(y / this.model.height).toFixed(3)}`;
    this.readout.textContent = `${where}x ${x.toFixed(1)} y ${y.toFixed(1)} px (${normalised})`;
  }

  requestRender() {
    if (this.renderPending) return;
    this.renderPending = true;
    this.frameRequest = requestAnimationFrame(() => {
      this.renderPending = false;
      this.render();
    });
  }

  render() {
    this.layout();
    const cursorAt = this.pointer && !this.linked && (this.mode === "brush" || this.mode === "erase") ? this.pointer : null;
    drawScene(this.context, this.view, {
      model: this.model,
      background: this.background,
      brush: this.brush,
      selection: this.selection,
      hover: this.hover,
      insert: this.insert,
      frame: this.frame,
      frames: this.frames,
      cursor: cursorAt && { at: cursorAt, radius: this.drag?.stroke !== undefined ? this.model.strokes[this.drag.stroke].radius : this.brushRadius, erase: this.mode === "erase" },
    });
  }

  /** Remove the element and every listener; the editor is unusable afterwards. */
  destroy() {
    cancelAnimationFrame(this.frameRequest);
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    this.root.remove();
    releaseStyle();
  }
}

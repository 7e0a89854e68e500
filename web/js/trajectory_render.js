// Drawing the trajectory editor's canvas: background, motion brush, tracks, frame markers, cursor.
// Canvas 2D only; no ComfyUI. Sizes are given in CSS pixels and multiplied by view.unit (canvas pixels per CSS
// pixel), so markers keep their on-screen size whatever the image size or the node's zoom.

import { paintSegment, paintStroke } from "./trajectory_model.js";
import { pchipCurve, sampleTrack } from "./trajectory_sampling.js";
import { SHARED } from "./tracks_shared.js";

// Track colours and the brush tint are the Python preview's too (tracks_shared.js).
export const TRACK_COLORS = SHARED.palette;
export const trackColor = (index) => TRACK_COLORS[index % TRACK_COLORS.length];

const hexChannel = (hex, at) => parseInt(hex.slice(at, at + 2), 16);
export const BRUSH_RGBA = [1, 3, 5].map((at) => hexChannel(SHARED.brush_tint.color, at)).concat(Math.round(255 * SHARED.brush_tint.opacity));
const CURVE_STEPS = 24; // polyline vertices per segment between control points
const OUTLINE = "rgba(0, 0, 0, 0.75)";

/** Points of the drawn curve through a track's control points (the path both interpolations follow). */
export function curvePolyline(points) {
  const curve = pchipCurve(points);
  const steps = CURVE_STEPS * Math.max(points.length - 1, 1);
  return Array.from({ length: steps + 1 }, (_, j) => curve(j / steps));
}

/** The painted brush as an image-sized RGBA canvas, updated stroke by stroke (what you see is the MASK). */
export class BrushLayer {
  constructor() {
    this.canvas = document.createElement("canvas");
    this.context = this.canvas.getContext("2d");
    this.mask = new Uint8Array(0);
    this.pixels = null;
  }

  /** Repaint every stroke of `model` from scratch. */
  rebuild(model) {
    const { width, height } = model;
    if (this.canvas.width !== width || this.canvas.height !== height) [this.canvas.width, this.canvas.height] = [width, height];
    this.mask = new Uint8Array(width * height);
    this.pixels = this.context.createImageData(width, height);
    for (const stroke of model.strokes) paintStroke(this.mask, width, height, stroke);
    this.flush([0, 0, width, height]);
  }

  /** Paint one new segment a-b of a stroke and refresh only the pixels it touched. */
  paint(a, b, radius, erase) {
    const { width, height } = this.canvas;
    this.flush(paintSegment(this.mask, width, height, a, b, radius, erase ? 0 : 1));
  }

  flush([col0, row0, col1, row1]) {
    const { width } = this.canvas;
    const data = this.pixels.data;
    for (let row = row0; row < row1; row++) {
      for (let col = col0; col < col1; col++) {
        const at = row * width + col;
        const alpha = this.mask[at] ? BRUSH_RGBA[3] : 0;
        data.set([BRUSH_RGBA[0], BRUSH_RGBA[1], BRUSH_RGBA[2], alpha], at * 4);
      }
    }
    if (col1 > col0 && row1 > row0) this.context.putImageData(this.pixels, 0, 0, col0, row0, col1 - col0, row1 - row0);
  }
}

function polyline(ctx, points, toCanvas) {
  ctx.beginPath();
  points.forEach((p, j) => {
    const [x, y] = toCanvas(p);
    if (j === 0) ctx.moveTo(x, y);
    else ctx.lineTo(x, y);
  });
}

function arrowHead(ctx, tip, from, size) {
  const angle = Math.atan2(tip[1] - from[1], tip[0] - from[0]);
  ctx.beginPath();
  ctx.moveTo(tip[0], tip[1]);
  ctx.lineTo(tip[0] - size * Math.cos(angle - 0.45), tip[1] - size * Math.sin(angle - 0.45));
  ctx.lineTo(tip[0] - size * Math.cos(angle + 0.45), tip[1] - size * Math.sin(angle + 0.45));
  ctx.closePath();
}

function drawTrack(ctx, view, track, color, { selected, selectedPoint, frame, frames }) {
  const u = view.unit;
  const toCanvas = view.toCanvas;
  if (track.points.length === 0) return;
  if (track.points.length > 1) {
    const line = curvePolyline(track.points).map(toCanvas);
    for (const [style, width] of [[OUTLINE, (selected ? 5 : 4) * u], [color, (selected ? 2.5 : 2) * u]]) {
      polyline(ctx, line, (p) => p);
      [ctx.strokeStyle, ctx.lineWidth, ctx.lineJoin, ctx.lineCap] = [style, width, "round", "round"];
      ctx.stroke();
    }
    // Direction: a head at the end and one halfway along every segment.
    const heads = [[line.length - 1, line.length - 2]];
    for (let k = 0; k + 1 < track.points.length; k++) heads.push([k * CURVE_STEPS + CURVE_STEPS / 2, k * CURVE_STEPS + CURVE_STEPS / 2 - 2]);
    heads.forEach(([tip, from], j) => {
      arrowHead(ctx, line[tip], line[from], (j === 0 ? 13 : 9) * u);
      [ctx.fillStyle, ctx.strokeStyle, ctx.lineWidth] = [color, OUTLINE, 1.5 * u];
      ctx.stroke();
      ctx.fill();
    });
    // Where the point is at each frame: spacing shows speed and easing.
    for (const position of sampleTrack(track, frames)) {
      const [x, y] = toCanvas(position);
      ctx.beginPath();
      ctx.arc(x, y, 2 * u, 0, 2 * Math.PI);
      ctx.fillStyle = "rgba(255, 255, 255, 0.85)";
      ctx.fill();
    }
  }
  track.points.forEach((point, k) => {
    const [x, y] = toCanvas(point);
    const radius = (k === selectedPoint && selected ? 7 : 5) * u;
    ctx.beginPath();
    if (track.points.length === 1) ctx.rect(x - radius, y - radius, 2 * radius, 2 * radius); // static anchor
    else ctx.arc(x, y, radius, 0, 2 * Math.PI);
    [ctx.fillStyle, ctx.strokeStyle, ctx.lineWidth] = [selected ? "#ffffff" : color, selected ? color : OUTLINE, 2 * u];
    ctx.fill();
    ctx.stroke();
  });
  // The frame marker: a ring where the track is at the scrubbed frame.
  const [x, y] = toCanvas(sampleTrack(track, frames)[Math.min(frame, frames - 1)]);
  ctx.beginPath();
  ctx.arc(x, y, 9 * u, 0, 2 * Math.PI);
  [ctx.strokeStyle, ctx.lineWidth] = [OUTLINE, 5 * u];
  ctx.stroke();
  [ctx.strokeStyle, ctx.lineWidth] = [color, 2.5 * u];
  ctx.stroke();
}

function drawEmpty(ctx, view, width, height) {
  const u = view.unit;
  const [x0, y0] = view.toCanvas([0, 0]);
  const [x1, y1] = view.toCanvas([width, height]);
  ctx.fillStyle = "#2a2a2a";
  ctx.fillRect(x0, y0, x1 - x0, y1 - y0);
  ctx.strokeStyle = "rgba(255, 255, 255, 0.08)";
  ctx.lineWidth = u;
  const step = 64;
  const lines = [];
  for (let gx = step; gx < width; gx += step) lines.push([[gx, 0], [gx, height]]);
  for (let gy = step; gy < height; gy += step) lines.push([[0, gy], [width, gy]]);
  for (const line of lines) {
    polyline(ctx, line, view.toCanvas);
    ctx.stroke();
  }
  ctx.fillStyle = "rgba(255, 255, 255, 0.45)";
  ctx.font = `${12 * u}px sans-serif`;
  ctx.textAlign = "center";
  ctx.fillText(`${width} x ${height}: connect, drop or paste an image`, (x0 + x1) / 2, (y0 + y1) / 2);
}

/**
 * Draw the whole editor view.
 * @param {CanvasRenderingContext2D} ctx
 * @param {{unit: number, toCanvas: (p: number[]) => number[], scale: number}} view
 * @param {object} scene model, background (drawable or null), brush (BrushLayer), selection {track, point},
 *   hover {track, point} | null, insert (a point [x, y] where a click would insert) | null, frame, frames,
 *   cursor {at: [x, y], radius, erase} | null
 */
export function drawScene(ctx, view, scene) {
  const { model, background, brush, selection, frame, frames, cursor, insert } = scene;
  ctx.clearRect(0, 0, ctx.canvas.width, ctx.canvas.height);
  const [x0, y0] = view.toCanvas([0, 0]);
  const [x1, y1] = view.toCanvas([model.width, model.height]);
  if (background) ctx.drawImage(background, x0, y0, x1 - x0, y1 - y0);
  else drawEmpty(ctx, view, model.width, model.height);
  if (model.strokes.length > 0) ctx.drawImage(brush.canvas, x0, y0, x1 - x0, y1 - y0);
  model.tracks.forEach((track, index) => {
    if (index === selection.track) return; // the selected track goes on top
    drawTrack(ctx, view, track, trackColor(index), { selected: false, frame, frames });
  });
  const chosen = model.tracks[selection.track];
  if (chosen) drawTrack(ctx, view, chosen, trackColor(selection.track), { selected: true, selectedPoint: selection.point, frame, frames });
  const u = view.unit;
  if (scene.hover) {
    const [x, y] = view.toCanvas(model.tracks[scene.hover.track].points[scene.hover.point]);
    ctx.beginPath();
    ctx.arc(x, y, 11 * u, 0, 2 * Math.PI);
    [ctx.strokeStyle, ctx.lineWidth] = ["#ffffff", 1.5 * u];
    ctx.stroke();
  }
  if (insert) {
    const [x, y] = view.toCanvas(insert);
    ctx.beginPath();
    ctx.arc(x, y, 5 * u, 0, 2 * Math.PI);
    [ctx.fillStyle, ctx.strokeStyle, ctx.lineWidth] = ["rgba(255, 255, 255, 0.5)", "#ffffff", 1.5 * u];
    ctx.fill();
    ctx.stroke();
  }
  if (cursor) {
    const [x, y] = view.toCanvas(cursor.at);
    ctx.beginPath();
    ctx.arc(x, y, cursor.radius * view.scale, 0, 2 * Math.PI);
    ctx.setLineDash(cursor.erase ? [4 * u, 4 * u] : []);
    [ctx.strokeStyle, ctx.lineWidth] = ["#ffffff", 1.5 * u];
    ctx.stroke();
    ctx.setLineDash([]);
  }
}

// The look and the edge rule of tracks, defined once for the editor and for Python: motion_i2v/tracks/shared.py
// reads the object below, so it stays plain JSON (double quotes, no comments, no trailing commas).
//   palette      track colours, in the order tracks get them (the node's preview and the editor)
//   brush_tint   the colour laid over painted (movable) pixels, and how opaque it is
//   edge_margin  points at most max(fraction * side, pixels) beyond an edge of the canvas are moved onto it;
//                points further out are refused (motion_i2v/tracks/canvas.py)
// Pure module: no DOM, no ComfyUI.

export const SHARED = Object.freeze({
  "palette": ["#ff5252", "#40a4ff", "#ffd43b", "#51cf66", "#cc5de8", "#ff922b", "#22d3ee", "#f783ac", "#a9e34b", "#9775fa"],
  "brush_tint": {"color": "#aa3cff", "opacity": 0.4},
  "edge_margin": {"fraction": 0.03, "pixels": 2}
});

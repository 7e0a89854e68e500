// The editor's commands: one table that gives each its editor method, toolbar label, shortcuts and help line.
// The toolbar and the keymap are both built from it, and shortcutHelp() lists it for the node's DESCRIPTION.
// Pure module (no DOM, no ComfyUI).

export const MODES = ["track", "anchor", "brush", "erase"];
export const BRUSH_RADIUS_RANGE = [1, 512]; // image pixels
const BRUSH_STEP = 1.25; // [ and ] scale the radius by this
export const FRAME_JUMP = 10; // frames Shift+Left / Shift+Right move the slider (a long video has up to 1024)

// Every command once: its method call, its toolbar button (label) and its shortcuts. Keys are matched as
// "ctrl+shift+alt+key" with Cmd counted as Ctrl.
export const COMMANDS = [
  { id: "track", label: "Track", keys: ["t"], help: "track mode: click adds a point to the selected track, on its curve inserts one; drag moves", run: (e) => e.setMode("track") },
  { id: "anchor", label: "Anchor", keys: ["a"], help: "anchor mode: click adds a static point (a one-point track)", run: (e) => e.setMode("anchor") },
  { id: "brush", label: "Brush", keys: ["b"], help: "brush mode: paint the region that may move", run: (e) => e.setMode("brush") },
  { id: "erase", label: "Erase", keys: ["e"], help: "erase mode: unpaint the brush", run: (e) => e.setMode("erase") },
  { id: "newTrack", label: "New track", keys: ["n"], help: "start a new track", run: (e) => e.newTrack() },
  { id: "deleteTrack", label: "Delete track", keys: ["shift+delete", "shift+backspace"], help: "delete the selected track", run: (e) => e.deleteTrack() },
  { id: "deletePoint", keys: ["delete", "backspace"], help: "delete the selected point (or right-click a point)", run: (e) => e.deletePoint() },
  { id: "undo", label: "Undo", keys: ["ctrl+z"], help: "undo", run: (e) => e.undo() },
  { id: "redo", label: "Redo", keys: ["ctrl+shift+z", "ctrl+y"], help: "redo", run: (e) => e.redo() },
  { id: "clear", label: "Clear", keys: ["ctrl+delete", "ctrl+backspace"], help: "remove every track and the brush", run: (e) => e.clear() },
  { id: "smallerBrush", keys: ["["], help: "smaller brush", run: (e) => e.setBrushRadius(e.brushRadius / BRUSH_STEP) },
  { id: "largerBrush", keys: ["]"], help: "larger brush", run: (e) => e.setBrushRadius(e.brushRadius * BRUSH_STEP) },
  { id: "previousTrack", keys: [","], help: "select the previous track", run: (e) => e.selectTrack(e.selection.track - 1) },
  { id: "nextTrack", keys: ["."], help: "select the next track", run: (e) => e.selectTrack(e.selection.track + 1) },
  { id: "previousFrame", keys: ["arrowleft"], help: "previous frame", run: (e) => e.setFrame(e.frame - 1) },
  { id: "nextFrame", keys: ["arrowright"], help: "next frame", run: (e) => e.setFrame(e.frame + 1) },
  { id: "framesBack", keys: ["shift+arrowleft"], help: `${FRAME_JUMP} frames back`, run: (e) => e.setFrame(e.frame - FRAME_JUMP) },
  { id: "framesOn", keys: ["shift+arrowright"], help: `${FRAME_JUMP} frames on`, run: (e) => e.setFrame(e.frame + FRAME_JUMP) },
  { id: "firstFrame", keys: ["home"], help: "first frame", run: (e) => e.setFrame(0) },
  { id: "lastFrame", keys: ["end"], help: "last frame", run: (e) => e.setFrame(e.frames - 1) },
];

const KEY_NAMES = { arrowleft: "Left", arrowright: "Right", delete: "Delete", backspace: "Backspace" };
export const keyLabel = (combo) => combo.split("+").map((part) => KEY_NAMES[part] ?? (part.length === 1 ? part.toUpperCase() : part[0].toUpperCase() + part.slice(1))).join("+");

/** One line per command with shortcuts, e.g. "Ctrl+Z: undo" (for the node's DESCRIPTION and the help tooltip). */
export function shortcutHelp() {
  return COMMANDS.map((c) => `${c.keys.map(keyLabel).join(" / ")}: ${c.help}`).join("\n");
}

/** The keymap key of a keydown event: "ctrl+shift+alt+key", Cmd counted as Ctrl. */
export function keyCombo(event) {
  const parts = [];
  if (event.ctrlKey || event.metaKey) parts.push("ctrl");
  if (event.shiftKey) parts.push("shift");
  if (event.altKey) parts.push("alt");
  parts.push(event.key.toLowerCase());
  return parts.join("+");
}

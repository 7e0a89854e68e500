// ComfyUI glue for the trajectory editor and the socket-type rename: the only file here that knows ComfyUI.
//
// On every MotionI2VTrajectories node it mounts a TrajectoryEditor in a DOM widget (classic canvas and Vue
// "Nodes 2.0" alike), keeps the node's `trajectories` STRING widget (hidden) as the single saved value, feeds the
// editor the `frames` count, and shows a background: the upstream LoadImage picture before anything runs, a
// dropped or pasted image (uploaded to the input folder, remembered in the node's properties), and after a run
// the image the node executed with. Everything is per node instance: no prototype patching, no canvas hooks.
//
// A link into `trajectories` (e.g. from KJNodes' SplineEditor): ComfyUI's frontend draws a converted widget's
// socket at its widget's row (LGraphNode #arrangeWidgetInputSlots: [slot height / 2, widget.y + slot height / 2]),
// but the hidden text widget has no row of its own, so it takes the editor's; the editor then says its drawing
// is not used and stops editing. The editor widget is not saved in the workflow (widget.serialize = false), so a
// workflow holds one copy of the value; workflows saved with that extra copy load it into `source_size`, which
// onConfigure puts back to its default.

import { app } from "../../../scripts/app.js";
import { api } from "../../../scripts/api.js";
import { upgradeSocketTypes } from "./socket_types.js";
import { TrajectoryEditor } from "./trajectory_editor.js";

const NODE_CLASS = "MotionI2VTrajectories";
const BACKGROUND_PROPERTY = "motion_i2v_background"; // {filename, subfolder, type} of a dropped or pasted image
const UPSTREAM_POLL_MS = 500; // how often the upstream LoadImage choice is looked at
const EDITOR_MIN_HEIGHT = 380;

function viewUrl({ filename, subfolder = "", type = "input" }) {
  return api.apiURL(`/view?${new URLSearchParams({ filename, subfolder, type })}`);
}

// LoadImage's value "sub/dir/name.png [output]" -> {filename, subfolder, type}.
function annotatedFile(value) {
  const match = /^(.*) \[(input|output|temp)\]$/.exec(value);
  const [path, type] = match ? [match[1], match[2]] : [value, "input"];
  const slash = path.lastIndexOf("/");
  return { filename: path.slice(slash + 1), subfolder: slash >= 0 ? path.slice(0, slash) : "", type };
}

function imageInputSlot(node) {
  return node.inputs?.findIndex((input) => input.name === "image") ?? -1;
}

// What the node wired to `image` shows without running: a LoadImage-like `image` file widget, else its preview.
function upstreamImageUrl(node) {
  const slot = imageInputSlot(node);
  if (slot < 0 || node.inputs[slot].link == null) return null;
  let origin = node.getInputNode(slot);
  for (let hops = 0; origin?.type === "Reroute" && hops < 32; hops++) origin = origin.getInputNode(0); // legacy reroute nodes
  if (!origin) return null;
  const file = origin.widgets?.find((w) => w.name === "image" && typeof w.value === "string" && w.value);
  if (file) return viewUrl(annotatedFile(file.value));
  return origin.imgs?.[0]?.src ?? null;
}

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error(`could not load ${url}`));
    image.src = url;
  });
}

async function uploadImage(file) {
  const body = new FormData();
  body.append("image", file);
  body.append("type", "input");
  const response = await api.fetchApi("/upload/image", { method: "POST", body });
  if (!response.ok) throw new Error(`uploading ${file.name} failed: ${response.status} ${response.statusText}`);
  const { name, subfolder = "", type = "input" } = await response.json();
  return { filename: name, subfolder, type };
}

const imageFileOf = (transfer) => [...(transfer?.files ?? [])].find((file) => file.type.startsWith("image/")) ?? null;

// Run `extra` after whatever `owner[name]` already did (this instance only).
function chain(owner, name, extra) {
  const original = owner[name];
  owner[name] = function (...args) {
    const result = original?.apply(this, args);
    extra.apply(this, args);
    return result;
  };
}

function setUpNode(node) {
  const widget = (name) => node.widgets?.find((w) => w.name === name);
  const [text, frames, width, height, sourceSize, pointLists] = ["trajectories", "frames", "width", "height", "source_size", "point_lists"].map(widget);
  if (!text) return;
  // The editor shows it; the widget stays the saved and queued value. `hidden` hides it on the classic canvas,
  // `options.hidden` in the Vue node renderer.
  text.hidden = true;
  if (text.options) text.options.hidden = true;

  const host = document.createElement("div");
  host.style.minHeight = `${EDITOR_MIN_HEIGHT}px`;
  const editor = new TrajectoryEditor(host, {
    width: width?.value,
    height: height?.value,
    value: text.value,
    frames: frames?.value ?? 16,
    onChange: (value) => {
      text.value = value;
      text.callback?.(value);
      node.graph?.setDirtyCanvas?.(true, false);
    },
  });
  const editorWidget = node.addDOMWidget("trajectory_editor", "motion_i2v_trajectory_editor", host, {
    serialize: false, // the `trajectories` widget carries the value, in the prompt...
    hideOnZoom: false,
    getValue: () => text.value,
    setValue: (value) => {
      if (typeof value !== "string") return; // a workflow's null placeholder for this widget
      text.value = value;
      editor.setValue(value);
    },
    getMinHeight: () => EDITOR_MIN_HEIGHT,
  });
  editorWidget.serialize = false; // ...and in the saved workflow
  // The text widget's socket sits where the frontend puts it: at the widget's row, here the editor's.
  Object.defineProperty(text, "y", { get: () => editorWidget.y ?? 0, set: () => {}, configurable: true });
  if (node.size[0] < 460) node.setSize([460, node.size[1]]);

  const syncLinked = () => {
    const linked = node.inputs?.find((input) => input.name === "trajectories")?.link != null;
    if (text.options) text.options.hidden = !linked; // the Vue renderer draws a hidden widget's socket nowhere
    if (linked !== editor.linked) editor.setLinked(linked);
  };
  const syncForeignFormat = () => {
    const stretched = sourceSize?.value === "width x height" && width && height;
    editor.setForeignFormat({ source: stretched ? [width.value, height.value] : null, anchors: pointLists?.value === "anchors" });
  };
  // A value the combo does not offer (the editor's copy in workflows saved before it was left out) -> its default.
  const mendChoice = (combo) => {
    const choices = combo?.options?.values;
    if (Array.isArray(choices) && !choices.includes(combo.value)) combo.value = choices[0];
  };

  // Backgrounds arrive from several places; the latest request wins, stale loads are dropped.
  let generation = 0;
  let alive = true;
  const show = async (url) => {
    const mine = ++generation;
    try {
      const image = await loadImage(url);
      if (alive && mine === generation) editor.setBackground(image);
    } catch (error) {
      console.warn(`[Motion-I2V] trajectory editor background: ${error.message}`);
    }
  };
  const useFile = async (file) => {
    try {
      const stored = await uploadImage(file);
      node.properties[BACKGROUND_PROPERTY] = stored;
      await show(viewUrl(stored));
    } catch (error) {
      console.warn(`[Motion-I2V] trajectory editor: ${error.message}`);
    }
  };

  let upstream = null;
  const poll = setInterval(() => {
    syncLinked(); // links restored by a workflow load come without onConnectionsChange
    const url = upstreamImageUrl(node);
    if (url === upstream) return;
    upstream = url;
    if (url) show(url);
  }, UPSTREAM_POLL_MS);

  // Drops and pastes on the editor itself (both renderers), kept from ComfyUI's own handlers, which would
  // otherwise open the file as a workflow or make a LoadImage node.
  const onDragOver = (event) => {
    if (![...(event.dataTransfer?.items ?? [])].some((item) => item.kind === "file")) return;
    event.preventDefault();
    event.stopPropagation();
    event.dataTransfer.dropEffect = "copy";
  };
  const onDrop = (event) => {
    const file = imageFileOf(event.dataTransfer);
    if (!file) return;
    event.preventDefault();
    event.stopPropagation();
    useFile(file);
  };
  const onPaste = (event) => {
    const file = [...(event.clipboardData?.items ?? [])].find((item) => item.type.startsWith("image/"))?.getAsFile();
    if (!file) return;
    event.preventDefault();
    event.stopPropagation();
    useFile(file);
  };
  host.addEventListener("dragover", onDragOver);
  host.addEventListener("drop", onDrop);
  host.addEventListener("paste", onPaste);
  // Drops on the rest of the node (classic canvas) and pastes while the node is selected.
  node.onDragOver = (event) => [...(event.dataTransfer?.items ?? [])].some((item) => item.kind === "file" && item.type.startsWith("image/"));
  node.onDragDrop = async (event) => {
    const file = imageFileOf(event.dataTransfer);
    if (file) await useFile(file);
    return Boolean(file);
  };
  node.pasteFile = (file) => file.type.startsWith("image/") && useFile(file);

  if (frames) chain(frames, "callback", (value) => editor.setFrames(value));
  const resizeFromWidgets = () => {
    if (!editor.background && width && height) editor.setSize(width.value, height.value);
  };
  if (width) chain(width, "callback", resizeFromWidgets);
  if (height) chain(height, "callback", resizeFromWidgets);
  for (const control of [sourceSize, pointLists, width, height]) if (control) chain(control, "callback", syncForeignFormat);
  syncForeignFormat();
  chain(node, "onConnectionsChange", syncLinked);

  // Loading a workflow or pasting a node writes widget values directly; pick them up afterwards.
  chain(node, "onConfigure", () => {
    mendChoice(sourceSize);
    mendChoice(pointLists);
    syncForeignFormat();
    syncLinked();
    editor.setValue(text.value);
    if (frames) editor.setFrames(frames.value);
    const stored = node.properties?.[BACKGROUND_PROPERTY];
    if (stored && !upstreamImageUrl(node)) show(viewUrl(stored));
  });
  // After a run: the image the node executed with (only when one is wired; otherwise it is a plain grey canvas).
  chain(node, "onExecuted", (output) => {
    const shown = output?.background?.[0];
    const slot = imageInputSlot(node);
    if (shown && slot >= 0 && node.inputs[slot].link != null) show(`${viewUrl(shown)}&t=${Date.now()}`);
  });
  chain(node, "onRemoved", () => {
    alive = false;
    clearInterval(poll);
    host.removeEventListener("dragover", onDragOver);
    host.removeEventListener("drop", onDrop);
    host.removeEventListener("paste", onPaste);
    editor.destroy();
  });
}

app.registerExtension({
  name: "MotionI2V.TrajectoryEditor",
  nodeCreated(node) {
    if (node.comfyClass === NODE_CLASS) setUpNode(node);
  },
});

// Workflows saved before the socket types got the pack's prefix: renamed before the graph is built from them.
app.registerExtension({
  name: "MotionI2V.SocketTypes",
  beforeConfigureGraph(graphData) {
    upgradeSocketTypes(graphData);
  },
});

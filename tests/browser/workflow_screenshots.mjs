// Pictures of the example workflows and of the trajectory editor as a running ComfyUI's own frontend shows them.
//
//   node tests/browser/workflow_screenshots.mjs --base http://127.0.0.1:8188 [--out docs/workflows] [--editor docs/editor_in_comfyui.png] [--chromium /usr/bin/chromium] workflows/*.json
//
// The server must have this pack in custom_nodes and example_inputs/ copied into its input folder (the Load Image and
// Load Video files the workflows name); model files need not exist. For each workflow: load it, hide the
// side bar, menus, minimap and canvas info, fit every node into the 1600x900 view, save OUT/<name>.png.
// With --editor: on motion_preview.json, zoom onto the Motion-I2V Trajectories node, draw a new three-point
// track with the mouse, check that the node's saved value and the queued prompt both carry it, and save
// the node's picture. Only the given server on 127.0.0.1 is contacted; exits non-zero on the first failure.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";

import { chromium } from "playwright-core";

const VIEW = { width: 1600, height: 900 };
const MARGIN = 24; // screen pixels around the fitted graph
const SETTLE_MS = 1500; // images (Load Image, the editor's background, polled every 500 ms) and DOM widgets
const NEW_TRACK = [[0.2, 0.8], [0.35, 0.62], [0.5, 0.7]]; // where the drawn track's points go, as fractions of the image

function options(argv) {
  const found = { chromium: "/usr/bin/chromium", out: "docs/workflows", files: [] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith("--")) found[argv[i].slice(2)] = argv[++i];
    else found.files.push(argv[i]);
  }
  if (!found.base?.startsWith("http://127.0.0.1:")) throw new Error("--base http://127.0.0.1:PORT is required");
  return found;
}

// The canvas alone: focus mode hides the side bar, tabs and menus; settings hide what focus mode keeps.
async function prepareCanvas(page) {
  await page.evaluate(async () => {
    const { setting, command } = window.app.extensionManager;
    for (const [id, value] of [["Comfy.Minimap.Visible", false], ["Comfy.Graph.CanvasInfo", false],
      ["Comfy.Graph.CanvasMenu", false], ["LiteGraph.Canvas.MinFontSizeForLOD", 0],
      ["LiteGraph.Canvas.LowQualityRenderingZoomThreshold", 0]]) await setting.set(id, value);
    await command.execute("Workspace.ToggleFocusMode");
  });
  // focus mode's own button, the one thing left over the canvas
  await page.addStyleTag({ content: "button:has(> .pi-bars) { visibility: hidden; }" });
}

async function loadWorkflow(page, file) {
  await page.evaluate(async (data) => window.app.loadGraphData(data, true, true, null), JSON.parse(readFileSync(file, "utf8")));
}

// Scale and offset the canvas so that `nodes` (all when null) fill the view less MARGIN; returns the scale.
async function fitView(page, nodeIds = null) {
  const scale = await page.evaluate(({ ids, margin }) => {
    const canvas = window.app.canvas;
    const nodes = window.app.graph._nodes.filter((node) => ids === null || ids.includes(node.id));
    let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
    for (const node of nodes) {
      const [x, y, w, h] = node.getBounding(); // includes the title bar
      [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x + w), Math.max(y1, y + h)];
    }
    const [width, height] = [canvas.canvas.clientWidth, canvas.canvas.clientHeight];
    const fitted = Math.min((width - 2 * margin) / (x1 - x0), (height - 2 * margin) / (y1 - y0));
    canvas.ds.scale = fitted;
    canvas.ds.offset = [(width / fitted - (x1 - x0)) / 2 - x0, (height / fitted - (y1 - y0)) / 2 - y0];
    canvas.setDirty(true, true);
    return fitted;
  }, { ids: nodeIds, margin: MARGIN });
  await page.waitForTimeout(SETTLE_MS);
  return scale;
}

// Draw a new track in the Trajectories editor with the mouse; the node's widget and the prompt must carry it.
async function drawTrack(page, nodeId) {
  const saved = () => page.evaluate((id) => JSON.parse(window.app.graph.getNodeById(id).widgets
    .find((w) => w.name === "trajectories").value), nodeId);
  const before = await saved();
  const box = await page.locator(".mi2v-editor canvas").boundingBox();
  const scale = Math.min(box.width / before.width, box.height / before.height); // the image is letterboxed
  const toPage = ([fx, fy]) => [box.x + (box.width - before.width * scale) / 2 + fx * before.width * scale,
    box.y + (box.height - before.height * scale) / 2 + fy * before.height * scale];
  await page.click(".mi2v-editor button[data-command=track]");
  await page.click(".mi2v-editor button[data-command=newTrack]");
  for (const point of NEW_TRACK) await page.mouse.click(...toPage(point));
  await page.mouse.move(...toPage([0.9, 0.1])); // off the points, so no hover highlight hides them

  const after = await saved();
  assert.equal(after.tracks.length, before.tracks.length + 1, "the drawn track is in the node's trajectories widget");
  const drawn = after.tracks.at(-1).points;
  NEW_TRACK.forEach(([fx, fy], k) => assert.ok(Math.abs(drawn[k][0] - fx * after.width) <= 2
    && Math.abs(drawn[k][1] - fy * after.height) <= 2, `point ${k} at ${drawn[k]}, expected near ${[fx * after.width, fy * after.height]}`));
  const queued = await page.evaluate(async (id) => (await window.app.graphToPrompt()).output[id].inputs.trajectories, nodeId);
  assert.deepEqual(JSON.parse(queued), after, "the queued prompt carries the drawn track");
  return drawn;
}

// The node's box on the page with MARGIN around it, as a screenshot clip.
async function nodeClip(page, nodeId) {
  const [x, y, width, height] = await page.evaluate((id) => {
    const { ds, canvas } = window.app.canvas;
    const [left, top, w, h] = window.app.graph.getNodeById(id).getBounding();
    const rect = canvas.getBoundingClientRect();
    return [rect.left + (left + ds.offset[0]) * ds.scale, rect.top + (top + ds.offset[1]) * ds.scale, w * ds.scale, h * ds.scale];
  }, nodeId);
  return { x: Math.max(0, x - MARGIN), y: Math.max(0, y - MARGIN), width: width + 2 * MARGIN, height: height + 2 * MARGIN };
}

async function main() {
  const args = options(process.argv.slice(2));
  const browser = await chromium.launch({ executablePath: args.chromium, args: ["--no-sandbox"] });
  const errors = [];
  try {
    const page = await browser.newPage({ viewport: VIEW });
    page.on("pageerror", (error) => errors.push(error.message));
    await page.route((url) => !url.href.startsWith(args.base), (route) => route.abort()); // nothing leaves 127.0.0.1
    await page.goto(args.base);
    await page.waitForFunction(() => window.app?.graph && window.app.extensionManager, null, { timeout: 180000 });
    await prepareCanvas(page);
    mkdirSync(args.out, { recursive: true });
    for (const file of args.files) {
      await loadWorkflow(page, file);
      await fitView(page);
      const picture = path.join(args.out, `${path.basename(file, ".json")}.png`);
      await page.screenshot({ path: picture });
      console.log(picture);
    }
    if (args.editor) {
      await loadWorkflow(page, args.files.find((file) => path.basename(file) === "motion_preview.json") ?? "workflows/motion_preview.json");
      const nodeId = await page.evaluate(() => window.app.graph._nodes.find((node) => node.type === "MotionI2VTrajectories").id);
      await fitView(page, [nodeId]);
      const drawn = await drawTrack(page, nodeId);
      mkdirSync(path.dirname(args.editor), { recursive: true });
      await page.screenshot({ path: args.editor, clip: await nodeClip(page, nodeId) });
      console.log(`${args.editor} (drawn track ${JSON.stringify(drawn)})`);
    }
    assert.deepEqual(errors, [], "errors on the page");
  } finally {
    await browser.close();
  }
}

await main();

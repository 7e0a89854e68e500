// Link a STRING into Motion-I2V Trajectories' `trajectories` in ComfyUI's real frontend (headless Chromium), as a
// user does: drag from the source's output and drop on the socket where the frontend draws it. Prints what the page
// shows at each step as one JSON object on stdout; tests/test_real_frontend_link.py checks it.
//
//   node tests/frontend_linked_trajectories.mjs --base http://127.0.0.1:PORT --start START.json --old OLD.json
//       [--chromium /usr/bin/chromium]
//
// START is the graph to begin from: the Trajectories node with id 1 and a STRING source with id 2, unlinked. OLD is
// a workflow saved before the editor's copy of the value was left out. The steps, each reported by its key:
//   unlinked  START loaded: the node's sockets and the editor's state
//   linked    after the drag: the same, the link, and the drawing after a click on the editor (it must not edit)
//   saved     app.graph.serialize() (what Save writes) and graphToPrompt()'s prompt (what Run queues)
//   reloaded  the saved workflow loaded again: sockets and editor state
//   unlinked_again  after the link is taken away
//   old       OLD loaded: saved and prompt again
// Only the given ComfyUI server on 127.0.0.1 is contacted; playwright-core comes from tests/browser.
import { chromium } from "./browser/node_modules/playwright-core/index.mjs";
import { readFileSync } from "node:fs";

function options(argv) {
  const found = { chromium: "/usr/bin/chromium" };
  for (let i = 0; i < argv.length; i += 2) found[argv[i].replace(/^--/, "")] = argv[i + 1];
  if (!found.base?.startsWith("http://127.0.0.1:") || !found.start || !found.old) {
    throw new Error("usage: frontend_linked_trajectories.mjs --base http://127.0.0.1:PORT --start START.json --old OLD.json");
  }
  return found;
}

const NODE_ID = 1;
const SOURCE_ID = 2;

// In the page: what the frontend draws and the editor shows for node NODE_ID. Slot positions are relative to the
// node (graph units), as LiteGraph's input.pos; `page` positions are CSS pixels of the page, for the mouse.
function observe({ nodeId, sourceId }) {
  const { app, LiteGraph } = window;
  app.canvas.setDirty(true, true);
  app.canvas.draw(true, true); // lays the node out (LGraphNode.arrange) as a frame does
  const node = app.graph.getNodeById(nodeId);
  const source = app.graph.getNodeById(sourceId);
  const rect = app.canvas.canvas.getBoundingClientRect();
  const toPage = ([x, y]) => {
    const [cx, cy] = app.canvas.ds.convertOffsetToCanvas([x, y]);
    return [rect.left + cx, rect.top + cy];
  };
  const relative = ([x, y]) => [x - node.pos[0], y - node.pos[1]];
  const slot = (name) => node.inputs.findIndex((input) => input.name === name);
  const slots = Object.fromEntries(node.inputs.map((input, i) => [input.name, i]));
  const sockets = Object.fromEntries(node.inputs.map((input, i) => [input.name, relative(node.getInputPos(i))]));
  const widget = (name) => node.widgets.find((w) => w.name === name);
  const rows = Object.fromEntries(node.widgets.filter((w) => !w.hidden).map((w) => [w.name, [w.y, w.computedHeight ?? null]]));
  const editor = node.widgets.find((w) => w.type === "motion_i2v_trajectory_editor");
  const root = editor.element.querySelector(".mi2v-editor");
  const input = node.inputs[slot("trajectories")];
  // (1.49 gives a link dropped with the mouse its origin's id as a string)
  const link = input.link == null ? null : app.graph.links.get?.(input.link) ?? app.graph.links[input.link];
  return {
    version: window.__COMFYUI_FRONTEND_VERSION__,
    slot_height: LiteGraph.NODE_SLOT_HEIGHT,
    node_size: [...node.size],
    slots,
    sockets,
    rows,
    link: link && { origin_id: Number(link.origin_id), origin_slot: link.origin_slot, target_slot: node.inputs[link.target_slot].name },
    text: widget("trajectories").value,
    editor: {
      linked: root.classList.contains("mi2v-linked"),
      message: root.querySelector("[data-role=message]").textContent,
      disabled_buttons: [...root.querySelectorAll("button[data-command]")].filter((b) => b.disabled).map((b) => b.dataset.command),
      canvas: (() => { const r = root.querySelector("canvas").getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })(),
    },
    page: {
      source_output: source && toPage(source.getOutputPos(0)),
      trajectories: toPage(node.getInputPos(slot("trajectories"))),
    },
  };
}

async function load(page, workflow) {
  await page.evaluate(async (data) => window.app.loadGraphData(data, true, true, null), workflow);
  await page.waitForFunction((id) => window.app.graph.getNodeById(id)?.widgets?.some((w) => w.element), NODE_ID);
}

// Move the mouse onto a slot until the canvas sees it there (node.mouseOver; false if it never does): after a
// load, the frontend's hit testing follows the drawn layout a few frames later, and a press before that starts no link.
async function hover(page, [x, y], nodeId, kind, slot) {
  for (let attempt = 0; attempt < 40; attempt++) {
    await page.mouse.move(x + (attempt % 2) * 0.5, y);
    const over = await page.evaluate(({ nodeId, kind }) => window.app.graph.getNodeById(nodeId).mouseOver?.[kind], { nodeId, kind });
    if (over === slot) return true;
    await page.waitForTimeout(50);
  }
  return false;
}

const look = (page) => page.evaluate(observe, { nodeId: NODE_ID, sourceId: SOURCE_ID });

async function saveAndQueue(page) {
  return page.evaluate(async () => {
    const saved = JSON.parse(JSON.stringify(window.app.graph.serialize()));
    const { output } = await window.app.graphToPrompt();
    return { workflow: saved, prompt: output };
  });
}

const args = options(process.argv.slice(2));
const [start, old] = [args.start, args.old].map((file) => JSON.parse(readFileSync(file, "utf8")));
const browser = await chromium.launch({ executablePath: args.chromium, args: ["--no-sandbox"] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await page.route((url) => !url.href.startsWith(args.base), (route) => route.abort()); // nothing leaves 127.0.0.1
  // A returning user: a first visit opens the templates dialog over the canvas (and loads its own graph late)
  const tutorial = await fetch(`${args.base}/settings/Comfy.TutorialCompleted`, { method: "POST", body: "true" });
  if (!tutorial.ok) throw new Error(`POST /settings/Comfy.TutorialCompleted: ${tutorial.status}`);
  await page.goto(args.base);
  // the start-up graph is in: a graph loaded before it would be replaced by it
  await page.waitForFunction(() => window.app?.graph && window.app.extensionManager?.workflow?.activeWorkflow, null, { timeout: 180000 });
  const report = {};

  await load(page, start);
  report.unlinked = await look(page);

  // The user's drag: press on the source's output, move, release on the `trajectories` socket.
  const { source_output: from, trajectories: to } = report.unlinked.page;
  if (!(await hover(page, from, SOURCE_ID, "outputId", 0))) throw new Error(`the source's output is not at ${from}`);
  await page.mouse.down();
  await page.mouse.move(...to, { steps: 12 });
  await hover(page, to, NODE_ID, "inputId", report.unlinked.slots.trajectories); // a miss shows in the link
  await page.mouse.up();
  await page.waitForFunction((id) => window.app.graph.getNodeById(id).inputs.some((input) => input.name === "trajectories" && input.link != null), NODE_ID, { timeout: 5000 })
    .catch(() => {}); // a drop that missed is reported (link: null), not thrown
  report.linked = await look(page);
  // A click inside the editor's canvas would add a point to an unlinked drawing.
  const [x, y, width, height] = report.linked.editor.canvas;
  await page.mouse.click(x + width * 0.7, y + height * 0.6);
  report.linked.text_after_click = (await look(page)).text;

  report.saved = await saveAndQueue(page);
  await load(page, report.saved.workflow);
  await page.waitForFunction(() => document.querySelector(".mi2v-editor")?.classList.contains("mi2v-linked"), null, { timeout: 5000 })
    .catch(() => {});
  report.reloaded = await look(page);

  await page.evaluate((id) => {
    const node = window.app.graph.getNodeById(id);
    node.disconnectInput(node.inputs.findIndex((input) => input.name === "trajectories"));
  }, NODE_ID);
  report.unlinked_again = await look(page);

  await load(page, old);
  report.old = { ...(await saveAndQueue(page)), seen: await look(page) };
  report.errors = errors;
  process.stdout.write(JSON.stringify(report));
} finally {
  await browser.close();
}

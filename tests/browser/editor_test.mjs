// Drive the trajectory editor in headless Chromium with the mouse and keyboard, then check the widget JSON.
//
//   node tests/browser/editor_test.mjs --out DIR [--screenshot PATH] [--chromium /usr/bin/chromium]
//
// Writes DIR/value.json (the widget value), DIR/preview.json (what the editor shows: its own 16-frame samples
// {"path": [F][N][2]} and the painted brush {"mask": base64 of H*W bytes}) and a screenshot (PATH, default DIR/editor.png). Serves the repository on 127.0.0.1 only; the browser is Debian's
// chromium, launched with networking features off and a fresh profile. Exits non-zero on the first failed check.
// The README's picture is this run's screenshot: node tests/browser/editor_test.mjs --out /tmp/x --screenshot docs/editor.png
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".png": "image/png", ".json": "application/json" };
const [WIDTH, HEIGHT, ZOOM] = [512, 320, 1.25];

function options(argv) {
  const found = { chromium: "/usr/bin/chromium" };
  for (let i = 0; i < argv.length; i += 2) found[argv[i].replace(/^--/, "")] = argv[i + 1];
  if (!found.out) throw new Error("usage: editor_test.mjs --out DIR [--screenshot PATH] [--chromium PATH]");
  found.screenshot ??= path.join(found.out, "editor.png");
  return found;
}

// The repository as static files, read-only, nothing outside it.
function serve() {
  const server = http.createServer((request, response) => {
    const file = path.join(ROOT, decodeURIComponent(new URL(request.url, "http://127.0.0.1").pathname));
    if (!file.startsWith(ROOT + path.sep)) return response.writeHead(403).end();
    try {
      const body = readFileSync(file);
      response.writeHead(200, { "content-type": TYPES[path.extname(file)] ?? "application/octet-stream" }).end(body);
    } catch {
      response.writeHead(404).end();
    }
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

// The ComfyUI glue (web/js/motion_i2v.js) on a stand-in node, with ComfyUI's app/api replaced by tests/browser/stubs.
async function checkGlue(page, base) {
  await page.goto(`${base}/tests/browser/glue.html`);
  await page.waitForSelector("body[data-ready='1']");
  const state = () => page.evaluate(() => ({ text: window.glue.text.value, requested: window.glue.api.requested.slice() }));
  assert.equal(await page.evaluate(() => window.glue.text.hidden && window.glue.text.options.hidden), true, "the text widget is hidden");
  assert.equal(await page.evaluate(() => window.glue.node.widgets.at(-1).options.getValue()), (await state()).text);
  await checkLinkedInput(page);

  // Drawing writes the value into the `trajectories` widget; Delete and Ctrl+Z stay inside the editor.
  await page.evaluate(() => {
    window.leaked = [];
    window.addEventListener("keydown", (e) => ["Control", "Shift", "Alt", "Meta"].includes(e.key) || window.leaked.push(e.key));
    document.addEventListener("drop", () => window.leaked.push("drop"));
  });
  const box = await page.locator("canvas").boundingBox();
  await page.mouse.click(box.x + box.width * 0.8, box.y + box.height * 0.75);
  assert.equal(JSON.parse((await state()).text).tracks[0].points.length, 3, "a click appends to the selected track");
  await page.keyboard.press("Delete");
  await page.keyboard.press("Control+z");
  assert.deepEqual(await page.evaluate(() => window.leaked), [], "editor keys must not reach the graph");
  assert.equal(JSON.parse((await state()).text).tracks[0].points.length, 3, "Delete removed the point, Ctrl+Z restored it");

  // The frames widget drives the slider; a loaded workflow's value (here a KJNodes string) is converted.
  await page.evaluate(() => window.glue.node.widgets[1].callback(24));
  assert.equal(await page.textContent("[data-role=frame-label]"), "frame 0 / 23");
  await page.evaluate(() => {
    window.glue.text.value = '[{"x": 10, "y": 20}, {"x": 30, "y": 40}]';
    window.glue.node.onConfigure({});
  });
  assert.deepEqual(JSON.parse((await state()).text).tracks.map((t) => t.points), [[[10, 20], [30, 40]]]);

  // Upstream LoadImage: its file is shown before any run (the stub serves an 800 x 675 picture).
  await page.evaluate(() => {
    window.glue.node.upstream = { type: "LoadImage", widgets: [{ name: "image", value: "sub/pic.png [output]" }] };
    window.glue.node.inputs[0].link = 7;
  });
  await page.waitForFunction(() => JSON.parse(window.glue.text.value).width === 800, null, { timeout: 5000 });
  assert.ok((await state()).requested.includes("/view?filename=pic.png&subfolder=sub&type=output"));
  assert.deepEqual(JSON.parse((await state()).text).tracks[0].points[0], [15.63, 42.19], "points follow the new size");

  // After a run: the executed image.
  await page.evaluate(() => window.glue.node.onExecuted({ background: [{ filename: "run.png", subfolder: "", type: "temp" }] }));
  await page.waitForFunction(() => window.glue.api.requested.some((p) => p.startsWith("/view?filename=run.png")));

  // Dropping an image on the editor uploads it and remembers it on the node; ComfyUI never sees the drop.
  const prevented = await page.evaluate(async () => {
    const transfer = new DataTransfer();
    const bytes = await (await fetch("/docs/editor.png")).arrayBuffer();
    transfer.items.add(new File([bytes], "dropped.png", { type: "image/png" }));
    const drop = new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true });
    document.querySelector(".mi2v-editor").dispatchEvent(drop);
    return drop.defaultPrevented;
  });
  assert.equal(prevented, true);
  await page.waitForFunction(() => window.glue.node.properties.motion_i2v_background?.filename === "dropped.png");
  assert.deepEqual(await page.evaluate(() => window.glue.api.uploads), [{ path: "/upload/image", name: "dropped.png", type: "input" }]);
  assert.deepEqual(await page.evaluate(() => window.leaked), []);

  // Removing the node takes the editor with it.
  await page.evaluate(() => window.glue.node.onRemoved());
  assert.equal(await page.locator(".mi2v-editor").count(), 0);
}

// Issue 14.6: a link into `trajectories`, the saved workflow, and workflows saved with the editor's extra copy.
async function checkLinkedInput(page) {
  const glue = () => page.evaluate(() => ({
    text: window.glue.text.value,
    saved: window.glue.node.serialize().widgets_values,
    linked: document.querySelector(".mi2v-editor").classList.contains("mi2v-linked"),
    message: document.querySelector("[data-role=message]").textContent,
    vueHidden: window.glue.text.options.hidden,
  }));
  const before = await glue();
  // One copy of the value: the editor widget is not saved, so widgets_values are the node's declared widgets.
  assert.equal(await page.evaluate(() => window.glue.editorWidget.serialize), false);
  assert.deepEqual(before.saved, [before.text, 16, 512, 320, "image", "tracks"]);
  // The socket is drawn at the text widget's y, which follows the editor's row wherever the frontend puts it.
  assert.equal(await page.evaluate(() => { window.glue.editorWidget.y = 137; return window.glue.text.y; }), 137);

  // Linked: the editor says its drawing is not used and edits nothing; unlinked, it edits again.
  await page.evaluate(() => window.glue.node.link("trajectories", 9));
  const linked = await glue();
  assert.equal(linked.linked, true);
  assert.match(linked.message, /trajectories is linked to another node: the node runs on that value, not on this drawing/);
  assert.equal(linked.vueHidden, false, "the Vue renderer shows the linked widget's socket");
  const box = await page.locator("canvas").boundingBox();
  await page.mouse.click(box.x + box.width * 0.3, box.y + box.height * 0.3);
  await page.keyboard.press("Control+Delete");
  assert.equal((await glue()).text, before.text, "a linked editor must not edit the unused drawing");
  assert.equal(await page.locator("button[data-command=clear]").isDisabled(), true);
  await page.evaluate(() => window.glue.node.link("trajectories", null));
  assert.equal((await glue()).linked, false);
  assert.equal(await page.locator("button[data-command=clear]").isDisabled(), false);

  // A workflow saved before: widgets_values end with the editor's copy, which lands in source_size; the node's
  // own value wins and source_size is back to its default.
  await page.evaluate((text) => window.glue.node.configure({ widgets_values: [text, 16, 512, 320, "{\"stale\": true}"] }), before.text);
  const loaded = await glue();
  assert.equal(loaded.text, before.text);
  assert.deepEqual(loaded.saved, [before.text, 16, 512, 320, "image", "tracks"]);

  // KJNodes coordinates typed into the widget read as the node reads them: here PointsEditor points drawn on a
  // 512 x 512 canvas, as anchors, stretched onto the 512 x 320 one.
  await page.evaluate(() => {
    const widgets = Object.fromEntries(window.glue.node.widgets.map((w) => [w.name, w]));
    widgets.height.value = 512;
    widgets.source_size.value = "width x height";
    widgets.point_lists.value = "anchors";
    window.glue.node.configure({ widgets_values: ['[{"x": 100, "y": 256}, {"x": 400, "y": 512}]', 16, 512, 512, "width x height", "anchors"] });
  });
  const converted = JSON.parse((await glue()).text);
  assert.deepEqual(converted.tracks.map((t) => t.points), [[[100, 160]], [[400, 319]]], "two anchors, y x 320 / 512, the edge rule");
  await page.evaluate((text) => window.glue.node.configure({ widgets_values: [text, 16, 512, 320, "image", "tracks"] }), before.text);
}

const near = (actual, expected, label, tolerance = 1) =>
  assert.ok(actual.every((v, i) => Math.abs(v - expected[i]) <= tolerance), `${label}: ${JSON.stringify(actual)} is not near ${JSON.stringify(expected)}`);

async function main() {
  const args = options(process.argv.slice(2));
  const server = await serve();
  const profile = mkdtempSync(path.join(tmpdir(), "mi2v-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: args.chromium,
    headless: true,
    viewport: { width: 840, height: 720 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  const errors = [];
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    page.on("pageerror", (error) => errors.push(error.message));
    page.on("console", (message) => message.type() === "error" && errors.push(message.text()));
    const base = `http://127.0.0.1:${server.address().port}`;
    await page.goto(`${base}/tests/browser/harness.html?zoom=${ZOOM}`);
    await page.waitForSelector("body[data-ready='1']");

    // Image pixels -> page pixels, from the canvas box alone (the image is letterboxed into it).
    const box = await page.locator("canvas").boundingBox();
    const scale = Math.min(box.width / WIDTH, box.height / HEIGHT);
    const toPage = ([x, y]) => [box.x + (box.width - WIDTH * scale) / 2 + x * scale, box.y + (box.height - HEIGHT * scale) / 2 + y * scale];
    const mouse = page.mouse;
    const click = async (point, button = "left") => mouse.click(...toPage(point), { button });
    const drag = async (from, to) => {
      await mouse.move(...toPage(from));
      await mouse.down();
      await mouse.move(...toPage(to), { steps: 10 });
      await mouse.up();
    };
    const value = async () => JSON.parse(await page.evaluate(() => window.harness.editor.value));

    // Track 1: three clicks, then the middle point dragged up.
    await click([80, 240]);
    await click([200, 200]);
    await click([330, 230]);
    await drag([200, 200], [210, 150]);
    // Track 2: N, two clicks, then a press on its curve inserts a point there and drags it.
    await page.keyboard.press("n");
    await click([420, 80]);
    await click([470, 160]);
    await drag([445, 120], [470, 110]);
    // A static anchor; a second one removed again with a right-click.
    await page.click("button[data-command=anchor]");
    await click([60, 60]);
    await click([100, 100]);
    await click([100, 100], "right");
    // Brush: radius 30, one stroke; erase at radius 24 ([ shrinks by 1.25); one more stroke, undone.
    await page.click("button[data-command=brush]");
    await page.fill("input[data-option=radius]", "30");
    await page.press("input[data-option=radius]", "Enter");
    await drag([150, 260], [300, 260]);
    await page.keyboard.press("e");
    await page.keyboard.press("[");
    await drag([225, 240], [225, 280]);
    await page.keyboard.press("b");
    await drag([400, 290], [480, 290]);
    await page.keyboard.press("Control+z");
    // Timing: track 1 ends at frame 12 with ease in-out, track 2 moves at constant speed.
    await page.keyboard.press("t");
    await click([80, 240]);
    await page.fill("input[data-option=end]", "12");
    await page.press("input[data-option=end]", "Enter");
    await page.selectOption("select[data-option=easing]", "ease_in_out");
    await page.locator(".mi2v-editor").focus();
    await page.keyboard.press(".");
    await page.selectOption("select[data-option=interpolation]", "arc_length");
    // Scrub: click the slider at 60% and check the frame and its label follow.
    const slider = await page.locator("input[data-role=frame]").boundingBox();
    await mouse.click(slider.x + slider.width * 0.6, slider.y + slider.height / 2);
    const frame = await page.evaluate(() => window.harness.editor.frame);
    assert.ok(frame >= 8 && frame <= 10, `a click at 60% of the slider should give frame 9, got ${frame}`);
    assert.equal(await page.textContent("[data-role=frame-label]"), `frame ${frame} / 15`);
    // Readout of the point under the pointer, in pixels and normalised.
    await mouse.move(...toPage([80, 240]));
    assert.match(await page.textContent("[data-role=readout]"), /^track 1 point 1: x 80\.\d y 240\.\d px \(0\.15\d, 0\.75\d\)$/);

    const saved = await value();
    const [t1, t2, anchor] = saved.tracks;
    assert.deepEqual([saved.version, saved.width, saved.height, saved.tracks.length], [1, WIDTH, HEIGHT, 3]);
    [[80, 240], [210, 150], [330, 230]].forEach((p, k) => near(t1.points[k], p, `track 1 point ${k}`));
    assert.deepEqual([t1.start, t1.end, t1.easing, t1.interpolation], [0, 12, "ease_in_out", "pchip"]);
    [[420, 80], [470, 110], [470, 160]].forEach((p, k) => near(t2.points[k], p, `track 2 point ${k}`));
    assert.deepEqual([t2.start, t2.end, t2.easing, t2.interpolation], [0, null, "linear", "arc_length"]);
    assert.equal(anchor.points.length, 1);
    near(anchor.points[0], [60, 60], "anchor");
    const strokes = saved.brush.strokes;
    assert.equal(strokes.length, 2, "the third stroke was undone");
    assert.deepEqual([strokes[0].radius, strokes[0].erase, strokes[1].radius, strokes[1].erase], [30, false, 24, true]);
    near(strokes[0].points[0], [150, 260], "stroke 1 start");
    near(strokes[0].points.at(-1), [300, 260], "stroke 1 end");
    near(strokes[1].points.at(-1), [225, 280], "erase stroke end");
    const changes = await page.evaluate(() => window.harness.changes);
    assert.equal(changes.at(-1), JSON.stringify(saved), "onChange reported the final value");

    writeFileSync(path.join(args.out, "value.json"), JSON.stringify(saved, null, 1));
    writeFileSync(path.join(args.out, "preview.json"), JSON.stringify(await page.evaluate(() => window.harness.preview(16))));
    await page.locator("#zoom").screenshot({ path: args.screenshot });

    // A background of another size moves the drawing with it.
    const doubled = await page.evaluate(() => {
      window.harness.editor.setBackground(window.harness.scene(1024, 640));
      return JSON.parse(window.harness.editor.value);
    });
    assert.deepEqual([doubled.width, doubled.height], [2 * WIDTH, 2 * HEIGHT]);
    near(doubled.tracks[0].points[0], t1.points[0].map((v) => 2 * v), "rescaled point", 0.02);
    assert.equal(doubled.brush.strokes[0].radius, 60);
    assert.deepEqual(errors, [], "the page logged errors");
    await checkGlue(page, base);
    assert.deepEqual(errors, [], "the glue page logged errors");
  } finally {
    await context.close();
    server.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

main().then(
  () => console.log("editor browser test: ok"),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);

// Load workflows into ComfyUI's real frontend (headless Chromium) and print what the frontend makes of them.
//
//   node tests/frontend_roundtrip.mjs --base http://127.0.0.1:PORT [--chromium /usr/bin/chromium] [--inputs DIR] WORKFLOW.json...
//
// For each file it calls app.loadGraphData(workflow), then app.graph.serialize() (what "Save" would write) and
// app.graphToPrompt() (what "Queue" would send), and prints one JSON object on stdout:
// {version: the frontend's own version, workflows: {file: {saved, prompt}}}.
// tests/test_real_comfyui.py compares them with the file itself and with tests/workflow_tools.py's conversion.
// With --inputs, the page's requests for input files (/view?type=input) are answered from DIR where it holds the
// file, so the frontend shows other pictures than the server runs. Only the given ComfyUI server on 127.0.0.1 is
// contacted; playwright-core comes from tests/browser.
import { chromium } from "./browser/node_modules/playwright-core/index.mjs";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

function options(argv) {
  const found = { chromium: "/usr/bin/chromium", files: [] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith("--")) found[argv[i].slice(2)] = argv[++i];
    else found.files.push(argv[i]);
  }
  if (!found.base || !found.base.startsWith("http://127.0.0.1:")) throw new Error("--base http://127.0.0.1:PORT is required");
  return found;
}

const args = options(process.argv.slice(2));
const browser = await chromium.launch({ executablePath: args.chromium, args: ["--no-sandbox"] });
try {
  const page = await browser.newPage();
  await page.route((url) => !url.href.startsWith(args.base), (route) => route.abort()); // nothing leaves 127.0.0.1
  if (args.inputs) {
    const local = (url) => {
      const [name, type, subfolder] = ["filename", "type", "subfolder"].map((key) => url.searchParams.get(key));
      const file = name && path.join(args.inputs, path.basename(name));
      return url.pathname.endsWith("/view") && type === "input" && !subfolder && existsSync(file) ? file : null;
    };
    await page.route((url) => url.href.startsWith(args.base) && local(url) !== null,
      (route) => route.fulfill({ path: local(new URL(route.request().url())) }));
  }
  await page.goto(args.base);
  await page.waitForFunction(() => window.app?.graph && window.app.extensionManager, null, { timeout: 180000 });
  const results = {};
  const version = await page.evaluate(() => window.__COMFYUI_FRONTEND_VERSION__);
  for (const file of args.files) {
    const workflow = JSON.parse(readFileSync(file, "utf8"));
    results[file] = await page.evaluate(async (data) => {
      await window.app.loadGraphData(structuredClone(data), true, true, null);
      const saved = window.app.graph.serialize();
      const { output } = await window.app.graphToPrompt();
      return { saved: JSON.parse(JSON.stringify(saved)), prompt: output };
    }, workflow);
  }
  process.stdout.write(JSON.stringify({ version, workflows: results }));
} finally {
  await browser.close();
}

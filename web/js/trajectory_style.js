// The editor's stylesheet, added to the document while at least one editor exists. ComfyUI's theme variables
// are used where present, so the editor matches the node around it.

const STYLE_ID = "mi2v-trajectory-editor-style";
const STYLE = `
.mi2v-editor { display: flex; flex-direction: column; gap: 4px; width: 100%; height: 100%; box-sizing: border-box;
  font: 12px sans-serif; color: var(--input-text, #ddd); outline: none; user-select: none; }
.mi2v-editor:focus-within { box-shadow: inset 0 0 0 1px rgba(90, 150, 230, 0.6); border-radius: 4px; }
.mi2v-row { display: flex; flex-wrap: wrap; gap: 3px; align-items: center; }
.mi2v-editor button, .mi2v-editor input, .mi2v-editor select { font: inherit; color: inherit;
  background: var(--comfy-input-bg, #2b2b2b); border: 1px solid var(--border-color, #555); border-radius: 4px; }
.mi2v-editor button { padding: 2px 6px; cursor: pointer; }
.mi2v-editor button.mi2v-active { background: #2f5f96; border-color: #5b9bd5; }
.mi2v-editor button:disabled, .mi2v-editor input:disabled, .mi2v-editor select:disabled { opacity: 0.4; cursor: default; }
.mi2v-editor input[type=number] { width: 4.5em; padding: 1px 3px; }
.mi2v-editor .mi2v-gap { width: 6px; }
.mi2v-stage { position: relative; flex: 1 1 auto; min-height: 120px; background: #151515; border-radius: 4px; overflow: hidden; }
.mi2v-stage canvas { position: absolute; inset: 0; width: 100%; height: 100%; touch-action: none; cursor: crosshair; }
.mi2v-frame { flex: 1 1 100px; min-width: 80px; }
.mi2v-readout { font-variant-numeric: tabular-nums; opacity: 0.85; white-space: nowrap; }
/* a fixed share of the row, so the slider does not move while the readout text changes */
.mi2v-readout[data-role=readout] { flex: 0 0 48%; overflow: hidden; text-overflow: ellipsis; }
.mi2v-swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; border: 1px solid #000; }
.mi2v-message { color: #ff8a80; white-space: pre-wrap; }
.mi2v-message:empty { display: none; }
/* linked: the drawing is not used, so it is shown faded behind the note */
.mi2v-linked .mi2v-stage canvas { opacity: 0.35; }
`;
let styleUsers = 0;

/** Add the stylesheet (once, however many editors). */
export function adoptStyle() {
  if (styleUsers++ > 0) return;
  const element = document.createElement("style");
  element.id = STYLE_ID;
  element.textContent = STYLE;
  document.head.append(element);
}

/** Drop the stylesheet when the last editor goes. */
export function releaseStyle() {
  if (--styleUsers === 0) document.getElementById(STYLE_ID)?.remove();
}

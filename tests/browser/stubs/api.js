// Stand-in for ComfyUI's scripts/api.js in the glue test. Every /view URL serves docs/editor.png (800 x 675),
// so a background that arrived shows up as that size; requests are recorded for the test to read.
export const api = {
  requested: [],
  uploads: [],
  apiURL(path) {
    this.requested.push(path);
    return `/docs/editor.png?${path.split("?")[1] ?? ""}`;
  },
  async fetchApi(path, { body }) {
    this.uploads.push({ path, name: body.get("image").name, type: body.get("type") });
    return new Response(JSON.stringify({ name: body.get("image").name, subfolder: "", type: "input" }));
  },
};

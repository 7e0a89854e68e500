// The pack's socket types under their old names, renamed in a workflow before ComfyUI's frontend loads it.
//
// A saved workflow keeps every slot's and link's type. The server checks links against the node classes, so an
// old workflow runs as it is; but the frontend keeps the saved names on the slots, and a new link from a node that
// declares today's name would not fit them. Only our nodes' slots (class names starting with "MotionI2V") and links
// that touch one of them are renamed, so another pack's own type of the same name stays untouched.
// Pure: no DOM, no app; nodes/spec.py holds the same table (a test keeps them equal).

export const LEGACY_TYPES = {
  MI2V_FLOW_MODEL: "MOTION_I2V_FLOW_MODEL",
  MI2V_CONTROL: "MOTION_I2V_CONTROL",
  MOTION_FIELD: "MOTION_I2V_FIELD",
};

const NODE_PREFIX = "MotionI2V";

function renamed(type) {
  return Object.hasOwn(LEGACY_TYPES, type) ? LEGACY_TYPES[type] : type;
}

// One graph ({nodes, links}: the workflow itself or a subgraph definition); links are arrays
// [id, origin, originSlot, target, targetSlot, type] or objects {id, origin_id, target_id, type}.
function upgradeGraph(graph) {
  const ours = new Set();
  for (const node of graph.nodes ?? []) {
    if (typeof node.type !== "string" || !node.type.startsWith(NODE_PREFIX)) continue;
    ours.add(node.id);
    for (const slot of [...(node.inputs ?? []), ...(node.outputs ?? [])]) {
      if (slot && typeof slot.type === "string") slot.type = renamed(slot.type);
    }
  }
  for (const link of graph.links ?? []) {
    if (Array.isArray(link)) {
      if (ours.has(link[1]) || ours.has(link[3])) link[5] = renamed(link[5]);
    } else if (link && (ours.has(link.origin_id) || ours.has(link.target_id))) {
      link.type = renamed(link.type);
    }
  }
}

// Rename, in place, the old socket types of a workflow (UI format) and its subgraph definitions.
export function upgradeSocketTypes(workflow) {
  if (!workflow || typeof workflow !== "object") return workflow;
  upgradeGraph(workflow);
  for (const subgraph of workflow.definitions?.subgraphs ?? []) upgradeGraph(subgraph);
  return workflow;
}

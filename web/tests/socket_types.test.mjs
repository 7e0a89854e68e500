// node --test web/tests/: the socket types of workflows saved before the rename, renamed as they load.
import { test } from "node:test";
import assert from "node:assert/strict";

import { readFileSync, readdirSync } from "node:fs";

import { LEGACY_TYPES, upgradeSocketTypes } from "../js/socket_types.js";

const SAVED = new URL("../../tests/data/saved_workflows/", import.meta.url);
const CURRENT = new URL("../../workflows/", import.meta.url);
const read = (folder, name) => JSON.parse(readFileSync(new URL(name, folder), "utf8"));

// Every slot and link type of a workflow, by node id and slot, and by link id.
function types(workflow) {
  const slots = workflow.nodes.flatMap((node) => [
    ...(node.inputs ?? []).map((slot) => [`${node.id} in ${slot.name}`, slot.type]),
    ...(node.outputs ?? []).map((slot) => [`${node.id} out ${slot.name}`, slot.type]),
  ]);
  return { slots: Object.fromEntries(slots), links: Object.fromEntries(workflow.links.map((link) => [link[0], link[5]])) };
}

test("every saved workflow gets the socket types of today's copy", () => {
  const names = readdirSync(SAVED).filter((name) => name.endsWith(".json"));
  assert.equal(names.length, 7);
  for (const name of names) {
    const saved = read(SAVED, name);
    assert.ok(JSON.stringify(saved).match(/"(MI2V_FLOW_MODEL|MI2V_CONTROL|MOTION_FIELD)"/), name);
    const [loaded, current] = [types(upgradeSocketTypes(saved)), types(read(CURRENT, name))];
    assert.deepEqual(loaded.links, current.links, name);
    // the Trajectories node has gained two widget slots since; every slot saved then has today's type
    for (const [slot, type] of Object.entries(loaded.slots)) assert.equal(type, current.slots[slot], `${name}: ${slot}`);
  }
});

test("another pack's slots and links of the same old name stay as they are", () => {
  const workflow = {
    nodes: [
      { id: 1, type: "MotionI2VCameraMotion", outputs: [{ name: "motion_field", type: "MOTION_FIELD", links: [1] }] },
      { id: 2, type: "OtherPackWarp", inputs: [{ name: "field", type: "MOTION_FIELD", link: 1 }],
        outputs: [{ name: "field", type: "MOTION_FIELD", links: [2] }] },
      { id: 3, type: "OtherPackSave", inputs: [{ name: "field", type: "MOTION_FIELD", link: 2 }] },
    ],
    links: [[1, 1, 0, 2, 0, "MOTION_FIELD"], { id: 2, origin_id: 2, origin_slot: 0, target_id: 3, target_slot: 0, type: "MOTION_FIELD" }],
    definitions: { subgraphs: [{ nodes: [{ id: 7, type: "MotionI2VWarpPreview", inputs: [{ name: "motion_field", type: "MOTION_FIELD" }] }], links: [] }] },
  };
  upgradeSocketTypes(workflow);
  assert.equal(workflow.nodes[0].outputs[0].type, LEGACY_TYPES.MOTION_FIELD);
  assert.equal(workflow.links[0][5], "MOTION_I2V_FIELD"); // it leaves one of our nodes
  assert.equal(workflow.nodes[1].inputs[0].type, "MOTION_FIELD");
  assert.equal(workflow.nodes[2].inputs[0].type, "MOTION_FIELD");
  assert.equal(workflow.links[1].type, "MOTION_FIELD");
  assert.equal(workflow.definitions.subgraphs[0].nodes[0].inputs[0].type, "MOTION_I2V_FIELD");
  assert.equal(upgradeSocketTypes(null), null);
});

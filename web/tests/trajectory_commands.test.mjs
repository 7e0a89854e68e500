// node --test web/tests/: the command table behind the toolbar and the keyboard.
import { test } from "node:test";
import assert from "node:assert/strict";

import { COMMANDS, FRAME_JUMP, keyCombo, shortcutHelp } from "../js/trajectory_commands.js";
import { TrajectoryEditor } from "../js/trajectory_editor.js";

test("every shortcut is bound once", () => {
  const keys = COMMANDS.flatMap((command) => command.keys);
  assert.equal(new Set(keys).size, keys.length, `duplicate keys in ${keys}`);
});

test("every command calls a TrajectoryEditor method", () => {
  for (const command of COMMANDS) {
    const called = [];
    // A stand-in editor that records which methods the command reaches for.
    const editor = new Proxy({ brushRadius: 24, selection: { track: 0 }, frame: 3, frames: 16 }, {
      get: (target, name) => (name in target ? target[name] : (...args) => called.push([name, ...args])),
    });
    command.run(editor);
    assert.equal(called.length, 1, `${command.id} should call exactly one method`);
    assert.equal(typeof TrajectoryEditor.prototype[called[0][0]], "function", `${command.id} calls ${called[0][0]}`);
  }
});

test("key combos name the modifiers, Cmd as Ctrl", () => {
  assert.equal(keyCombo({ key: "Z", ctrlKey: false, metaKey: true, shiftKey: true, altKey: false }), "ctrl+shift+z");
  assert.equal(keyCombo({ key: "[", ctrlKey: false, metaKey: false, shiftKey: false, altKey: false }), "[");
  assert.match(shortcutHelp(), /^Ctrl\+Shift\+Z \/ Ctrl\+Y: redo$/m);
});

test("the frame keys step by one, by FRAME_JUMP, and to either end", () => {
  const byKey = Object.fromEntries(COMMANDS.flatMap((command) => command.keys.map((key) => [key, command])));
  const frameAfter = (key) => {
    let asked = null;
    byKey[key].run({ frame: 500, frames: 1024, setFrame: (frame) => (asked = frame) });
    return asked;
  };
  assert.equal(FRAME_JUMP, 10);
  assert.deepEqual(["arrowleft", "arrowright", "shift+arrowleft", "shift+arrowright", "home", "end"].map(frameAfter),
    [499, 501, 490, 510, 0, 1023]);
  assert.match(shortcutHelp(), /^Shift\+Left: 10 frames back$/m);
});

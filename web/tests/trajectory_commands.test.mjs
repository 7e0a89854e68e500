// node --test web/tests/: the command table behind the toolbar and the keyboard.
import { test } from "node:test";
import assert from "node:assert/strict";

import { COMMANDS, keyCombo, shortcutHelp } from "../js/trajectory_commands.js";
import { TrajectoryEditor } from "../js/trajectory_editor.js";

test("every shortcut is bound once", () => {
  const keys = COMMANDS.flatMap((command) => command.keys);
  assert.equal(new Set(keys).size, keys.length, `duplicate keys in ${keys}`);
});

test("every command calls a TrajectoryEditor method", () => {
  for (const command of COMMANDS) {
    const called = [];
    // A stand-in editor that records which methods the command reaches for.
    const editor = new Proxy({ brushRadius: 24, selection: { track: 0 }, frame: 3 }, {
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

// Evaluates JSONata expressions with the reference implementation (jsonata 2.0.6, the version
// Step Functions implements). One request per line on stdin, one answer per line on stdout:
//   {"expression": "...", "input": <any>, "bindings": {"states": {...}, "files": [...]}}
//   -> {"value": <any>} | {"undefined": true} | {"error": "..."}
// Step Functions adds $parse (JSON text to a value) and leaves out $eval; both are mirrored.
"use strict";
const jsonata = require("jsonata");
const readline = require("readline");

async function evaluate(request) {
  const expression = jsonata(request.expression);
  expression.registerFunction("parse", (text) => JSON.parse(text), "<s:j>");
  expression.registerFunction(
    "eval",
    () => {
      throw new Error("$eval is not available in Step Functions");
    },
    "<x-:x>",
  );
  const value = await expression.evaluate(request.input, request.bindings || {});
  return value === undefined ? { undefined: true } : { value };
}

const lines = readline.createInterface({ input: process.stdin });
let queue = Promise.resolve();
lines.on("line", (line) => {
  queue = queue.then(async () => {
    let answer;
    try {
      answer = await evaluate(JSON.parse(line));
    } catch (error) {
      answer = { error: String(error.message || error) + (error.code ? ` (${error.code})` : "") };
    }
    process.stdout.write(JSON.stringify(answer) + "\n");
  });
});

// Parses an AsyncAPI document with @asyncapi/parser (the reference parser: schema and
// semantic rules) and prints, as JSON, its diagnostics and what the tests look at, with
// every $ref resolved: each operation's action, channel, messages, reply and security.
// Given samples ([{operation, payload}]), it also says which of them each operation's
// message payload schema accepts (ajv, JSON Schema draft-07: AsyncAPI 3.0's schema format).
//
//   node parse_asyncapi.mjs asyncapi.json [samples.json]
import { Parser } from "@asyncapi/parser";
import Ajv from "ajv";
import { readFileSync } from "node:fs";

const { document, diagnostics } = await new Parser().parse(readFileSync(process.argv[2], "utf8"));
const severities = ["error", "warning", "info", "hint"];
const report = {
  diagnostics: diagnostics.map((d) => ({
    severity: severities[d.severity],
    code: d.code,
    message: d.message,
    path: d.path.join("/"),
  })),
  operations: {},
  channels: {},
  verdicts: [],
};
if (document) {
  for (const channel of document.channels()) {
    report.channels[channel.id()] = {
      address: channel.address(),
      parameters: channel.parameters().all().map((p) => p.id()),
      messages: channel.messages().all().map((m) => m.id()),
    };
  }
  for (const op of document.operations()) {
    const reply = op.reply();
    report.operations[op.id()] = {
      action: op.action(),
      channels: op.channels().all().map((c) => c.address()),
      messages: op.messages().all().map((m) => ({ name: m.name(), payload: m.payload()?.json() })),
      reply: reply ? reply.messages().all().map((m) => ({ name: m.name(), payload: m.payload()?.json() })) : null,
      security: op.security().map((requirements) => requirements.all().map((r) => r.scheme().json())),
    };
  }
  if (process.argv[3]) {
    const ajv = new Ajv({ strict: false, allErrors: false });
    const validators = new Map();
    for (const { operation, payload } of JSON.parse(readFileSync(process.argv[3], "utf8"))) {
      if (!validators.has(operation)) {
        const schema = document.operations().get(operation).messages().all()[0].payload().json();
        validators.set(operation, ajv.compile(schema));
      }
      report.verdicts.push(validators.get(operation)(payload));
    }
  }
}
// A recursive payload type resolves to a cyclic object: written once, then as "[cycle]".
const open = [];
console.log(
  JSON.stringify(report, function (key, value) {
    if (typeof value !== "object" || value === null) return value;
    while (open.length && open.at(-1) !== this) open.pop();
    if (open.includes(value)) return "[cycle]";
    open.push(value);
    return value;
  }),
);

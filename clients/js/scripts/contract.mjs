// Writes src/contract.ts, the TypeScript contract of socketsvc's built-in namespaces (/chat),
// from the handler modules themselves: `socketsvc contract --format typescript`. Run it when
// socketsvc/handlers/chat.py changes; tests/contract/test_clients_js.py fails until then.
//
//   npm run contract        (Python with socketsvc importable: $PYTHON, else python3)
import { spawnSync } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..", "..");
// The built-ins alone, whatever the environment configures: no file, no SOCKETSVC_* variables.
const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("SOCKETSVC_")));
const python = process.env.PYTHON ?? "python3";
const result = spawnSync(
  python.includes("/") ? resolve(python) : python, // a path: from here, not from the root
  ["-m", "socketsvc", "contract", "--format", "typescript", "--output", join(here, "..", "src", "contract.ts")],
  { cwd: root, env, stdio: "inherit" },
);
process.exit(result.status ?? 1);

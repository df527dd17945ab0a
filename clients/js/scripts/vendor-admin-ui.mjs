// Copies the built Socket.IO Admin UI (@socket.io/admin-ui's ui/dist, without source maps) and
// its licence into socketsvc/static/admin/, which the node serves at /admin/ (admin_ui = true).
//
//   npm run build:admin-ui            (tests/app/test_static_bundle.py checks the copy is current)
import { cpSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const pkg = dirname(require.resolve("@socket.io/admin-ui/package.json"));
const source = join(pkg, "ui", "dist");
const target = process.argv[2] || join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "socketsvc", "static", "admin");

rmSync(target, { recursive: true, force: true });
mkdirSync(target, { recursive: true });
const walk = (dir) =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
for (const file of walk(source)) {
  if (file.endsWith(".map")) continue; // 3.4 MB the browser only wants with dev tools open
  const out = join(target, relative(source, file));
  mkdirSync(dirname(out), { recursive: true });
  cpSync(file, out);
}
cpSync(join(pkg, "LICENSE"), join(target, "LICENSE"));

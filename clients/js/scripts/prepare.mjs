// npm's `prepare`: after `npm ci` or `npm pack` here it builds dist/ (the dev dependencies are
// installed); when an app installs this folder (`npm install --install-links <path>`) npm runs
// it too, without them: the app then gets the dist/ built here, and needs no build tools.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL("..", import.meta.url));
if (existsSync(`${here}/node_modules/typescript/package.json`)) {
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const built = spawnSync(npm, ["run", "build:lib"], { cwd: here, stdio: "inherit" });
  process.exit(built.status ?? 1);
}
if (!existsSync(`${here}/dist/index.js`)) {
  console.error(
    "@socketsvc/client: dist/ is not built. Run `npm ci` in clients/js first, " +
      "or install the tarball `npm pack` makes there.",
  );
  process.exit(1);
}

// Builds the package: ES modules and CommonJS, each with its type declarations, from one
// TypeScript source. No bundler: each module is compiled as it is.
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
const compile = (...args) =>
  execFileSync(process.execPath, [tsc, "-p", path.join(root, "tsconfig.json"), ...args], {
    stdio: "inherit",
  });

rmSync(path.join(root, "dist"), { recursive: true, force: true });
compile();
compile("--module", "CommonJS", "--moduleResolution", "Node10", "--outDir", path.join(root, "dist/cjs"));
// The package is "type": "module"; the CommonJS half says so for itself.
mkdirSync(path.join(root, "dist/cjs"), { recursive: true });
writeFileSync(path.join(root, "dist/cjs/package.json"), '{ "type": "commonjs" }\n');

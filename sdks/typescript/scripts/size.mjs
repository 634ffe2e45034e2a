// Measures the runtime an app ships: src/index.ts and what it imports, bundled as one
// ES module for a neutral platform (no Node.js built-ins may be pulled in) and minified
// by esbuild. Prints bytes minified and gzipped, and which packages went in;
// `--json` for the test in crates/switchboard/tests/it/sdks.rs.
import { build } from "esbuild";
import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const result = await build({
  entryPoints: [`${root}/src/index.ts`],
  bundle: true,
  minify: true,
  format: "esm",
  platform: "neutral",
  target: "es2022",
  write: false,
  metafile: true,
  logLevel: "silent",
});
const code = result.outputFiles[0].contents;
const inputs = [
  ...new Set(
    Object.keys(result.metafile.inputs).map((p) => {
      const m = p.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/);
      return m ? m[1] : p.split("/")[0];
    }),
  ),
].sort();
const report = { minified: code.length, gzipped: gzipSync(code).length, inputs };
if (process.argv.includes("--json")) console.log(JSON.stringify(report));
else
  console.log(
    `runtime (src + ${inputs.filter((i) => i !== "src").join(", ")}), minified: ${(report.minified / 1024).toFixed(1)} KB, gzipped: ${(report.gzipped / 1024).toFixed(1)} KB`,
  );

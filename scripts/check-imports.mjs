// Fails when a lower layer imports a higher one (see STYLE.md, "Dependency direction"), or when a
// core module touches node:* or a Node-only package. Run by `npm run lint` (part of `npm test`).
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join, relative, dirname, resolve } from 'node:path'

const root = resolve(dirname(new URL(import.meta.url).pathname), '..')
const src = join(root, 'src')
// rank of each top-level area; an import must not go to a higher rank
const rank = {
  'errors.ts': 0, 'version.ts': 0,
  graph: 1,
  autodiff: 2, onnx: 2, runtime: 2, optim: 2,
  checkpoint: 3, tokenizers: 3, data: 3,
  models: 4, heads: 4, methods: 4,
  train: 5, export: 5, report: 5, generate: 5,
  tasks: 6,
  'index.ts': 7,
  cli: 8,
}
// same-rank siblings that may not import each other
const forbiddenPairs = [['models', 'methods'], ['models', 'train'], ['heads', 'methods']]
// Node-only modules allowed only in these places
const nodeOk = (area, file) => area === 'cli' || file.endsWith('.test.ts') || /-node\.ts$/.test(file)
const nodeOnly = /^(node:|fs$|path$|os$|child_process$|worker_threads$|onnxruntime-node$|sharp$)/

const files = []
const walk = (d) => {
  for (const f of readdirSync(d)) {
    const p = join(d, f)
    if (statSync(p).isDirectory()) walk(p)
    else if (p.endsWith('.ts')) files.push(p)
  }
}
walk(src)
const area = (p) => relative(src, p).split('/')[0]
const problems = []
for (const f of files) {
  const text = readFileSync(f, 'utf8')
  const a = area(f)
  const re = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g
  let m
  while ((m = re.exec(text))) {
    const spec = m[1] ?? m[2]
    if (spec.startsWith('.')) {
      const target = resolve(dirname(f), spec)
      if (!target.startsWith(src)) continue
      const b = area(target.replace(/\.js$/, '.ts'))
      if (f.endsWith('.test.ts')) continue
      if (rank[a] === undefined) problems.push(`${relative(root, f)}: area "${a}" has no rank in scripts/check-imports.mjs`)
      else if (rank[b] === undefined) problems.push(`${relative(root, f)}: imports unknown area "${b}"`)
      else if (rank[b] > rank[a]) problems.push(`${relative(root, f)}: ${a} (layer ${rank[a]}) imports ${b} (layer ${rank[b]}) via "${spec}"`)
      else if (forbiddenPairs.some(([x, y]) => a === x && b === y)) problems.push(`${relative(root, f)}: ${a} must not import ${b}`)
    } else if (nodeOnly.test(spec) && !nodeOk(a, f)) {
      problems.push(`${relative(root, f)}: core module imports Node-only "${spec}"; move it to a *-node.ts adapter or cli/`)
    }
  }
}
if (problems.length) {
  console.error(`import-direction check failed (${problems.length}):\n` + problems.map((p) => '  ' + p).join('\n'))
  process.exit(1)
}
console.log(`import-direction check: ${files.length} files ok`)

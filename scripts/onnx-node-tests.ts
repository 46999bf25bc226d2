// Prints how many official ONNX node tests the importer passes: `npx tsx scripts/onnx-node-tests.ts [--verbose] [filter]`.
// Needs Debian's libonnx-testdata (apt-get install libonnx-testdata).
import '../src/runtime/ort-node.js'
import { listNodeTests, NODE_TEST_DIR, runNodeTest } from '../test/onnx-node-suite.js'

const verbose = process.argv.includes('--verbose')
const filter = process.argv.slice(2).find((a) => !a.startsWith('--'))
const tests = listNodeTests().filter((t) => !filter || t.name.includes(filter))
if (tests.length === 0) {
  console.error(`no node tests under ${NODE_TEST_DIR}; install Debian's libonnx-testdata`)
  process.exit(1)
}
const byOp = new Map<string, { pass: number; unsupported: number; fail: number }>()
let pass = 0
let unsupported = 0
const failures: string[] = []
for (const t of tests) {
  const r = await runNodeTest(t)
  if (r.status === 'pass') pass++
  else if (r.status === 'unsupported') unsupported++
  else failures.push(`${t.name}: ${r.reason}`)
  if (verbose && r.status !== 'pass') console.log(`${r.status.padEnd(11)} ${t.name}: ${r.reason.split('\n')[0]}`)
  const op = t.ops.filter((o) => o !== 'Constant').join('+') || 'Constant'
  const e = byOp.get(op) ?? { pass: 0, unsupported: 0, fail: 0 }
  e[r.status]++
  byOp.set(op, e)
}
console.log('\nop                           pass unsup fail')
for (const [op, e] of [...byOp].sort((a, b) => a[0].localeCompare(b[0]))) console.log(`${op.slice(0, 28).padEnd(28)} ${String(e.pass).padStart(5)} ${String(e.unsupported).padStart(5)} ${String(e.fail).padStart(4)}`)
if (failures.length) console.log(`\nfailures:\n${failures.map((f) => `  ${f.split('\n')[0]}`).join('\n')}`)
console.log(`\n${pass} of ${tests.length} node tests pass, ${unsupported} unsupported, ${failures.length} fail`)

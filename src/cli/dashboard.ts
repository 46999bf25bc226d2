/** `finetune dashboard DIR`: a live, read-only page of a run folder (running or finished) on 127.0.0.1. */
import { existsSync, statSync } from 'node:fs'
import { ConfigError, startDashboard } from '../index.js'
import { command } from './command.js'

const spec = {
  name: 'dashboard',
  summary: 'serve a live page of a training run (loss, lr, metrics, progress) on 127.0.0.1',
  usage: 'finetune dashboard DIR [--port N]',
  positional: 'DIR',
  flags: {
    port: { type: 'int', describe: 'port on 127.0.0.1; 0 picks a free one (printed)', default: 0, min: 0, max: 65535 },
  } as const,
  examples: ['finetune dashboard ./sentiment', 'finetune train --model ./bert --data reviews.csv --out ./sentiment --dashboard'],
  epilogue: [
    'The page follows DIR/events.jsonl as the run writes it and shows training_args.json and metrics.json.',
    'It is read only and serves nothing else; it listens on 127.0.0.1 only. Ctrl-C stops it.',
  ],
}

export const dashboard = command(spec, async (f, pos, io) => {
  const dir = pos[0]
  if (!dir || pos.length > 1) throw new ConfigError('CLI_USAGE', `finetune dashboard: give one run folder (got ${pos.length})`, 'usage: finetune dashboard DIR [--port N]')
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new ConfigError('CLI_USAGE', `${dir} is a file; the dashboard shows a run folder (the --out of finetune train)`, `pass the folder that holds events.jsonl`)
  const d = await startDashboard({ dir, port: f.port })
  // listening for Ctrl-C before the URL is out: a signal right after it still stops cleanly
  const stop = new Promise<void>((ok) => {
    process.once('SIGINT', ok)
    process.once('SIGTERM', ok)
  })
  io.out(`dashboard of ${dir}: ${d.url}  (read only; Ctrl-C to stop)`)
  if (!existsSync(dir)) io.err(`${dir} does not exist yet; the page waits for a run to write events.jsonl there`)
  await stop
  await d.close()
  io.err('dashboard stopped')
  return 0
})

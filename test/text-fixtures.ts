/** A tiny randomly initialised BERT with the fixture WordPiece tokenizer, and a keyword-sentiment CSV. */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { initTextCheckpoint } from '../src/models/init-node.js'
import { loadTokenizer } from '../src/tokenizers/index.js'

const root = new URL('../', import.meta.url).pathname

export function fixtureTokenizer() {
  const d = join(root, 'test/fixtures/tokenizers/wordpiece/')
  return loadTokenizer({ tokenizerJson: readFileSync(d + 'tokenizer.json', 'utf8'), tokenizerConfigJson: readFileSync(d + 'tokenizer_config.json', 'utf8') })
}

export async function tinyBert(dir: string, family = 'bert'): Promise<string> {
  const config =
    family === 'distilbert'
      ? { dim: 32, n_layers: 2, n_heads: 4, hidden_dim: 64, max_position_embeddings: 64 }
      : family === 'gpt2'
        ? { n_embd: 32, n_layer: 2, n_head: 4, n_positions: 64 }
        : { hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 64, max_position_embeddings: 64 }
  await initTextCheckpoint(dir, { family, config, tokenizer: fixtureTokenizer() })
  return dir
}

/** Sentences of filler words with one sentiment keyword; label positive/negative. */
export function sentimentCsv(path: string, n = 160, seed = 1): string {
  const pos = ['good', 'great', 'excellent', 'wonderful', 'fine']
  const neg = ['bad', 'awful', 'terrible', 'poor', 'horrible']
  const filler = ['the', 'movie', 'was', 'really', 'quite', 'a', 'story', 'and', 'plot', 'acting']
  let s = seed
  const r = (): number => (s = (s * 16807) % 2147483647) / 2147483647
  let rows = 'text,label\n'
  for (let i = 0; i < n; i++) {
    const p = i % 2 === 0
    const w = Array.from({ length: 5 }, () => filler[Math.floor(r() * filler.length)]!)
    w.splice(Math.floor(r() * 5), 0, (p ? pos : neg)[Math.floor(r() * 5)]!)
    rows += `"${w.join(' ')}",${p ? 'positive' : 'negative'}\n`
  }
  writeFileSync(path, rows)
  return path
}

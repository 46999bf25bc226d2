// Prints the token ids finetune's tokenizer gives for texts, as JSON (used by scripts/check_hf_folder.py).
import { readFileSync, existsSync } from 'node:fs'
import { loadTokenizer } from '../dist/index.js'
const [dir, ...texts] = process.argv.slice(2)
const read = (f) => (existsSync(`${dir}/${f}`) ? readFileSync(`${dir}/${f}`, 'utf8') : undefined)
const tok = loadTokenizer({ tokenizerJson: read('tokenizer.json'), tokenizerConfigJson: read('tokenizer_config.json'), specialTokensMapJson: read('special_tokens_map.json') })
console.log(JSON.stringify(texts.map((t) => { const e = tok.encode(t, null, { truncation: true, maxLength: 128 }); return { ids: e.ids, typeIds: e.typeIds } })))

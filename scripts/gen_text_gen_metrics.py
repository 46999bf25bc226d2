"""Reference BLEU/chrF values from sacreBLEU itself, for cases its own test suite does not cover
(chrF++, multiple references, lowercase, Unicode). Run by hand:
    python3 -m venv /tmp/sb && /tmp/sb/bin/pip install sacrebleu && /tmp/sb/bin/python scripts/gen_text_gen_metrics.py
Writes test/fixtures/sacrebleu/computed.json, read by src/train/metrics-text-gen.test.ts."""
import json
import sacrebleu
from sacrebleu.metrics import BLEU, CHRF

hyps = [
    "Die Datei konnte nicht geöffnet werden.",
    "Öffne   die Einstellungen…",
    "  Fehler: %s ist kein gültiger Pfad ",
    "Das Fenster schließen",
    "設定を開く",
    "Ça ne marche pas, n'est-ce pas ?",
    "It's 3.5 GB (approx.) -- see \"Help\" & <About>.",
    "",
    "Speichern unter...",
    "Druckt das aktuelle Dokument 😀",
]
refs_a = [
    "Die Datei konnte nicht geöffnet werden.",
    "Einstellungen öffnen …",
    "Fehler: %s ist kein gültiger Pfad",
    "Fenster schließen",
    "設定を開きます",
    "Ça ne fonctionne pas, n'est-ce pas ?",
    "It is 3.5 GB (approximately) - see \"Help\" &amp; <About>.",
    "Leer",
    "Speichern unter …",
    "Druckt das aktuelle Dokument",
]
refs_b = [
    "Datei kann nicht geöffnet werden.",
    None,
    "Fehler: %s ist kein gültiger Pfad.",
    "Das Fenster schließen",
    "設定を開く",
    "Cela ne marche pas, n'est-ce pas ?",
    None,
    "",
    "Speichern als …",
    "Das aktuelle Dokument drucken",
]

cases = []
def bleu(name, refs, **kw):
    s = BLEU(**kw).corpus_score(hyps, refs)
    cases.append({"metric": "bleu", "name": name, "opts": kw, "refs": len(refs), "bleu": s.score, "counts": s.counts,
                  "totals": s.totals, "precisions": s.precisions, "bp": s.bp, "sys_len": s.sys_len, "ref_len": s.ref_len})
def chrf(name, refs, **kw):
    s = CHRF(**kw).corpus_score(hyps, refs)
    cases.append({"metric": "chrf", "name": name, "opts": kw, "refs": len(refs), "chrf": s.score})

bleu("default", [refs_a])
bleu("two refs", [refs_a, refs_b])
bleu("lowercase intl", [refs_a, refs_b], lowercase=True, tokenize="intl")
bleu("char floor", [refs_a], tokenize="char", smooth_method="floor")
bleu("add-k none-tok", [refs_a], tokenize="none", smooth_method="add-k", smooth_value=2)
chrf("default", [refs_a])
chrf("two refs", [refs_a, refs_b])
chrf("chrF++", [refs_a], word_order=2)
chrf("chrF++ two refs lowercase eps", [refs_a, refs_b], word_order=2, lowercase=True, eps_smoothing=True)
chrf("whitespace beta 1", [refs_a], whitespace=True, beta=1)

out = {"sacrebleu": sacrebleu.__version__, "hyps": hyps, "refs_a": refs_a, "refs_b": refs_b, "cases": cases}
with open("test/fixtures/sacrebleu/computed.json", "w", encoding="utf-8") as f:
    json.dump(out, f, ensure_ascii=False, indent=1)
print(json.dumps([(c["name"], c.get("bleu", c.get("chrf"))) for c in cases], ensure_ascii=False))

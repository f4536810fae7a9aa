"""The evaluating parent checks tokenizers and decodes positions with `tokenizers` alone, only where it agrees."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np

from quantwb.evaluate.tokenizer_json import agreeing_tokenizer
from quantwb.evaluate.tokens import hf_tokenizer, tokenize_base


def test_agrees_with_the_base_and_decodes_as_transformers(tiny_model: Path, story_text: Path) -> None:
    base = tokenize_base(tiny_model, story_text.read_text())
    light = agreeing_tokenizer(tiny_model, base)  # its tokenizer_config asks for clean-up, which BPE ignores
    assert light is not None
    reference = hf_tokenizer(tiny_model)
    rng = np.random.default_rng(0)
    specials = [reference.bos_token_id, reference.eos_token_id]
    for _ in range(300):
        start = int(rng.integers(0, len(base.ids) - 40))
        ids = [int(i) for i in base.ids[start:start + int(rng.integers(1, 40))]]
        if rng.random() < 0.3:
            ids.insert(int(rng.integers(0, len(ids) + 1)), int(rng.choice(specials)))
        assert light.decode(ids, skip_special_tokens=False) == reference.decode(ids)


def test_a_different_vocabulary_or_encoding_is_left_to_transformers(tiny_model: Path, story_text: Path, tmp_path: Path) -> None:
    base = tokenize_base(tiny_model, story_text.read_text())
    assert agreeing_tokenizer(tiny_model, replace(base, sample_ids=base.sample_ids[:-1])) is None
    assert agreeing_tokenizer(tiny_model, replace(base, vocab=base.vocab[:-1] + ("other",))) is None
    damaged = tmp_path / "damaged"
    shutil.copytree(tiny_model, damaged)
    (damaged / "tokenizer.json").write_text("{}")
    assert agreeing_tokenizer(damaged, base) is None
    (damaged / "tokenizer.json").unlink()
    assert agreeing_tokenizer(damaged, base) is None
    forced = tmp_path / "forced-clean-up"
    shutil.copytree(tiny_model, forced)
    config = json.loads((forced / "tokenizer_config.json").read_text())
    config["clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output"] = True
    (forced / "tokenizer_config.json").write_text(json.dumps({**config, "clean_up_tokenization_spaces": True}))
    assert agreeing_tokenizer(forced, base) is None  # transformers edits the spaces then: it decodes


PROBE = textwrap.dedent("""
    import sys
    from pathlib import Path

    if __name__ == "__main__":
        from quantwb.evaluate.pipeline import EvalConfig, evaluate_variants

        base, text, out = sys.argv[1:4]
        evaluate_variants([Path(base)], EvalConfig(base=base, text=text, ctx=128, chunks=4, out_dir=Path(out), gen_tokens=0))
        print(sorted(name for name in ("torch", "transformers") if name in sys.modules))
""")


def test_an_evaluation_against_a_cached_base_imports_neither_torch_nor_transformers_in_the_parent(
        tiny_model: Path, story_text: Path, tmp_path: Path, quantwb_home: Path) -> None:
    probe = tmp_path / "probe.py"  # a file: the evaluation's worker processes are spawned and import their parent's main
    probe.write_text(PROBE)
    env = {**os.environ, "QUANTWB_HOME": str(tmp_path / "home")}

    def parent_imports(out: str) -> str:
        done = subprocess.run([sys.executable, str(probe), str(tiny_model), str(story_text), str(tmp_path / out)],
                              capture_output=True, text=True, env=env, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout.strip().splitlines()[-1]

    assert parent_imports("first") == "['torch', 'transformers']"  # the base is tokenized once, for its cache
    assert parent_imports("second") == "[]"
    first = json.loads((tmp_path / "first" / "model.text.json").read_text())
    second = json.loads((tmp_path / "second" / "model.text.json").read_text())
    assert second["worst_positions"] == first["worst_positions"]  # decoded by transformers, then by `tokenizers`

"""`quantwb mix` on the tiny model with real llama.cpp: measured scan, exact sizes, recipe, types read back."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import pytest

from quantwb.fileio import sha256_file
from quantwb.formats.gguf_facts import read_tensor_types
from quantwb.mix.allocate import Item, allocate
from quantwb.mix.recipe import read_recipe
from quantwb.records import read_record
from tests.cli_helpers import invoke, one_error_line

CANDIDATES = ("Q2_K", "Q4_K", "Q8_0")  # Q8_0 is also the reference every other group keeps while one is measured
SMALL = {"ctx": 128, "chunks": 2, "judge_chunks": 2, "layers_per_group": 2, "candidates": CANDIDATES}


def _config(model: Path, out: Path, score: str = "full", **target):
    from quantwb.mix.config import MixConfig, MixTarget

    return MixConfig(model=str(model), target=MixTarget(**target), out_dir=out, results_dir=None, score=score, **SMALL)


@pytest.fixture(scope="module")
def made(tiny_model: Path, module_home: Path, module_dir):
    from quantwb.mix.make import make_mix

    out = module_dir("mix")
    return make_mix(_config(tiny_model, out, match="Q4_K_M")), out


@pytest.fixture(scope="module")
def layout(made, tiny_model: Path, module_home: Path):
    """The groups and options of the tiny model as the mix planned them (llama.cpp's dry runs)."""
    from quantwb.formats.gguf_types import INTERMEDIATE_TYPE
    from quantwb.mix.layout import mix_layout
    from quantwb.models import resolve
    from quantwb.quantize.gguf_convert import converted_path

    return mix_layout(converted_path(resolve(str(tiny_model)), INTERMEDIATE_TYPE), list(CANDIDATES), "Q8_0", 2)


def test_written_types_are_the_recipe_and_the_size_fits(made) -> None:
    result, _ = made
    path = result.variant.path
    written = read_tensor_types(path)
    recipe = read_recipe(result.recipe)
    assert len(recipe) == 15  # 2 layers × 7 weights + token_embd (tied output)
    for pattern, type_name in recipe:
        name = pattern.strip("^$").replace("\\", "")
        assert written[name] == type_name
    assert path.stat().st_size <= result.budget_bytes
    assert len({t for _, t in recipe}) > 1  # a real mix, not one type
    manifest = result.variant.manifest
    assert manifest["recipe"]["sha256"] == sha256_file(result.recipe)
    assert manifest["mix"]["budget_bytes"] == result.budget_bytes


def test_size_prediction_is_exact_and_kld_prediction_close(made, layout) -> None:

    result, _ = made
    groups = result.variant.manifest["mix_groups"]
    choice = {g.name: next(o for o in g.options if o.label == groups[g.name]) for g in layout.groups}
    assert layout.size(choice)[0] == result.variant.size_bytes
    assert result.measured_kld > result.scores.reference_kld  # the mix loses more than all-Q8_0
    assert 0.5 < result.predicted_kld / result.measured_kld < 2  # additivity, loosely: 2 windows of a tiny model


def test_more_budget_never_predicts_more_kld(made, layout) -> None:
    from quantwb.mix.make import _reachable, predicted_kld

    result, _ = made
    low, high = _reachable(layout, False)
    predictions = [predicted_kld(layout, result.scores, low + (high - low) * step // 40) for step in range(41)]
    assert all(later <= earlier for earlier, later in itertools.pairwise(predictions))
    assert predictions[0] > predictions[-1]
    scores = result.scores  # the largest budget lets every group take its least-losing option
    unconstrained = scores.reference_kld + sum(min(scores.rise(g, o) for o in g.options) for g in layout.groups)
    assert predictions[-1] == pytest.approx(unconstrained)


def test_second_target_reuses_the_whole_scan_and_judges_on_other_text(made, tiny_model: Path) -> None:
    """Through the command, as a user runs it: the scan of the first target is reused whole."""
    first, out = made
    result = invoke("mix", str(tiny_model), "--target-bpw", "6", "--candidates", ",".join(CANDIDATES), "--ctx", "128",
                    "--chunks", "2", "--judge-chunks", "2", "--layers-per-group", "2", "--score", "full", "--out", str(out),
                    "--results", str(out / "records"))
    assert result.exit_code == 0, result.output
    total = first.scores.facts["measured"] + first.scores.facts["reused"]
    assert f"0 measured, {total} reused" in " ".join(result.stdout.split())
    record = read_record(out / "records" / "model-mix-6bpw.text.json")
    assert record.variant.bits_per_weight is not None and record.variant.bits_per_weight <= 6.0
    assert record.text.name == "c4"
    assert record.variant.parameters["mix"]["chosen_on"]["text"] == "wiki"
    assert record.variant.quant_type == "mix-6bpw"
    written = [type_name for _, type_name in read_recipe(out / "model-mix-6bpw.tensor-types.txt")]
    assert record.variant.tensor_types == {**{t: written.count(t) for t in written}, "F32": 5}  # 5 norms stay F32


def test_target_outside_the_reachable_range_is_one_line(tiny_model: Path, tmp_path: Path) -> None:
    for size in ("1KiB", "10GiB"):
        result = invoke("mix", str(tiny_model), "--target-size", size, "--candidates", "Q4_K", "--out", str(tmp_path))
        assert result.exit_code == 2
        assert "reachable range" in one_error_line(result)
    assert not list(tmp_path.glob("*.gguf"))


def test_unknown_candidate_lists_the_types(tiny_model: Path, tmp_path: Path) -> None:
    result = invoke("mix", str(tiny_model), "--match", "Q4_K_M", "--candidates", "Q4_K,Q9_X", "--out", str(tmp_path))
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "Q9_X" in line and "Q4_K" in line and "Q8_0" in line
    result = invoke("mix", str(tiny_model), "--out", str(tmp_path))
    assert result.exit_code == 2 and "exactly one target" in one_error_line(result)


def test_allocation_is_the_brute_force_optimum() -> None:
    rng = random.Random(7)
    for _ in range(200):
        groups = [[Item(rng.randint(1, 60), rng.uniform(0, 1)) for _ in range(rng.randint(1, 4))]
                  for _ in range(rng.randint(1, 5))]
        budget = rng.randint(0, 200)
        fits = [(sum(i.rise for i in pick), pick) for pick in itertools.product(*groups)
                if sum(i.cost for i in pick) <= budget]
        chosen = allocate(groups, budget)
        if not fits:
            assert chosen is None
            continue
        assert chosen is not None
        assert sum(g[c].cost for g, c in zip(groups, chosen, strict=True)) <= budget
        assert sum(g[c].rise for g, c in zip(groups, chosen, strict=True)) == pytest.approx(min(f[0] for f in fits))


def test_recipe_manifest_lists_the_reproducing_command(made) -> None:
    result, _ = made
    manifest = json.loads(Path(str(result.variant.path) + ".manifest.json").read_text())
    assert manifest["recipe"]["reproduce"].startswith("llama-quantize --tensor-type-file ")
    assert manifest["recipe"]["reproduce"].endswith(" Q8_0")


def test_plan_variants_say_their_target(tiny_model: Path) -> None:
    from quantwb.errors import InputError
    from quantwb.sweep.plan import parse_plan

    plan = parse_plan(f"""
models: ["{tiny_model}"]
variants: [Q4_K_M, {{method: gguf-mix, match: Q4_K_M}}, {{method: gguf-mix, target_bpw: 5.0}}]
""")
    assert [v.id for v in plan.variants] == ["Q4_K_M", "mix-Q4_K_M", "mix-5bpw"]
    spec = plan.variants[2].spec(plan.calibration)
    assert spec is not None and spec.method == "gguf-mix" and spec.option("target_bpw") == 5.0
    assert spec.calibration is not None and spec.calibration.text == "c4"  # chosen on c4, judged on the plan's text
    for bad in ("{method: gguf-mix}", "{method: gguf-mix, match: Q4_K_M, target_bpw: 5}", "{method: gguf, type: Q4_0, match: Q4_K_M}"):
        with pytest.raises(InputError):
            parse_plan(f'models: ["{tiny_model}"]\nvariants: [{bad}]')


def test_sweep_puts_a_mix_beside_the_stock_type(made, tiny_model: Path, tmp_path: Path) -> None:
    """Chosen on wiki with the module's scan settings (so the scan is reused), judged by the sweep on c4."""
    from quantwb.reports.compare import compare
    from quantwb.sweep import SweepOptions, run_sweep
    from quantwb.sweep.plan import parse_plan

    plan = parse_plan(f"""
name: mixes
models: ["{tiny_model}"]
calibration: {{text: wiki}}
variants:
  - Q4_K_M
  - {{method: gguf-mix, match: Q4_K_M, options: {{ctx: 128, chunks: 2, layers_per_group: 2, score: full, candidates: [Q2_K, Q4_K, Q8_0]}}}}
evaluations:
  text: {{name: c4, ctx: 128, chunks: 2}}
""")
    run_sweep(plan, SweepOptions(results_dir=tmp_path / "results"))
    rows = {row.variant.quant_type: row for row in compare([tmp_path / "results" / "records"]).rows}
    assert set(rows) >= {"Q4_K_M", "mix-as-Q4_K_M"}
    assert rows["mix-as-Q4_K_M"].variant.size_bytes <= rows["Q4_K_M"].variant.size_bytes
    assert rows["mix-as-Q4_K_M"].variant.parameters["mix"]["chosen_on"]["text"] == "wiki"
    assert rows["mix-as-Q4_K_M"].text is not None and rows["mix-as-Q4_K_M"].text.text.name == "c4"


def test_candidate_that_needs_an_imatrix_is_one_line_without_one(tiny_model: Path, tmp_path: Path) -> None:
    result = invoke("mix", str(tiny_model), "--match", "Q4_K_M", "--candidates", "IQ2_XS,Q8_0", "--imatrix", "none",
                    "--out", str(tmp_path))
    assert result.exit_code == 2
    assert "IQ2_XS needs an importance matrix" in one_error_line(result)
    result = invoke("mix", str(tiny_model), "--match", "Q4_K_M", "--score", "proxy", "--imatrix", "none",
                    "--out", str(tmp_path))
    assert result.exit_code == 2 and "--score proxy" in one_error_line(result)
    assert not list(tmp_path.glob("*.gguf"))

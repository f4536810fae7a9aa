"""README.md for a quantized HF folder, following Hugging Face model-card conventions (YAML front matter)."""

from __future__ import annotations

from typing import Any

import yaml

# Card fields read from the manifest, in the order the facts table shows them.
_FACT_ROWS = (
    ("Method", "method"),
    ("Scheme", "scheme"),
    ("Checkpoint format", "checkpoint_format"),
    ("Backend", "backend"),
    ("Weight bits", "bits"),
    ("Group size", "group_size"),
    ("Symmetric", "symmetric"),
    ("Bits per weight (file bytes)", "bits_per_weight"),
    ("Weight files (bytes)", "weight_bytes"),
    ("Base parameters", "n_params"),
)


def render_model_card(manifest: dict[str, Any]) -> str:
    """Model card text: front matter (base_model, tags, library_name) + the quantization facts.

    Only deterministic facts go in, so identical inputs give an identical card (wall time stays in the manifest).
    """
    method = manifest["method"]
    front = {
        "base_model": manifest["source"]["name"],
        "library_name": "transformers",
        "pipeline_tag": "text-generation",
        # dict.fromkeys: ordered and without repeats (method and format are both "awq" for classic AWQ).
        "tags": list(dict.fromkeys(["quantwb", method, f"{manifest['bits']}-bit", manifest["checkpoint_format"], "quantized"])),
        "quantization": {
            "method": method,
            "bits": manifest["bits"],
            "group_size": manifest["group_size"],
            "symmetric": manifest["symmetric"],
            "format": manifest["checkpoint_format"],
        },
    }
    lines = ["---", yaml.safe_dump(front, sort_keys=False).rstrip(), "---", "", f"# {manifest['name']}", ""]
    # W8A8 and FP8 quantize activations too (at run time); the rest are weight-only.
    what = f"weight and activation ({manifest['activations']})" if manifest.get("activations") else "weight-only"
    lines.append(
        f"{method.upper()} {manifest['bits']}-bit {what} quantization of `{manifest['source']['name']}` "
        f"made with quantwb {manifest['versions'].get('quantwb', '?')}."
    )
    if manifest["source"].get("origin"):
        lines += ["", f"Base model origin: {manifest['source']['origin']}."]
    lines += ["", "| Fact | Value |", "|---|---|"]
    lines += [f"| {label} | {_cell(manifest.get(key))} |" for label, key in _FACT_ROWS]
    if manifest.get("group_size_note"):
        lines += ["", f"Note: {manifest['group_size_note']}"]
    calibration = manifest.get("calibration")
    if calibration:
        lines += [
            "",
            "## Calibration",
            "",
            f"{calibration['samples']} windows of {calibration['seq_len']} tokens from `{calibration['text_name']}` "
            f"(sha256 `{calibration['text_sha256'][:16]}…`), chosen with seed {calibration['seed']}.",
        ]
    lines += [
        "",
        "## Use",
        "",
        "```python",
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        f'model = AutoModelForCausalLM.from_pretrained("{manifest["name"]}")',
        f'tokenizer = AutoTokenizer.from_pretrained("{manifest["name"]}")',
        "```",
        "",
        "Library versions: " + ", ".join(f"{k} {v}" for k, v in sorted(manifest["versions"].items())) + ".",
        "",
    ]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)

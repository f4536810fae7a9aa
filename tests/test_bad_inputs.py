"""The bad-input matrix: damaged models, unwritable or full destinations, unsafe pickles, interruptions.

Every case runs `quantwb` as a user does (a separate process, real libraries, the tiny model) and checks the
whole promise: the exit code, exactly one `error:` line on stderr and no traceback, nothing on stdout, and
no partial file left where the output would have gone."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_helpers import one_error_line, quantwb
from tests.report_records import VARIANTS, text_record

EVAL = ("--ctx", "64", "--chunks", "2", "--gen-tokens", "0")


def refused(result: subprocess.CompletedProcess, exit_code: int, *fragments: str) -> str:
    """The one error line, after checking the exit code and an empty stdout."""
    assert result.returncode == exit_code, (result.returncode, result.stderr)
    line = one_error_line(result)
    assert result.stdout == "", result.stdout
    for fragment in fragments:
        assert fragment in line, line
    return line


def leftovers(folder: Path) -> list[Path]:
    """Anything under `folder` that is not a finished output: partials, temporaries."""
    if not folder.exists():
        return []
    return [p for p in folder.rglob("*") if ".partial-" in p.name or p.name.endswith(".tmp")]


def model_copy(tiny_model: Path, folder: Path, link_weights: bool = True) -> Path:
    """A copy of the tiny model to damage; the weights linked unless the test damages them."""
    folder.mkdir(parents=True)
    for item in tiny_model.iterdir():
        if item.name.startswith("."):
            continue
        if item.suffix == ".safetensors" and link_weights:
            (folder / item.name).symlink_to(item)
        else:
            shutil.copy2(item, folder / item.name)
    return folder


@pytest.fixture(scope="module")
def damaged(tiny_model: Path, module_dir) -> dict[str, Path]:
    """Model folders with one defect each."""
    root = module_dir("damaged")
    truncated = model_copy(tiny_model, root / "truncated", link_weights=False)
    weights = truncated / "model.safetensors"
    os.truncate(weights, weights.stat().st_size // 2)
    header = model_copy(tiny_model, root / "bad-header", link_weights=False)
    data = bytearray((header / "model.safetensors").read_bytes())
    data[8:40] = b"x" * 32  # the JSON header's opening
    (header / "model.safetensors").write_bytes(bytes(data))
    listed = model_copy(tiny_model, root / "config-list")
    (listed / "config.json").write_text("[1, 2]")
    unknown = model_copy(tiny_model, root / "unknown-arch")
    config = json.loads((unknown / "config.json").read_text())
    (unknown / "config.json").write_text(json.dumps({**config, "architectures": ["FooForCausalLM"], "model_type": "foo"}))
    return {"truncated": truncated, "bad-header": header, "config-list": listed, "unknown-arch": unknown}


# ------------------------------------------------------------------ damaged model folders
@pytest.mark.parametrize("defect", ["truncated", "bad-header"])
def test_damaged_safetensors_through_rtn(damaged: dict[str, Path], tmp_path: Path, defect: str) -> None:
    out = tmp_path / "out"
    refused(quantwb("rtn", str(damaged[defect]), "--out", str(out)), 2, "damaged safetensors file", "model.safetensors")
    assert not leftovers(out) and not list(out.glob("*"))


def test_damaged_safetensors_as_variant_or_base(damaged: dict[str, Path], tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "records"
    refused(quantwb("eval", str(damaged["truncated"]), "--base", str(tiny_model), "--out", str(out), *EVAL), 2,
            "damaged safetensors file")
    refused(quantwb("eval", str(tiny_model), "--base", str(damaged["bad-header"]), "--out", str(out), *EVAL), 2,
            "damaged safetensors file")
    assert not list(out.rglob("*.json"))


def test_config_that_is_not_an_object(damaged: dict[str, Path], tiny_model: Path, tmp_path: Path) -> None:
    refused(quantwb("gptq", str(damaged["config-list"]), "--out", str(tmp_path)), 2, "not a JSON object")
    refused(quantwb("eval", str(damaged["config-list"]), "--base", str(tiny_model), "--out", str(tmp_path), *EVAL), 2,
            "not a JSON object")


def test_architecture_transformers_does_not_know(damaged: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    refused(quantwb("rtn", str(damaged["unknown-arch"]), "--out", str(out)), 2, "does not know the architecture", "'foo'")
    assert not leftovers(out)


# ------------------------------------------------------------------ pickle checkpoints
def _pickle_model(tiny_model: Path, folder: Path, unsafe: bool) -> Path:
    """The tiny model as `pytorch_model.bin`; `unsafe` adds an object torch's safe loader refuses."""
    code = (
        "import sys, shutil, torch\n"
        "from pathlib import Path\n"
        "from safetensors.torch import load_file\n"
        "src, dst, unsafe = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == '1'\n"
        "shutil.copytree(src, dst, ignore=shutil.ignore_patterns('*.safetensors', '.quantwb*'))\n"
        "state = load_file(src / 'model.safetensors')\n"
        "class Payload:\n"
        "    pass\n"
        "torch.save({**state, 'payload': Payload()} if unsafe else state, dst / 'pytorch_model.bin')\n"
    )
    subprocess.run([sys.executable, "-c", code, str(tiny_model), str(folder), "1" if unsafe else "0"], check=True)
    return folder


def test_pickle_the_safe_loader_refuses_is_refused_in_one_line(tiny_model: Path, tmp_path: Path) -> None:
    model = _pickle_model(tiny_model, tmp_path / "unsafe", unsafe=True)
    out = tmp_path / "out"
    line = refused(quantwb("gguf", str(model), "--type", "Q8_0", "--out", str(out)), 2, "safe loader refuses", "pytorch_model.bin")
    assert "weights_only" not in line  # never offers unsafe unpickling
    assert not leftovers(out) and not list(out.rglob("*.gguf"))


def test_plain_pickle_checkpoint_loads_and_is_noted(tiny_model: Path, tmp_path: Path) -> None:
    model = _pickle_model(tiny_model, tmp_path / "plain", unsafe=False)
    result = quantwb("gguf", str(model), "--type", "Q8_0", "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "out" / "plain-Q8_0.gguf.manifest.json").read_text())
    assert manifest["source"]["weights_format"] == "pickle"


# ------------------------------------------------------------------ unwritable destinations
UNWRITABLE = "/proc/quantwb-cannot-be-here"  # the kernel's own filesystem: nothing can be created in it, even as root


def test_unwritable_destinations(tiny_model: Path, tmp_path: Path) -> None:
    refused(quantwb("gguf", str(tiny_model), "--type", "Q8_0", "--out", UNWRITABLE), 1, f"cannot write {UNWRITABLE}")
    refused(quantwb("rtn", str(tiny_model), "--out", UNWRITABLE), 1, f"cannot write {UNWRITABLE}")
    refused(quantwb("eval", str(tiny_model), "--base", str(tiny_model), "--out", UNWRITABLE, *EVAL), 1,
            f"cannot write {UNWRITABLE}")
    records = tmp_path / "records"
    records.mkdir()
    (records / "m.text.json").write_text(json.dumps(text_record(VARIANTS[1]).model_dump(mode="json")))
    refused(quantwb("compare", str(records), "--out", f"{UNWRITABLE}/report.md"), 1, "cannot write")


def test_unwritable_quantwb_home(tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUANTWB_HOME", UNWRITABLE)
    refused(quantwb("eval", str(tiny_model), "--base", str(tiny_model), "--out", str(tmp_path), *EVAL), 1,
            f"cannot write {UNWRITABLE}")


# ------------------------------------------------------------------ a full disk
@pytest.fixture
def full_disk(tmp_path: Path):
    """A 1 MiB tmpfs filled to the last byte (mounting needs root; elsewhere the cases skip, saying so)."""
    mount = tmp_path / "full-disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("a full disk is simulated by mounting a small tmpfs, which needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")
    try:
        filler = os.open(mount / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(filler, b"\0" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(filler)
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_for_every_output(tiny_model: Path, full_disk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    message = f"no space left on {full_disk} writing {full_disk}"
    refused(quantwb("gguf", str(tiny_model), "--type", "Q8_0", "--out", str(full_disk / "gguf")), 1, message)
    refused(quantwb("rtn", str(tiny_model), "--out", str(full_disk / "rtn")), 1, message)
    refused(quantwb("eval", str(tiny_model), "--base", str(tiny_model), "--out", str(full_disk / "records"), *EVAL), 1, message)
    records = tmp_path / "records"
    records.mkdir()
    (records / "m.text.json").write_text(json.dumps(text_record(VARIANTS[1]).model_dump(mode="json")))
    refused(quantwb("compare", str(records), "--out", str(full_disk / "report.html")), 1, message)
    assert not leftovers(full_disk)
    monkeypatch.setenv("QUANTWB_HOME", str(full_disk / "home"))
    refused(quantwb("eval", str(tiny_model), "--base", str(tiny_model), "--out", str(tmp_path / "out"), *EVAL), 1, message)
    assert not leftovers(full_disk) and not list((tmp_path / "out").glob("*.json"))


# ------------------------------------------------------------------ impossible numbers in records, and what compare reads
def _write(folder: Path, name: str, payload: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(payload))  # json writes NaN/Infinity bare, as a buggy writer would
    return path


def _payload(index: int = 1) -> dict:
    return text_record(VARIANTS[index]).model_dump(mode="json")


@pytest.mark.parametrize("edit, fragment", [
    (lambda p: p["kld"]["kld"].__setitem__("mean", float("nan")), "kld.kld.mean is nan"),
    (lambda p: p["perplexity"].__setitem__("ppl", float("inf")), "perplexity.ppl is inf"),
    (lambda p: p["kld"]["kld"]["percentiles"].__setitem__("99", -0.5), "kld.kld.percentiles.99 is -0.5"),
    (lambda p: p["variant"].__setitem__("size_bytes", -1), "variant.size_bytes is -1"),
    (lambda p: p["perplexity"].__setitem__("ppl", "1.5"), "perplexity.ppl"),
    (lambda p: p.__setitem__("schema_version", "1"), "schema_version is '1', not an integer"),
])
def test_impossible_numbers_are_refused_on_read(tmp_path: Path, edit, fragment: str) -> None:
    from tests.cli_helpers import invoke

    payload = _payload()
    edit(payload)
    _write(tmp_path / "records", "m-Q8_0.text.json", payload)
    _write(tmp_path / "records", "m-Q6_K.text.json", _payload(2))
    for args in ((), ("--fail-on", "kld_mean>0.01"), ("--format", "json")):
        result = invoke("compare", str(tmp_path / "records"), *args)
        assert result.exit_code == 4, result.output
        assert fragment in one_error_line(result) and result.stdout == ""


def test_a_gate_fails_on_a_value_it_cannot_compare() -> None:
    from dataclasses import replace

    from quantwb.reports.gate import check_thresholds, parse_threshold
    from quantwb.reports.machine import render_json
    from quantwb.reports.variants import VariantRow

    record = text_record(VARIANTS[1])
    broken = record.model_copy(update={"kld": record.kld.model_copy(update={"kld": record.kld.kld.model_copy(update={"mean": float("nan")})})})
    rows = [VariantRow(record.variant, record.baseline, broken, None, ())]
    breaches = check_thresholds(rows, (parse_threshold("kld_mean>0.05"),))
    assert [str(b) for b in breaches] == ["m-Q8_0 kld_mean=nan cannot be compared (required by 'kld_mean>0.05')"]
    assert check_thresholds(rows, (parse_threshold("kld_mean<0.05"),))  # whichever way the gate points
    from quantwb.reports.compare import Report, mark_pareto

    report = Report(rows=tuple(mark_pareto(rows, "kld_mean")), baselines=(record.baseline,), text_data=record.text,
                    task_settings={}, task_columns=(), pareto_metric="kld_mean", record_paths=())
    assert not report.rows[0].pareto  # a NaN is not Pareto-optimal
    assert json.loads(render_json(replace(report)))["variants"][0]["metrics"]["kld_mean"] is None  # valid JSON


def test_compare_reads_only_records_from_a_results_folder(tmp_path: Path) -> None:
    from tests.cli_helpers import invoke

    results = tmp_path / "results"
    _write(results / "records" / "m", "m-Q8_0.text.json", _payload(1))
    _write(results / "records" / "m", "m-Q6_K.text.json", _payload(2))
    _write(results / "artifacts" / "m", "m-Q8_0.gguf.manifest.json", {"format": "gguf", "name": "m-Q8_0"})
    _write(results / "steps" / "m", "q8_0.text.json", {"step": "text", "outputs": []})
    _write(results, "report.json", {"kind": "quantwb.report", "variants": []})
    result = invoke("compare", str(results), "--format", "csv")
    assert result.exit_code == 0, result.output
    assert [line.split(",")[0] for line in result.stdout.splitlines()[1:]] == ["m-Q6_K", "m-Q8_0"]
    verbose = quantwb("-v", "compare", str(results), "--format", "csv")  # a process of its own: its logging setup
    assert "report.json: not a quantwb record, skipped" in verbose.stderr
    _write(results / "records" / "m", "m-Q4.text.json", {"kind": "quantwb.record"} | {"schema_version": 1})
    (results / "records" / "m" / "m-Q2.text.json").write_text('{"kind": "quantwb.rec')  # damaged: still named
    damaged = invoke("compare", str(results))
    assert damaged.exit_code == 4 and "m-Q2.text.json: not valid JSON" in one_error_line(damaged)


# ------------------------------------------------------------------ the sweep lock under contention
_CONTENDER = """
import os, sys, time
from pathlib import Path
from quantwb.errors import InputError
from quantwb.sweep.steps import results_lock

folder, seconds = Path(sys.argv[1]), float(sys.argv[2])
inside, held, refused = folder / "inside", 0, 0
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    try:
        with results_lock(folder):
            # only the holder may be here: the marker must not exist yet
            fd = os.open(inside, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            os.close(fd)
            held += 1
            time.sleep(0.0005)
            os.unlink(inside)
    except InputError:
        refused += 1
    except FileExistsError:
        print("BOTH HELD THE LOCK", flush=True)
        sys.exit(3)
print(held, refused)
"""


def test_two_processes_hammering_the_lock_never_both_hold_it(tmp_path: Path) -> None:
    contenders = [subprocess.Popen([sys.executable, "-c", _CONTENDER, str(tmp_path), "4"], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outcomes = [process.communicate(timeout=120) for process in contenders]
    for process, (out, err) in zip(contenders, outcomes, strict=True):
        assert process.returncode == 0, (out, err)
    counts = [tuple(map(int, out.split())) for out, _ in outcomes]
    assert all(held > 0 for held, _ in counts), counts  # both got it, many times
    assert sum(refused for _, refused in counts) > 0, counts  # and they did contend
    assert not (tmp_path / ".sweep.lock").exists()


# ------------------------------------------------------------------ killed runs: workers die with them, their partials go
def _processes(field: int, value: int) -> list[int]:
    """Live processes whose /proc/PID/stat field (after the name; 1: parent, 4: session) equals `value`."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[field]) == value and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def _children(pid: int) -> list[int]:
    return _processes(1, pid)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc (Linux)")
def test_killed_eval_takes_its_worker_along_and_a_rerun_cleans_up(tiny_model: Path, tmp_path: Path) -> None:
    import signal
    import time

    from quantwb.home import quantwb_home

    caches = quantwb_home() / "base-logprobs"
    caches.mkdir(parents=True, exist_ok=True)
    other = caches / f".0123abcd.partial-{_dead_pid()}"  # another key's cache, from a run killed long ago
    other.mkdir()
    text = tmp_path / "text.txt"
    text.write_text(Path(__file__).with_name("data").joinpath("tinystories.txt").read_text()[:60000])
    args = [sys.executable, "-m", "quantwb.cli", "eval", str(tiny_model), "--base", str(tiny_model), "--text", str(text),
            "--out", str(tmp_path / "out"), "--ctx", "128", "--chunks", "16", "--gen-tokens", "0"]
    parent = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    partial = None
    while partial is None and time.monotonic() < deadline and parent.poll() is None:
        partial = next((p for p in caches.glob(".*.partial-*") if p != other), None)
        time.sleep(0.05)
    assert partial is not None, "the base pass never started"
    workers = _children(parent.pid)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while any(map(_alive, workers)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert workers and not any(map(_alive, workers)), "a worker outlived its killed parent"
    assert partial.exists()  # what the killed run left
    rerun = quantwb(*args[3:])
    assert rerun.returncode == 0, rerun.stderr
    assert not partial.exists() and not other.exists()
    assert (tmp_path / "out" / f"{tiny_model.name}.text.json").is_file()


def test_a_rerun_removes_a_killed_gguf_partial(tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    stale = out / f".{tiny_model.name}-Q8_0.gguf.partial-{_dead_pid()}"
    stale.write_bytes(b"GGUF half of a file")
    live = out / f".{tiny_model.name}-Q4_0.gguf.partial-{os.getpid()}"  # a live writer's (this test): kept
    live.write_bytes(b"GGUF being written")
    assert quantwb("gguf", str(tiny_model), "--type", "Q8_0", "--out", str(out)).returncode == 0
    assert not stale.exists() and live.exists()
    assert (out / f"{tiny_model.name}-Q8_0.gguf").is_file()


# ------------------------------------------------------------------ Ctrl-C during a parallel sweep
def _session_members(sid: int) -> list[int]:
    return _processes(4, sid)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc (Linux)")
def test_ctrl_c_stops_a_parallel_sweep_at_once(tiny_model: Path, tmp_path: Path) -> None:
    import signal
    import time

    plan = tmp_path / "plan.yaml"
    plan.write_text(f'name: tiny\nmodels: ["{tiny_model}"]\nvariants: [fp, Q8_0, Q4_0, Q5_0, Q4_K_M, Q6_K]\n'
                    "evaluations:\n  text: {name: wiki, ctx: 128, chunks: 3}\n")
    results = tmp_path / "results"
    sweep = subprocess.Popen([sys.executable, "-m", "quantwb.cli", "sweep", str(plan), "--jobs", "2", "--results", str(results)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                             # a test runner started in the background inherits Ctrl-C ignored; a terminal's sweep does not
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 300
    while not list(results.glob("steps/*/base.text.json")) and sweep.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)  # the first chain runs alone; the rest then fan out over the two workers
    time.sleep(2)
    assert sweep.poll() is None, "the sweep ended before it could be interrupted"
    os.killpg(sweep.pid, signal.SIGINT)  # what the terminal does on Ctrl-C: the whole foreground group
    interrupted = time.monotonic()
    out, err = sweep.communicate(timeout=120)
    took = time.monotonic() - interrupted
    assert sweep.returncode == 130, err
    assert [line for line in err.splitlines() if line.strip()][-1].startswith("interrupted:") and "Traceback" not in err
    assert out == ""
    assert took < 20, f"{took:.1f} s from Ctrl-C to exit: queued variants ran on"
    time.sleep(1)
    assert not _session_members(sweep.pid), "a worker of the sweep outlived it"
    assert not (results / ".sweep.lock").exists()
    assert not [p for p in results.rglob("*") if ".partial-" in p.name]


# ------------------------------------------------------------------ a variant made from another model
def test_variant_of_another_model_is_refused_unless_allowed(tiny_model: Path, tmp_path: Path) -> None:
    from quantwb.formats.manifest import write_manifest
    from quantwb.records import read_record
    from tests.cli_helpers import invoke

    variant = model_copy(tiny_model, tmp_path / "other-made")  # same tokenizer and shapes: only the manifest tells
    write_manifest(variant, {"name": "other-made", "method": "fp", "source": {"name": "other", "sha256": "f" * 64}})
    out = tmp_path / "records"
    refused(quantwb("eval", str(variant), "--base", str(tiny_model), "--out", str(out), *EVAL), 2,
            "made from another model", "--allow-foreign-variant")
    assert not out.exists() or not list(out.glob("*.json"))
    allowed = quantwb("eval", str(variant), "--base", str(tiny_model), "--out", str(out), "--allow-foreign-variant", *EVAL)
    assert allowed.returncode == 0, allowed.stderr
    assert read_record(out / "other-made.text.json").variant.foreign_source
    report = invoke("compare", str(out), "--format", "md")
    assert report.exit_code == 0, report.output
    # a data row (the header names the variant too when it is the reference of the paired Δ columns)
    row = next(line for line in report.stdout.splitlines() if line.startswith("| ") and "other-made" in line.split("|")[1])
    assert "(other source)" in row and "made from another model than the baseline" in report.stdout


# ------------------------------------------------------------------ llama.cpp aborting on a damaged vocabulary
def test_llama_cpp_abort_on_duplicate_tokens_is_one_line(tiny_model: Path, tmp_path: Path) -> None:
    import numpy as np
    from gguf import GGUFReader

    made = quantwb("gguf", str(tiny_model), "--type", "Q8_0", "--out", str(tmp_path))
    assert made.returncode == 0, made.stderr
    damaged = tmp_path / "duplicate-tokens.gguf"
    shutil.copy(tmp_path / f"{tiny_model.name}-Q8_0.gguf", damaged)
    reader = GGUFReader(damaged, "r+")  # a memory map: the token strings are edited in place
    tokens = reader.fields["tokenizer.ggml.tokens"]
    strings = [bytes(tokens.parts[i]) for i in tokens.data]
    first, second = [n for n, s in enumerate(strings) if len(s) == 5][100:102]
    tokens.parts[tokens.data[second]][:] = np.frombuffer(strings[first], dtype=np.uint8)  # two ids, one string
    reader.data.flush()
    del reader
    out = tmp_path / "records"
    line = refused(quantwb("eval", str(damaged), "--base", str(tiny_model), "--out", str(out), *EVAL), 2,
                   f"llama.cpp aborted loading {damaged}: ")
    assert "GGML_ASSERT" in line
    assert not out.exists() or not list(out.glob("*.json"))


# ------------------------------------------------------------------ a quiet terminal
def test_a_sweep_shows_only_quantwb_lines(tiny_model: Path, tmp_path: Path) -> None:
    """torch/torchao import warnings, llm-compressor's loguru lines on stdout, lm-eval's warnings, tqdm bars,
    the converter's "Unknown RoPE type", `git describe` run by lm-eval: none reach the terminal without -v."""
    import re

    plan = tmp_path / "plan.yaml"
    plan.write_text(f'name: tiny\nmodels: ["{tiny_model}"]\n'
                    "variants: [fp, Q8_0, {method: rtn, bits: 4, group_size: 64}]\n"
                    "evaluations:\n  text: {name: wiki, ctx: 128, chunks: 2}\n  tasks: {names: [arc_easy], limit: 4}\n")
    results = tmp_path / "results"
    result = quantwb("sweep", str(plan), "--results", str(results))
    assert result.returncode == 0, result.stderr
    ours = re.compile(r"^(done|cached|failed|skipped) +\S+ \w+( [\d.]+ s)?( \(.*\))?  \[\d+/\d+(, (~[\d.]+ (s|min|h))?( \+ )?(\d+ untimed)? left)?\]$"
                      r"|^\d+ steps: \d+ run, \d+ cached$")
    foreign = [line for line in result.stderr.splitlines() if line.strip() and not ours.match(line)]
    assert not foreign, "\n".join(foreign)
    assert len([line for line in result.stderr.splitlines() if line.startswith("done")]) >= 6
    assert result.stdout.splitlines() == [str(results.resolve() / f"report.{fmt}") for fmt in ("md", "html", "json")]


# ------------------------------------------------------------------ smaller promises
def test_only_types_the_quantizer_writes_are_offered() -> None:
    from quantwb.errors import UnsupportedError
    from quantwb.formats.gguf_types import _enum_types, gguf_types, parse_gguf_type

    if "NVFP4" not in _enum_types():
        pytest.skip("this llama-cpp-python names no NVFP4 type")
    assert "NVFP4" not in gguf_types() and "Q4_K_M" in gguf_types() and "F16" in gguf_types()
    with pytest.raises(UnsupportedError, match="names it but its quantizer cannot write it"):
        parse_gguf_type("nvfp4")


def test_group_size_below_every_kernel_size_says_what_divides() -> None:
    from quantwb.errors import UnsupportedError
    from quantwb.quantize.groups import choose_group_size

    with pytest.raises(UnsupportedError, match=r"no kernel size is smaller .*use --group-size 128 or 64 or 32 or 16 or -1"):
        choose_group_size(7, {"a": 256, "b": 768})
    assert choose_group_size(96, {"a": 256, "b": 768}).chosen == 64  # the sizes below are tried, largest first


def test_outputs_are_written_with_the_umask(tmp_path: Path) -> None:
    from quantwb.fileio import write_json_atomic

    old = os.umask(0o022)
    try:
        write_json_atomic(tmp_path / "record.json", {"a": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "record.json").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("variant, fragment", [
    ("Q4_K_Z", "plan tiny: variant Q4_K_Z: unknown GGUF type 'Q4_K_Z'"),
    ("{method: rtn, bits: 5, group_size: 64}", "plan tiny: variant rtn-w5g64: rtn: --bits 5 is not supported"),
    # a size no layer's input size is a multiple of: found from the architecture, not after the variants before it
    ("{method: rtn, bits: 4, group_size: 7}", "plan tiny: variant rtn-w4g7: --group-size 7 does not divide"),
    ("{method: gguf-mix, match: Q4_K_M, options: {candidates: [Q4_K, Q9_Z]}}",
     "plan tiny: variant mix-Q4_K_M: option candidates: unknown candidate type 'Q9_Z'"),
    # a mix chosen on the text that would judge it
    ("{method: gguf-mix, match: Q4_K_M, calibration: {text: wiki}}",
     "plan tiny: variant mix-Q4_K_M: a mix chooses its types on the calibration text (wiki) and would be judged on"),
    ("{method: gguf, type: Q4_K_M, options: {imatrix: no-such.imatrix}}",
     "plan tiny: variant Q4_K_M: --imatrix no-such.imatrix: not auto, compute, none, or an existing imatrix file"),
    # misspelt options are refused when the plan is read (each method's options are a strict model)
    ("{method: gguf, type: Q4_K_M, options: {imatrixx: true}}",
     "variants.2 ({method: gguf, type: Q4_K_M, options: {imatrixx: true}}): options.imatrixx: not an option of gguf"),
    ("{method: gguf-mix, match: Q4_K_M, options: {layers: 2}}",
     "variants.2 ({method: gguf-mix, match: Q4_K_M, options: {layers: 2}}): options.layers: not an option of gguf-mix"),
])
def test_a_wrong_plan_entry_is_a_usage_error_before_any_step(tiny_model: Path, tmp_path: Path, variant: str,
                                                              fragment: str) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(f'name: tiny\nmodels: ["{tiny_model}"]\nvariants: [fp, Q8_0, {variant}]\n'
                    "evaluations:\n  text: {name: wiki, ctx: 128, chunks: 2}\n")
    results = tmp_path / "results"
    refused(quantwb("sweep", str(plan), "--results", str(results)), 2, fragment)
    assert not list(results.glob("steps/*/*.json"))  # nothing ran: not even the valid entries before it


def test_a_missing_plan_model_is_a_usage_error(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(f'name: tiny\nmodels: ["{tmp_path / "no-such-model"}"]\nvariants: [fp, Q8_0]\n')
    refused(quantwb("sweep", str(plan), "--results", str(tmp_path / "results")), 2, "plan tiny: model ", "no such folder")


def test_rtn_stdout_is_just_the_path(tiny_model: Path, tmp_path: Path) -> None:
    """`$(quantwb rtn ...)` captures the variant's path: llm-compressor's log lines (loguru, on stdout) go to the log."""
    result = quantwb("rtn", str(tiny_model), "--group-size", "64", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{tmp_path.resolve() / (tiny_model.name + '-rtn-w4g64')}\n"
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("wrote "), result.stderr


def test_write_failures_are_told_apart_from_reads(tmp_path: Path) -> None:
    """What `disk.write_problem` makes of the failures libraries raise while an output is written (portable: the
    full-disk case above needs root to mount its small disk)."""
    import errno

    from quantwb.disk import write_problem

    target = tmp_path / "out" / "m-Q8_0.gguf"
    full = write_problem(RuntimeError("Error while serializing: I/O error: No space left on device (os error 28)"), target)
    assert full is not None and str(full).startswith("no space left on ") and str(full).endswith(f"writing {target}")
    assert str(write_problem(OSError(errno.ENOSPC, "No space left on device"), target)).startswith("no space left on ")
    missing = write_problem(FileNotFoundError(errno.ENOENT, "No such file or directory", "/proc/x"), Path("/proc/x/r.json"))
    assert str(missing) == "cannot write /proc/x/r.json: No such file or directory (/proc/x)"
    denied = write_problem(PermissionError(errno.EACCES, "Permission denied", str(target.parent / ".m.partial-1")), target)
    assert str(denied).startswith(f"cannot write {target}: Permission denied")
    a_read = FileNotFoundError(errno.ENOENT, "No such file or directory", str(target.parent / "model" / "config.json"))
    assert write_problem(a_read, target) is None  # a file missing inside the folder was being read: not a write failure
    assert write_problem(ValueError("a bug"), target) is None


# ------------------------------------------------------------------ inputs that once ended in a traceback or the wrong code
@pytest.fixture(scope="module")
def odd_inputs(tiny_model: Path, module_dir) -> dict[str, Path]:
    """A folder without tokenizer files, one that ships its own code, a tensorless GGUF and a truncated GGUF."""
    import gguf

    from quantwb.models import resolve
    from quantwb.quantize.gguf_convert import convert_to_gguf

    root = module_dir("odd")
    no_tokenizer = model_copy(tiny_model, root / "no-tokenizer")
    for path in no_tokenizer.glob("tokenizer*"):
        path.unlink()
    remote = model_copy(tiny_model, root / "remote-code")
    (remote / "modeling_foo.py").write_text("raise SystemExit('quantwb must never run or copy this')\n")
    config = json.loads((remote / "config.json").read_text())
    (remote / "config.json").write_text(json.dumps({**config, "auto_map": {"AutoModelForCausalLM": "modeling_foo.Foo"}}))
    vocab_only = root / "vocab-only.gguf"
    writer = gguf.GGUFWriter(str(vocab_only), "llama")
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(["a", "b", "c"])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    truncated = root / "truncated-F16.gguf"
    whole = convert_to_gguf(resolve(str(tiny_model))).read_bytes()
    truncated.write_bytes(whole[: len(whole) // 3])
    return {"no-tokenizer": no_tokenizer, "remote-code": remote, "vocab-only": vocab_only, "truncated": truncated,
            "narrow": narrow_model(tiny_model, root / "narrow")}


def narrow_model(tiny_model: Path, folder: Path) -> Path:
    """An untrained one-layer Llama 192 wide (as SmolLM2-135M's 576, not a multiple of 128), the tiny tokenizer."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = json.loads((tiny_model / "config.json").read_text())
    narrow = {"hidden_size": 192, "intermediate_size": 384, "num_hidden_layers": 1, "num_attention_heads": 3,
              "num_key_value_heads": 1, "head_dim": 64}
    LlamaForCausalLM(LlamaConfig(**{**config, **narrow})).save_pretrained(folder)
    for item in tiny_model.glob("tokenizer*"):
        shutil.copy(item, folder / item.name)
    return folder


@pytest.mark.parametrize("command, case, fragment", [
    (("rtn",), "no-tokenizer", "no tokenizer files"),
    (("gptq", "--samples", "2", "--seq-len", "32"), "no-tokenizer", "no tokenizer files"),
    (("fp8",), "no-tokenizer", "no tokenizer files"),
    (("gguf", "--type", "Q8_0"), "no-tokenizer", "no tokenizer files"),
    (("gguf", "--type", "Q8_0"), "vocab-only", "a GGUF without weight tensors"),
    (("gguf", "--type", "Q8_0"), "truncated", "truncated GGUF file"),
    (("rtn",), "remote-code", "ships its own code (modeling_foo.py, config.json:auto_map)"),
])
def test_inputs_refused_before_any_work(odd_inputs: dict[str, Path], tmp_path: Path, command: tuple[str, ...], case: str,
                                        fragment: str) -> None:
    out = tmp_path / "out"
    refused(quantwb(command[0], str(odd_inputs[case]), *command[1:], "--out", str(out)), 2, str(odd_inputs[case]), fragment)
    assert not list(out.glob("*"))  # nothing written, not even a manifest or Modelfile


def test_a_type_llama_cpp_cannot_write_for_this_model_is_refused_before_any_type_is_written(
        odd_inputs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"  # Q8_0 first: it would be written if the types were only tried one after another
    made = quantwb("gguf", str(odd_inputs["narrow"]), "--type", "Q8_0", "--type", "Q1_0", "--out", str(out))
    refused(made, 2, "--type Q1_0: llama.cpp cannot write this type", "not divisible by 128")
    assert not list(out.glob("*.gguf"))


def test_a_model_with_its_own_code_only_when_allowed(odd_inputs: dict[str, Path], tmp_path: Path) -> None:
    done = quantwb("rtn", str(odd_inputs["remote-code"]), "--group-size", "64", "--out", str(tmp_path), "--allow-remote-code-files")
    assert done.returncode == 0, done.stderr
    manifest = json.loads((Path(done.stdout.strip()) / "quantwb-manifest.json").read_text())
    assert manifest["remote_code_files"] == ["modeling_foo.py", "config.json:auto_map"]


@pytest.mark.parametrize("args, fragment", [
    (("eval", "--ctx", "0"), "Invalid value for '--ctx'"),
    (("eval", "--chunks", "-1"), "Invalid value for '--chunks'"),
    (("recommend", ".", "--max-size", "abc"), "'abc' is not a size"),
    (("compare", ".", "--previous", "/no/such/report.json"), "'/no/such/report.json' does not exist"),
])
def test_usage_errors_are_one_line(args: tuple[str, ...], fragment: str) -> None:
    refused(quantwb(*args), 2, fragment)
    verbose = quantwb("-v", *args)
    assert verbose.returncode == 2 and "Usage:" in verbose.stderr  # the usage hint, only when asked for


def test_debug_keeps_the_exit_code(odd_inputs: dict[str, Path], tmp_path: Path) -> None:
    result = quantwb("--debug", "gguf", str(odd_inputs["vocab-only"]), "--type", "Q8_0", "--out", str(tmp_path))
    assert result.returncode == 2 and "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")


def test_mix_out_is_checked_before_the_scan(tiny_model: Path, tmp_path: Path, quantwb_home: Path) -> None:
    refused(quantwb("mix", str(tiny_model), "--match", "Q4_K_M", "--no-judge", "--out", UNWRITABLE), 1, f"cannot write {UNWRITABLE}")
    assert not (quantwb_home / "mix-scan").exists() and not (quantwb_home / "mix-errors").exists()


def test_autoround_gguf_takes_the_embedded_default(tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from quantwb import defaults
    from tests.cli_helpers import invoke

    monkeypatch.setattr(defaults, "MODEL", str(tiny_model))  # the embedded default's stand-in: the same code path, seconds
    result = invoke("autoround", "--format", "gguf:q4_k_m", "--iters", "0", "--samples", "2", "--seq-len", "32",
                    "--out", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines()[0] == f"no MODEL given: using {tiny_model}"
    assert Path(result.stdout.strip().splitlines()[-1]).is_file()

"""lm-eval's own standard task configs, pointed at local rows: the reference quantwb's offline task pack must match."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lm_eval.api.task import ConfigurableTask

# Our pack task -> lm-eval's own YAML (under lm_eval/tasks/) that it must reproduce.
STANDARD_YAML = {
    "arc_easy": "arc/arc_easy.yaml",
    "arc_challenge": "arc/arc_challenge.yaml",
    "hellaswag": "hellaswag/hellaswag.yaml",
    "piqa": "piqa/piqa.yaml",
    "winogrande": "winogrande/default.yaml",
    "boolq": "super_glue/boolq/default.yaml",
    "lambada_openai": "lambada/lambada_openai.yaml",
}


def standard_task_on_local_data(name: str, ours: dict) -> ConfigurableTask:
    """lm-eval's standard task config, with only its dataset swapped for our local file."""
    import lm_eval.tasks
    from lm_eval.api.task import ConfigurableTask
    from lm_eval.tasks._yaml_loader import load_yaml

    config = load_yaml(Path(lm_eval.tasks.__file__).parent / STANDARD_YAML[name], resolve_func=True)
    config.pop("tag", None)
    config.update(
        dataset_path="json",
        dataset_name=None,
        dataset_kwargs=ours["dataset_kwargs"],
        training_split=None,
        validation_split=ours.get("validation_split"),
        test_split=ours.get("test_split"),
    )
    if name == "boolq":  # super_glue's boolq rows carry label 0/1; google/boolq rows carry answer true/false
        config["process_docs"] = lambda dataset: dataset.map(lambda doc: {"label": int(doc["answer"])})
    return ConfigurableTask(config=config)

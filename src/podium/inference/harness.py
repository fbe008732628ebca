"""One inference benchmark run, end to end: the benchmark's rules, a runner over a backend, the engine, the files.

`run_inference(spec)` resolves the benchmark in the registry of its round, checks the model and dataset before
anything is measured, starts the runner (model instances load here, untimed), runs the mode's LoadGen tests
(performance, accuracy, both, or a peak search) on Podium's engine or the official one, scores accuracy from
mlperf_log_accuracy.json, and writes MLPerf's results layout:

    <out>/results/<system>/<benchmark>/<scenario>/{performance/run_1/, accuracy/, user.conf, measurements.json}

One run at a time per output folder (`podium.core.outdir.exclusive`). A run writes its scenario's files into a
staging folder seeded with the previous ones; they replace the previous ones only when the run finished (an
INVALID result or an accuracy below target is a finished run). A run that failed, was refused, interrupted or
killed leaves the previous results as they were, and its own files under `<out>/.podium/partial/`.

What to run (the spec, its plan, the LoadGen settings) lives in `podium.inference.plan`, the tests of a run in
`phases`: imports point harness -> phases -> plan, never back.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path
from typing import Any

from podium.core.errors import ConfigError, PodiumError
from podium.core.files import atomic_write, output_error
from podium.core.layout import (ACCURACY, FIND_PEAK, MEASUREMENTS, MLPERF_CONF, PERFORMANCE, USER_CONF,
                                 system_description)
from podium.inference import phases
# The plan's names are re-exported: `podium.inference.harness` stays the one import for library users.
from podium.inference.plan import (InferenceResult, InferenceSpec, Plan, default_runner, harness_overrides, plan,
                                   render_user_conf, settings_for)
from podium.inference.record import write_json
from podium.loadgen.settings import Mode


def run_inference(spec: InferenceSpec) -> InferenceResult:
    """Run `spec`; errors in the model, dataset or config are raised before any measurement, and the previous
    results in `spec.out` are replaced only when the run finished."""
    from podium.core.outdir import exclusive

    p = plan(spec)
    with exclusive(spec.out):
        _ensure_system(spec)
        dataset = _open_dataset(p)
        p.model = dataclasses.replace(p.model, example_input=_warm_up_batch(p, dataset))
        if spec.random_weights:
            from podium.inference.random_weights import random_weights_file

            p.model = dataclasses.replace(p.model, path=str(random_weights_file(p.task.model, spec.backend,
                                                                                 spec.cache_dir)))
        with phases.Session(p, dataset) as session:
            return _run_staged(p, session, dataset)


def _run_staged(p: Plan, session: Any, dataset: Any) -> InferenceResult:
    from podium.core.outdir import Staged

    try:
        with Staged(p.scenario_dir, p.spec.out, seed=True) as staged:
            p.work_dir, p.conf_path = staged.path, staged.path / MLPERF_CONF
            _clear_rewritten(p)
            result = session.run_mode()
            _write_scenario_files(p, dataset)
            if result.failed:  # a test failed: its records and files are kept aside, not published
                result.kept_in = staged.set_aside() or staged.path
    finally:
        p.work_dir, p.conf_path = None, p.scenario_dir / MLPERF_CONF
    return result


# The folders each mode writes again; the rest of the previous results stays (e.g. accuracy/ when only
# performance runs; a bisect peak search replaces performance/run_1 only when it found a valid QPS). The
# files beside them (user.conf, measurements.json, mlperf.conf) are rewritten.
_REWRITTEN = {Mode.PERFORMANCE: (str(PERFORMANCE),), Mode.ACCURACY: (str(ACCURACY),),
              Mode.SUBMISSION: (str(PERFORMANCE), str(ACCURACY)), Mode.FIND_PEAK: (FIND_PEAK,)}


def _clear_rewritten(p: Plan) -> None:
    """In the staging folder (seeded with the previous results): remove what this run writes again."""
    for name in (*_REWRITTEN[p.spec.mode], MLPERF_CONF):
        path = p.files_dir / name
        try:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        except OSError as e:
            raise output_error(e, path, "remove") from e


def _ensure_system(spec: InferenceSpec) -> Path:
    """systems/<id>.json beside the results: this machine's description, captured when there is none yet."""
    path = system_description(spec.out, spec.system_id)
    if not path.exists():
        from podium.results import system

        system.write(path, system.capture(spec.system_id))
    return path


# Samples of a warm-up batch at most: enough to create the kernels and arenas, without three untimed passes of
# 64 800x800 images through RetinaNet on a CPU.
WARM_UP_BATCH = 8


def _warm_up_batch(p: Plan, dataset: Any) -> Any:
    """The batch each model instance warms up on: the first sample, repeated to the runner's batch size (at most
    WARM_UP_BATCH, unless the model is compiled for that size); for a
    task with a predictor (which feeds the graph pieces of a sample: 3D U-Net's patches), zeros of the model
    definition's input (records of zeros for a model taking several) for the PyTorch definition it builds, and no
    warm-up for a graph file."""
    if p.task.predictor is None:  # a compiled model runs at the batch size it was compiled for: the runner's
        batch = p.runner.batch_size if p.spec.options.compile else min(p.runner.batch_size, WARM_UP_BATCH)
        return _example_batch(dataset, batch)
    if p.task.model is None or not (p.spec.backend == "pytorch" or p.spec.random_weights):
        return None
    import numpy as np

    from podium.models import MODELS

    definition = MODELS.get(p.task.model)
    if definition.inputs:  # records of zeros, a field per input (two: a batch, as the predictor will feed)
        return np.zeros(2, dtype=definition.sample_dtype())
    return np.zeros((1, *definition.input_shape), dtype=np.float32)


def _example_batch(dataset: Any, n: int) -> Any:
    """A batch of the first sample, for the untimed warm-up of each model instance."""
    import numpy as np

    dataset.load_samples([0])
    try:
        return np.repeat(dataset.get_samples([0]), max(1, n), axis=0)
    finally:
        dataset.unload_samples([0])


def _open_dataset(p: Plan) -> Any:
    from podium.datasets import DATASETS

    opener = DATASETS.get(p.task.dataset)
    return opener(p.spec.dataset_path, cache_dir=p.spec.cache_dir,
                  performance_sample_count=p.bench.performance_sample_count, count=p.spec.dataset_count,
                  **_dataset_options(p))


def _dataset_options(p: Plan) -> dict[str, Any]:
    """The task's dataset options, with a layout given "as the model" read off the model."""
    from podium.inference.tasks import AS_THE_MODEL

    options = dict(p.task.dataset_options)
    if options.get("layout") == AS_THE_MODEL:
        options["layout"] = model_layout(p)
    return options


def model_layout(p: Plan) -> str:
    """NHWC when the model takes images channels-last, else NCHW: from an ONNX file's input shape (a last axis of
    3), from the model definition for state dicts and random weights."""
    from podium.models import MODELS

    spec = p.spec
    if spec.random_weights or spec.backend == "pytorch":
        return MODELS.get(p.task.model).layout if p.task.model else "NCHW"
    if spec.backend != "onnxruntime":
        return "NCHW"
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        shape = onnxruntime.InferenceSession(str(spec.model_path), options).get_inputs()[0].shape
    except Exception as exc:  # onnxruntime raises its own classes; the backend names the problem at load
        raise ConfigError(f"onnxruntime cannot load the model: {str(exc).splitlines()[0]}",
                          path=str(spec.model_path)) from exc
    return "NHWC" if len(shape) == 4 and shape[-1] == 3 else "NCHW"


def _write_scenario_files(p: Plan, dataset: Any) -> None:
    """user.conf and measurements.json beside the runs (MLPerf results layout)."""
    atomic_write(p.files_dir / USER_CONF, render_user_conf(p))
    precision = p.spec.options.precision
    write_json(p.files_dir / MEASUREMENTS, {
        "input_data_types": str(getattr(dataset, "dtype", "fp32")),
        "retraining": "no",
        "starting_weights_filename": "random" if p.spec.random_weights else Path(p.spec.model_path).name,
        "weight_data_types": precision.value,
        "weight_transformations": "none" if p.spec.backend == "pytorch" else "exported to ONNX",
        "podium": {"round": p.round.name, "backend": p.spec.backend, "runner": p.runner.describe(),
                   "engine": p.spec.engine.value, "valid_for_submission": p.spec.valid_for_submission},
    })


def elapsed_since(t0: float) -> float:
    return round(time.perf_counter() - t0, 3)


__all__ = ["InferenceResult", "InferenceSpec", "PodiumError", "default_runner", "harness_overrides", "plan",
           "render_user_conf", "run_inference", "settings_for"]

"""ONNX export of a policy's network; sampling stays outside the graph.

The graph takes the raw observation tensors (uint8 images per camera, proprio float32 (B, D),
instruction token ids int64 (B, L)) and returns the head outputs (``logits`` (B, H, A, K), or
``mean`` and ``log_scale`` (B, H, A)). Everything the runner needs besides the graph (config, spec,
normalisation stats, tokenizer, version) is stored in the model's metadata, so one ``.onnx`` file is
a complete deployable policy (plus a ``.onnx.data`` weights sidecar for models past 2 GB).

Both policy types export the same way: ``tiny`` through its own network module, ``hf`` (SigLIP +
Llama/Qwen, action tokens in the vocabulary) through :class:`robot_rl.policies.hf.export_hf.HFVLAGraph`,
one LM forward pass that yields all H*A action positions (parallel chunk decoding, no decoding loop).
Traced with the TorchScript exporter; the instruction length, image sizes and chunk shape are fixed
by the spec and config, only the batch axis is dynamic.
"""

from __future__ import annotations

import json
import logging
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from robot_rl.errors import ConfigError
from robot_rl.policies.base import Policy
from robot_rl.policies.heads import HEAD_OUTPUTS

log = logging.getLogger(__name__)

META_PREFIX = "robot_rl."


def example_batch(policy: Policy, batch: int = 1, seed: int = 0) -> dict:
    """A random observation batch matching the policy's spec (export tracing, parity checks, benchmarks)."""
    rng = np.random.default_rng(seed)
    spec = policy.spec
    return {"images": {c.name: rng.integers(0, 256, (batch, c.height, c.width, 3), dtype=np.uint8) for c in spec.cameras},
            "proprio": rng.normal(size=(batch, spec.proprio_dim)).astype(np.float32),
            "instruction": ["pick up the red cube and put it in the bowl"] * batch}


def export_metadata(policy: Policy, input_names: list[str] | None = None) -> dict[str, str]:
    """Metadata strings stored in the ONNX file (read back by :class:`~robot_rl.deploy.runners.OnnxRunner`).

    Pass the graph's ``input_names`` when known: building the graph again can cost a model copy (hf).
    """
    import yaml

    if input_names is None:
        _, input_names = policy.export_graph()
    return {
        META_PREFIX + "policy_type": policy.policy_type,
        META_PREFIX + "head": policy.head_kind,
        META_PREFIX + "version": str(policy.version),
        META_PREFIX + "config": json.dumps(policy.config.model_dump(mode="json")),
        META_PREFIX + "spec": yaml.safe_dump(policy.spec.to_dict(), sort_keys=False),
        META_PREFIX + "normalization": json.dumps(policy.stats.to_dict()),
        META_PREFIX + "tokenizer": json.dumps(policy.tokenizer_info()),
        META_PREFIX + "inputs": json.dumps(input_names),
        META_PREFIX + "outputs": json.dumps(list(HEAD_OUTPUTS[policy.head_kind])),
    }


EXTERNAL_DATA_BYTES = 1_800_000_000
"""Above this many bytes of weights the export keeps them in a ``<out>.data`` sidecar (protobuf's 2 GB limit)."""


def export_onnx(policy: Policy, out: str | Path, opset: int = 17, external_data: bool | None = None) -> Path:
    """Export ``policy``'s network to ``out`` (batch axis dynamic, every other axis fixed by the spec and config).

    One self-contained ``.onnx`` file unless the weights pass :data:`EXTERNAL_DATA_BYTES` (a 7B-class
    ``hf`` VLA), or ``external_data`` is True: then they go to ``<out>.data`` next to it, which
    onnxruntime finds by itself. ``hf`` policies are exported in fp32 with LoRA adapters merged.
    """
    try:
        import onnx
    except ModuleNotFoundError:
        raise ConfigError("ONNX export needs the onnx package: pip install 'robot_rl[deploy]'") from None
    out = Path(out)
    if out.suffix != ".onnx":
        raise ConfigError(f"--out: got {str(out)!r}; the exported file must end in .onnx")
    policy = policy.eval()
    module, input_names = policy.export_graph()
    output_names = list(HEAD_OUTPUTS[policy.head_kind])
    inputs = policy.encode_inputs(example_batch(policy, batch=2))
    dynamic = {name: {0: "batch"} for name in input_names + output_names}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.", dir=out.parent) as raw_dir:
        # Exported into a scratch directory first: past 2 GB the exporter writes one file per weight there.
        raw = Path(raw_dir) / "raw.onnx"
        with torch.no_grad(), warnings.catch_warnings():
            # The TorchScript exporter (dynamo=False) traces transformers 5 models as they are and writes
            # one self-contained file (the dynamo one adds a .data sidecar). Its deprecation and tracer
            # notices are expected: shapes other than the batch are static here, and the export CLI /
            # parity tests check the graph against torch. The aten::index notice comes from
            # transformers' padding-mask lookup, whose indices are aranges (never negative).
            warnings.simplefilter("ignore", category=DeprecationWarning)
            warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", message="Exporting aten::index operator")
            torch.onnx.export(module, inputs, str(raw), input_names=input_names, output_names=output_names,
                              dynamic_axes=dynamic, opset_version=opset, dynamo=False)
        model = onnx.load(str(raw))
        for key, value in export_metadata(policy, input_names).items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
        weight_bytes = sum(t.ByteSize() for t in model.graph.initializer)
        sidecar = out.with_name(out.name + ".data")
        # onnx appends to an existing sidecar, and a stale one next to a self-contained file would mislead.
        sidecar.unlink(missing_ok=True)
        if external_data or (external_data is None and weight_bytes > EXTERNAL_DATA_BYTES):
            # onnx writes the sidecar next to the file it saves, under the name given as location.
            onnx.save(model, str(tmp), save_as_external_data=True, all_tensors_to_one_file=True,
                      location=sidecar.name, size_threshold=1024)
        else:
            onnx.save(model, str(tmp))
    onnx.checker.check_model(str(tmp))  # by path: works for models with external data too
    tmp.replace(out)
    log.info("exported %s policy (%s head) to %s", policy.policy_type, policy.head_kind, out)
    return out

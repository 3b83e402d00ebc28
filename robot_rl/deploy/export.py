"""ONNX export of a policy's network; sampling stays outside the graph.

The graph takes the raw observation tensors (uint8 images per camera, proprio float32 (B, D),
instruction token ids int64 (B, L)) and returns the head outputs (``logits`` (B, H, A, K), or
``mean`` and ``log_scale`` (B, H, A)). Everything the runner needs besides the graph (config, spec,
normalisation stats, tokenizer, version) is stored in the model's metadata, so one ``.onnx`` file is
a complete deployable policy.
"""

from __future__ import annotations

import json
import logging
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


def export_metadata(policy: Policy) -> dict[str, str]:
    """Metadata strings stored in the ONNX file (read back by :class:`~robot_rl.deploy.runners.OnnxRunner`)."""
    import yaml

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


def export_onnx(policy: Policy, out: str | Path, opset: int = 17) -> Path:
    """Export ``policy``'s network to ``out`` (a single .onnx file, batch axis dynamic)."""
    try:
        import onnx
    except ModuleNotFoundError:
        raise ConfigError("ONNX export needs the onnx package: pip install 'robot_rl[deploy]'") from None
    out = Path(out)
    if out.suffix != ".onnx":
        raise ConfigError(f"--out: got {str(out)!r}; the exported file must end in .onnx")
    module, input_names = policy.export_graph()
    output_names = list(HEAD_OUTPUTS[policy.head_kind])
    policy = policy.eval()
    inputs = policy.encode_inputs(example_batch(policy, batch=2))
    dynamic = {name: {0: "batch"} for name in input_names + output_names}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    with torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter writes one self-contained file (the dynamo one adds a .data sidecar).
        # Its deprecation and tracer notices are expected: shapes other than the batch are static here,
        # and the export CLI / parity tests check the graph against torch.
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        torch.onnx.export(module, inputs, str(tmp), input_names=input_names, output_names=output_names,
                          dynamic_axes=dynamic, opset_version=opset, dynamo=False)
    model = onnx.load(str(tmp))
    for key, value in export_metadata(policy).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, str(tmp))
    tmp.replace(out)
    log.info("exported %s policy (%s head) to %s", policy.policy_type, policy.head_kind, out)
    return out

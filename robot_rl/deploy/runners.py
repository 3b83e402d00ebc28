"""One sample/act interface over a checkpoint (torch) or an exported ONNX file (onnxruntime).

Both runners turn the network's head outputs into actions with the same code
(:func:`robot_rl.policies.heads.make_distribution`), so a seeded torch generator gives the same
chunk on both paths. GPU use: the torch runner uses CUDA when available (``device="auto"``); the
ONNX runner asks for onnxruntime's CUDA provider when it is installed and reports the provider that
is actually active (``session.get_providers()``), which is the CPU one on machines without a GPU.
"""

from __future__ import annotations

import abc
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robot_rl.config import parse_yaml
from robot_rl.devices import exact_float32, resolve_device
from robot_rl.errors import ConfigError
from robot_rl.policies.base import Policy
from robot_rl.policies.batch import ObsBatch, as_obs_batch, check_obs_batch
from robot_rl.policies.checkpoint import load_policy
from robot_rl.policies.heads import ChunkDistribution, make_distribution
from robot_rl.policies.normalization import NormStats
from robot_rl.policies.sample import PolicySample
from robot_rl.policies.tokenizer import ByteTokenizer
from robot_rl.spec import EmbodimentSpec

log = logging.getLogger(__name__)


def instruction_tokenizer(info: dict[str, Any], path: Path) -> Any:
    """The tokenizer an export recorded: bytes (tiny, or hf without an LM tokenizer) or the LM's own (hf)."""
    kind = info.get("type")
    if kind == ByteTokenizer.kind:
        return ByteTokenizer.from_dict(info)
    if kind == "hf":
        try:
            from robot_rl.policies.hf.modeling_hf import HFTokenizer

            return HFTokenizer.from_dict(info)
        except ModuleNotFoundError as err:
            raise ConfigError(f"{path}: this policy's instruction tokenizer needs {err.name}: "
                              "pip install 'robot_rl[hf]'") from None
    raise ConfigError(f"{path}: tokenizer type {kind!r} in the export metadata; allowed: byte, hf")


class Runner(abc.ABC):
    """A deployable policy: ``sample``/``act`` on observation batches; ``spec``, ``version``, ``provider``.

    Whatever device computes the chunk, ``sample`` and ``act`` return CPU tensors: the caller sends them to a
    robot or a buffer, and every runner then looks the same to it.
    """

    spec: EmbodimentSpec
    version: int
    provider: str
    head_kind: str

    @abc.abstractmethod
    def distribution(self, obs: ObsBatch | Any, temperature: float = 1.0) -> ChunkDistribution:
        """The chunk distribution for ``obs`` (checked against the spec)."""

    def sample(self, obs: ObsBatch | Any, temperature: float = 1.0, generator: torch.Generator | None = None) -> PolicySample:
        """Sample a chunk (B, H, A) in spec units plus what is needed to score it again (see PolicySample)."""
        with torch.no_grad():
            return self.distribution(obs, temperature).sample(generator).to("cpu")

    def act(self, obs: ObsBatch | Any) -> torch.Tensor:
        """Deterministic chunk (B, H, A) in spec units."""
        with torch.no_grad():
            return self.distribution(obs, 1.0).mode().cpu()


class TorchRunner(Runner):
    """A policy checkpoint run in torch (CUDA when available with ``device="auto"``)."""

    def __init__(self, policy: Policy, device: str = "auto") -> None:
        dev = resolve_device(device)
        exact_float32(dev)  # the log-probs it returns are rescored by a learner, maybe on another device
        self.policy = policy.to(dev).eval()
        self.spec, self.version, self.head_kind = policy.spec, policy.version, policy.head_kind
        self.provider = f"torch-{dev.type}"

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "auto") -> TorchRunner:
        return cls(load_policy(path), device)

    def distribution(self, obs: ObsBatch | Any, temperature: float = 1.0) -> ChunkDistribution:
        with torch.no_grad():
            return self.policy.distribution(obs, temperature)


class OnnxRunner(Runner):
    """An exported ``.onnx`` policy run in onnxruntime (CUDA provider when present, CPU otherwise)."""

    def __init__(self, path: str | Path, device: str = "auto", threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
        except ModuleNotFoundError:
            raise ConfigError("running an .onnx policy needs onnxruntime: pip install 'robot_rl[deploy]' "
                              "(or onnxruntime-gpu on a GPU machine)") from None

        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: no such ONNX file; make one with `robot-rl export`")
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        # onnxruntime's worker threads busy-wait after each run by default; they would then compete with
        # the torch sampler that runs right after on the same cores (measured: +3 ms per call on 2 cores).
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        available = ort.get_available_providers()
        if device == "cpu":
            providers = ["CPUExecutionProvider"]
        elif device in ("auto", "cuda") and "CUDAExecutionProvider" in available:
            providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        elif device == "cuda":
            raise ConfigError(f"device: got 'cuda' but onnxruntime has no CUDA provider (available: {available}); "
                              "install onnxruntime-gpu or use 'auto'")
        else:
            providers = ["CPUExecutionProvider"]
        self.session = ort.InferenceSession(str(path), opts, providers=providers)
        # onnxruntime-gpu silently falls back to the CPU when CUDA libraries are missing: report what is active.
        self.provider = self.session.get_providers()[0]
        meta = self.session.get_modelmeta().custom_metadata_map
        try:
            self.policy_type = meta["robot_rl.policy_type"]
            self.head_kind = meta["robot_rl.head"]
            self.version = int(meta["robot_rl.version"])
            self.spec = EmbodimentSpec.from_dict(parse_yaml(meta["robot_rl.spec"], f"{path}: spec"), f"{path}: spec")
            stats = NormStats.from_dict(json.loads(meta["robot_rl.normalization"]), f"{path}: normalization")
            self.tokenizer = instruction_tokenizer(json.loads(meta["robot_rl.tokenizer"]), path)
            self.input_names: list[str] = json.loads(meta["robot_rl.inputs"])
            self.output_names: list[str] = json.loads(meta["robot_rl.outputs"])
        except KeyError as err:
            raise ConfigError(f"{path}: not a robot_rl policy export (metadata {err.args[0]} missing)") from None
        self.config = json.loads(meta["robot_rl.config"])
        self._low, self._high = torch.from_numpy(stats.action_low), torch.from_numpy(stats.action_high)
        self._spec_low, self._spec_high = torch.from_numpy(self.spec.action_low), torch.from_numpy(self.spec.action_high)

    def feeds(self, obs: ObsBatch) -> dict[str, np.ndarray]:
        """onnxruntime inputs for a checked batch."""
        feeds = {f"image_{c}": np.ascontiguousarray(np.asarray(obs["images"][c]), dtype=np.uint8) for c in self.spec.camera_names}
        feeds["proprio"] = np.ascontiguousarray(np.asarray(obs["proprio"]), dtype=np.float32)
        feeds["instruction_ids"] = self.tokenizer(obs["instruction"])
        return feeds

    def head_outputs(self, obs: ObsBatch | Any) -> dict[str, torch.Tensor]:
        batch = as_obs_batch(obs)
        check_obs_batch(batch, self.spec)
        outs = self.session.run(self.output_names, self.feeds(batch))
        return {name: torch.from_numpy(o) for name, o in zip(self.output_names, outs)}

    def distribution(self, obs: ObsBatch | Any, temperature: float = 1.0) -> ChunkDistribution:
        return make_distribution(self.head_kind, self.head_outputs(obs), self._low, self._high,
                                 self._spec_low, self._spec_high, temperature)


def load_runner(path: str | Path, device: str = "auto", threads: int | None = None) -> Runner:
    """A runner for a checkpoint directory (torch) or an ``.onnx`` file (onnxruntime).

    ``device``: ``auto`` (GPU when present), ``cpu`` or ``cuda``; ``threads``: onnxruntime intra-op threads.
    """
    path = Path(path)
    if path.suffix == ".onnx":
        return OnnxRunner(path, device, threads)
    if path.is_dir():
        return TorchRunner.from_checkpoint(path, device)
    raise ConfigError(f"{path}: expected a checkpoint directory or an .onnx file")

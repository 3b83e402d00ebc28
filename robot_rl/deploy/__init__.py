"""Deployment: ONNX export and one sample/act interface over a checkpoint (torch) or an ONNX file.

Both policy types (``tiny``, ``hf``) export to the same graph signature and run behind the same runners.

>>> runner = load_runner("policy.onnx")          # or a checkpoint directory
>>> runner.provider                              # e.g. 'CPUExecutionProvider', 'torch-cuda'
>>> chunk = runner.act(obs_batch)                # (B, H, A) spec units
"""

from robot_rl.deploy.export import example_batch, export_onnx
from robot_rl.deploy.runners import OnnxRunner, Runner, TorchRunner, load_runner

__all__ = ["OnnxRunner", "Runner", "TorchRunner", "example_batch", "export_onnx", "load_runner"]

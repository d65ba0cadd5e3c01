"""Test helpers for evalstack and its users: a loopback OpenAI-compatible server and pytest helpers."""

from ._pytest import assert_gate_passes, assert_metric

__all__: list[str] = ["assert_gate_passes", "assert_metric"]

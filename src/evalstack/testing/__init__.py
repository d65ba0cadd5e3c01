"""Test helpers for evalstack and its users: a loopback OpenAI-compatible server and pytest helpers."""

__all__: list[str] = []

"""What run.json says about the run's inputs: the public form of the config, the provider counters.

Nothing secret and no machine path leaves through here: header values and URL credentials are masked,
registered secrets redacted, file paths made relative to the config's folder.
"""

from __future__ import annotations

__all__ = ["public_config", "relative_path", "request_stats"]

import os
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from .config import Config
    from .models import RunStats

_T = TypeVar("_T")
JSON = object
"""A JSON value (dict, list, str, number, bool or None)."""


def relative_path(path: _T, base: Path) -> _T | str:
    """``path`` relative to ``base`` (the config's folder) when it is an absolute path string: run folders
    and reports then name no absolute path of the machine that wrote them."""
    if not isinstance(path, str) or not os.path.isabs(path):
        return path
    try:
        return Path(os.path.relpath(path, base)).as_posix()
    except ValueError:  # another drive (Windows)
        return path


def public_config(cfg: Config, out_dir: Path | None = None) -> dict[str, JSON]:
    """The resolved config for run.json: every HTTP header value masked (headers may carry keys), URLs'
    ``user:password@`` masked, registered secrets redacted (e.g. one allowed into a prompt), and file paths
    relative to the config's folder."""
    from ._secrets import mask_userinfo, redact_secrets

    data = cfg.model_dump(mode="json", exclude={"source"})
    base = cfg.base_dir
    if out_dir is not None:  # the config's folder relative to the run folder: relative data paths resolve
        data["config_dir"] = relative_path(str(base), Path(out_dir).resolve())
    for m in [*data.get("models", {}).values(), data.get("judge") or {}]:
        if isinstance(m, dict) and "path" in m:
            m["path"] = relative_path(m["path"], base)
    for t in data.get("tasks", []):
        t["data"]["path"] = relative_path(t["data"]["path"], base)
        for k in ("schemas", "module"):  # a tool task's files (inline schemas stay as they are)
            if isinstance((t.get("tools") or {}).get(k), str):
                t["tools"][k] = relative_path(t["tools"][k], base)
        for j in t.get("judges", []) + t.get("pairwise", []):
            if isinstance(j.get("judge"), dict) and "path" in j["judge"]:
                j["judge"]["path"] = relative_path(j["judge"]["path"], base)
            j["rubric"] = relative_path(j.get("rubric"), base)
    for c in data.get("curves", []):
        c["path"] = relative_path(c["path"], base)
    for k in ("output", "cache"):
        data[k] = relative_path(data.get(k), base)

    def mask(node: JSON, key: str | None = None) -> JSON:
        if isinstance(node, dict):
            return {
                k: ({h: "***" for h in v} if k == "headers" and isinstance(v, dict) else mask(v, k))
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [mask(x) for x in node]
        if isinstance(node, str):
            return redact_secrets(mask_userinfo(node) if key in ("base_url", "endpoint") else node)
        return node

    masked = mask(data)
    assert isinstance(masked, dict)
    return masked


def request_stats(st: RunStats) -> dict[str, JSON]:
    """A provider's request counters for run.json (batch-mode counts where batch mode ran)."""
    out: dict[str, JSON] = {
        "requests": st.requests,
        "cached": st.cached,
        "retries": st.retries,
        "failed": st.failed,
        "cache_repaired": st.cache_repaired,
        "faults": dict(sorted(st.faults.items())),
    }
    if st.batch is not None:
        b = st.batch
        batch: dict[str, JSON] = {
            k: getattr(b, k)
            for k in ("created", "resumed", "polls", "results", "failed_lines", "unfinished", "resubmitted", "online")
            if hasattr(b, k)
        }
        batch["batch_ids"] = list(getattr(b, "batch_ids", []))
        out["batch"] = batch
    return out

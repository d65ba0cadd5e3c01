"""The run side of sharding: which examples a shard holds, and the records `merge` rebuilds the run from.

``--shard I/N`` keeps the examples whose id hashes to shard I (sha256 of the id, so membership depends on
the id alone: adding rows to the set never moves an existing example to another shard, and every request
of one example, generations and judges, lives in one shard). A shard folder is a run folder of that subset
(run.json, examples.jsonl, reports saying "shard I of N") plus ``shard.jsonl``: per task the examples'
positions in the full set and the columns scoring reads (gold labels, references, context, slice values),
and per task and model the order of its metric keys and, for the keys `merge` cannot recompute from the
saved outputs (metrics that load a model or need token logprobs, judges), their per-example sufficient
statistics. `merge` (:mod:`evalstack.shards`) puts the union back in the data file's order and summarises
it with the same functions as a single run, so the merged run.json equals one.
"""

from __future__ import annotations

__all__ = [
    "RECORDS",
    "ShardSpec",
    "check_shardable",
    "refuse_shard_folder",
    "select_examples",
    "shard_index",
    "write_records",
]

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ._io import AtomicWriter
from ._outdir import record, sha256_file
from .errors import ConfigError

if TYPE_CHECKING:
    from ._prepare import TaskPlan
    from .config import Config
    from .metrics import MetricResult

RECORDS = "shard.jsonl"
"""The shard's records file, beside run.json and examples.jsonl."""

MEAN = "evalstack.metrics._base:_mean_from_stats"
"""``from_stats`` of mean-type results (:func:`evalstack.metrics.mean_result`): rebuilt by the same function."""


def shard_index(example_id: str, n: int) -> int:
    """The shard (1..n) that holds ``example_id``: the first 8 bytes of its sha256, modulo n."""
    digest = hashlib.sha256(str(example_id).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % n + 1


@dataclasses.dataclass(frozen=True)
class ShardSpec:
    """Shard ``index`` of ``of`` (1-based): ``--shard 2/4`` is ``ShardSpec(2, 4)``."""

    index: int
    of: int

    @classmethod
    def parse(cls, text: str) -> ShardSpec:
        """``"I/N"`` with 1 <= I <= N; anything else is a ConfigError (one line, exit 2)."""
        parts = str(text).strip().split("/")
        try:
            index, of = (int(p) for p in parts) if len(parts) == 2 else (0, 0)
        except ValueError:
            index, of = 0, 0
        if not (1 <= index <= of):
            raise ConfigError(
                f"--shard: expected I/N with 1 <= I <= N, got '{text}'", hint="e.g. --shard 2/4 (the second of 4)"
            )
        return cls(index, of)

    @property
    def label(self) -> str:
        return f"{self.index}/{self.of}"

    @property
    def folder_name(self) -> str:
        """The default folder under the config's ``output``: ``shard-I-of-N``."""
        return f"shard-{self.index}-of-{self.of}"

    def holds(self, example_id: str) -> bool:
        return shard_index(example_id, self.of) == self.index

    def as_setting(self) -> dict[str, int]:
        return {"index": self.index, "of": self.of}


def refuse_shard_folder(settings: Mapping[str, object], where: str) -> None:
    """A shard folder is not a verdict: `gate` and `compare` refuse one (ConfigError, exit 2)."""
    shard = settings.get("shard")
    if isinstance(shard, dict):
        raise ConfigError(
            f"this is shard {shard.get('index')} of {shard.get('of')}, not a run: a shard alone is no verdict",
            where=where,
            hint="merge the shard folders first (evalstack merge SHARD_DIR... --out DIR) and use the merged run",
        )


def check_shardable(cfg: Config) -> None:
    """What a shard cannot carry to the merge, refused before any request (one line, exit 2)."""
    if cfg.curves:
        raise ConfigError(
            "--shard: a sharded run does not analyse loss curves",
            where=f"{cfg.source or 'config'}: curves",
            hint="drop `curves:` from the shards' config and run `evalstack curves analyze` beside the merge",
        )
    for i, task in enumerate(cfg.tasks):
        for j, judge in enumerate(task.judges):
            if getattr(judge, "human_labels", None) is not None:
                raise ConfigError(
                    "--shard: a judge with human_labels is corrected over the whole set",
                    where=f"{cfg.source or 'config'}: tasks[{i}].judges[{j}].human_labels",
                    hint="run this task without --shard",
                )
        for j, spec in enumerate(task.metrics):
            if spec.options.get("idf"):
                raise ConfigError(
                    f"--shard: metric '{spec.name}' with idf weighs each example by the whole reference set",
                    where=f"{cfg.source or 'config'}: tasks[{i}].metrics[{j}].idf",
                    hint="a shard sees only its part: turn idf off, or run without --shard",
                )


def select_examples(
    cfg: Config, plans: Sequence[TaskPlan], spec: ShardSpec
) -> tuple[list[TaskPlan], dict[str, tuple[list[int], int]]]:
    """Each task's plan restricted to the shard's examples, and per task (their positions in the full,
    limited set; the size of that set). What a shard cannot carry to the merge is refused first."""
    check_shardable(cfg)
    out, where = [], {}
    for plan in plans:
        if getattr(plan, "conversations", None) is not None:
            raise ConfigError(
                "--shard: multi-turn tasks (turns:, messages:) cannot be merged across shards yet",
                where=f"{cfg.source or 'config'}: tasks[{plan.index}]",
                hint="run multi-turn tasks without --shard",
            )
        keep = [i for i, ex in enumerate(plan.examples) if spec.holds(ex.id)]
        out.append(
            dataclasses.replace(
                plan, examples=[plan.examples[i] for i in keep], messages=[plan.messages[i] for i in keep]
            )
        )
        where[plan.name] = (keep, len(plan.examples))
    return out, where


def _json(x: object) -> object:
    """A cell as JSON keeps it (what scoring sees of it is unchanged: labels and scalars compare as text)."""
    if x is None or isinstance(x, (str, int, float, bool)):
        return x
    if isinstance(x, (list, tuple)):
        return [_json(v) for v in x]
    if isinstance(x, dict):
        return {str(k): _json(v) for k, v in x.items()}
    return str(x)


def _qualname(fn: object) -> str | None:
    """``module:qualname`` of a function that can be imported back; None for a lambda or a closure."""
    name = f"{getattr(fn, '__module__', '')}:{getattr(fn, '__qualname__', '')}"
    return None if "<" in name or name.startswith(":") or name.endswith(":") else name


def _arrays(r: MetricResult) -> dict[str, object]:
    return {
        "higher_is_better": r.higher_is_better,
        "corpus_only": r.corpus_only,
        "from_stats": _qualname(r.from_stats),
        "details": _json(r.details),
        "per_example": r.per_example,
        "scored": [bool(x) for x in r.scored.tolist()],
        "suff_stats": r.suff_stats.tolist(),
    }


def _task_line(plan: TaskPlan, positions: list[int], n_total: int) -> dict[str, object]:
    c = plan.cfg

    def col(name: str | None) -> list[object] | None:
        values = plan.column(name)
        return None if values is None else [_json(v) for v in values]

    return {
        "kind": "task",
        "task": plan.name,
        "n_total": n_total,
        "ids": [ex.id for ex in plan.examples],
        "positions": positions,
        "target": col(c.target),
        "reference": col(c.reference),
        "knowledge": col(c.context),
        "slices": {
            s: [None if ex.row.get(s) is None else str(ex.row.get(s)) for ex in plan.examples] for s in c.slice_by
        },
        # metrics recomputed from the union of outputs at merge (exact for corpus metrics: F1, BLEU...)
        "recompute": _recompute(plan),
    }


def _recompute(plan: TaskPlan) -> list[int]:
    """The task's metrics (by index) that merge recomputes from the saved outputs: all but those that
    load a model or need token logprobs (their per-example statistics are saved instead)."""
    return [
        j
        for j, mp in enumerate(plan.metrics)
        if not mp.instance.loads_backend() and not getattr(mp.instance, "needs_logprobs", False)
    ]


def write_records(
    out_dir: Path,
    spec: ShardSpec,
    digest: str,
    plans: Sequence[TaskPlan],
    where: Mapping[str, tuple[list[int], int]],
    blocks: Mapping[tuple[str, str], tuple[Sequence[tuple[int, int, str]], Sequence[MetricResult]]],
) -> str:
    """Write ``shard.jsonl`` (atomically, listed in the folder's manifest first) and return its sha256.

    ``blocks``: (task, model) -> (its rows as (example index, repeat index, scoring id), its results in
    the run's order: the task's metrics, then its judges)."""
    path = out_dir / RECORDS
    record(out_dir, [path])
    with AtomicWriter(path, root=out_dir) as fh:

        def put(obj: dict[str, object]) -> None:
            fh.write(json.dumps(obj, ensure_ascii=False, allow_nan=True) + "\n")

        put({"kind": "shard", "index": spec.index, "of": spec.of, "config_digest": digest, "format": 1})
        recomputed: dict[str, set[str]] = {}
        for plan in plans:
            line = _task_line(plan, *where[plan.name])
            put(line)
            metrics = [plan.metrics[j] for j in _recompute(plan)]
            recomputed[plan.name] = {k for mp in metrics for k in mp.instance.keys(mp.options)}
        for (task, model), (rows, results) in blocks.items():
            put(
                {
                    "kind": "scores",
                    "task": task,
                    "model": model,
                    "rows": [[i, r] for i, r, _ in rows],
                    "keys": [r.key for r in results],
                    "arrays": {r.key: _arrays(r) for r in results if r.key not in recomputed[task]},
                }
            )
    return sha256_file(path)

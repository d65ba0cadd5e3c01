"""Task metrics: one registry, each metric equal to the reference library the field trusts.

Public API::

    from evalstack.metrics import compute
    r = compute("rouge", predictions, references, types=["rougeL"])
    r.value, r.per_example, r.higher_is_better

Metrics are classes registered by name (``register_metric``); built-in ones derive from
:class:`BaseMetric`, which validates their declared options. ``extract_labels`` maps free-text outputs
to class labels; ``RougeScorer`` is the fast drop-in for rouge-score's scorer.
"""

from ._base import (
    Metric,
    MetricContext,
    MetricInfo,
    MetricResult,
    Reference,
    get_metric,
    list_metrics,
    mean_result,
    register_metric,
)
from ._engine import RayEngine, use_engine
from ._labels import LABEL_MODES, extract_labels
from ._options import BaseMetric, Option
from ._ray import connect as connect_ray  # imports Ray only when called
from ._rouge import RougeScorer
from ._toolcalls import valid_call

__all__ = [
    "BaseMetric",
    "LABEL_MODES",
    "Metric",
    "MetricContext",
    "MetricInfo",
    "MetricResult",
    "Option",
    "RayEngine",
    "connect_ray",
    "Reference",
    "RougeScorer",
    "compute",
    "extract_labels",
    "get_metric",
    "list_metrics",
    "mean_result",
    "register_metric",
    "valid_call",
    "use_engine",
]


def compute(name, predictions, references=None, **options):
    """Compute metric ``name`` and return its primary :class:`MetricResult`.

    Options that belong to the metric (``average=``, ``types=``, ``threshold=``...) configure it; the
    keyword ``context`` (a dict of per-example columns) is passed through. Where a metric yields several
    keys (ROUGE types, P/R/F), the first is returned and all are in ``result.details["all"]``.
    """
    context = options.pop("context", None) or {}
    results = get_metric(name)(**options).compute(predictions, references, **context)
    first = results[0]
    if len(results) > 1:
        first.details.setdefault("all", {r.key: r for r in results})
    return first

"""Task metrics: one registry, each metric equal to the reference library the field trusts.

Public API::

    from evalstack.metrics import compute
    r = compute("rouge", predictions, references, types=["rougeL"])
    r.value, r.per_example, r.higher_is_better
"""

from ._base import (
    Metric,
    MetricInfo,
    MetricResult,
    get_metric,
    list_metrics,
    mean_result,
    register_metric,
)

__all__ = [
    "Metric",
    "MetricInfo",
    "MetricResult",
    "compute",
    "get_metric",
    "list_metrics",
    "mean_result",
    "register_metric",
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

"""Cost: prices (a shipped, dated table, overridable per model), offline token counts, estimates and actuals."""

from ._budget import Budget, stop_sentence
from ._cli import config_estimate, estimate_lines, print_estimate
from ._estimate import CostLine, Estimate, actual_cost, check_max_cost, estimate_cost, model_price, run_cost, sum_costs
from ._prices import BATCH_DISCOUNT, PRICES, PRICES_AS_OF, Price, PriceSpec, price_for
from ._tokens import TokenCounter, counter_for, encoding_name

__all__ = [
    "BATCH_DISCOUNT",
    "Budget",
    "PRICES",
    "PRICES_AS_OF",
    "CostLine",
    "Estimate",
    "Price",
    "PriceSpec",
    "TokenCounter",
    "actual_cost",
    "check_max_cost",
    "config_estimate",
    "estimate_lines",
    "print_estimate",
    "counter_for",
    "encoding_name",
    "estimate_cost",
    "model_price",
    "price_for",
    "run_cost",
    "stop_sentence",
    "sum_costs",
]

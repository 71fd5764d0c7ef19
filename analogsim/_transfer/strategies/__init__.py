"""The transfer strategies: name -> `Strategy`, in the order the experiment runs and reports
them. A new strategy is one file here (a `run(run, at)` that records its targets' accuracy and
costs through `Run`) and one line in this table."""

from ..run import Strategy
from . import conductances, digital, distill, finetune, hardware_aware, weights

TABLE: dict[str, Strategy] = {
    "conductances": conductances.STRATEGY,
    "weights": weights.STRATEGY,
    "distill": distill.STRATEGY,
    "finetune": finetune.STRATEGY,
    "hardware-aware": hardware_aware.STRATEGY,
    "digital": digital.STRATEGY,
}

"""Rasch et al. (Nat. Commun. 15:7133, 2024) Fig. 4 on this simulator: the weight error each
in-situ learning algorithm leaves when one analog layer learns a fixed target matrix, against
the spread of the fast array's reference around its symmetry point (sigma_r) and the number
of device states.

    python benchmarks/tiki_taka_toy.py [--steps 4000] [--chips 3] [--out FIGURE] [--json FILE]

Each cell: an 8 x 8 layer of soft-bounds devices (`soft_bounds_spec`: ideal reads, sigma_+-
= 0.1, no bound spread) trained from He-normal weights for `--steps` steps of 8 standard
normal inputs towards W* (uniform over the middle half of the range), by each algorithm at
its default settings; the error is the standard deviation of W - W* in units of the layer's
digital scale, averaged over `--chips` chips (the paper: three construction seeds). sgd and
agad read no reference device: their row is one run per state count.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib
import numpy as np
from _record import write_record

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402

from analogsim._learn.algorithms import ALGORITHMS, get_algorithm  # noqa: E402
from analogsim._learn.target_fit import soft_bounds_spec, target_weight_error  # noqa: E402

STATES = (20, 50, 100, 200, 500, 1000)
OFFSETS = (0.0, 0.1, 0.2, 0.4, 0.8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--chips", type=int, default=3)
    parser.add_argument("--out", default="docs/tiki_taka_toy.png")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    errors = np.zeros((len(ALGORITHMS), len(STATES), len(OFFSETS)))
    started = time.perf_counter()
    for a, name in enumerate(ALGORITHMS):
        for s, states in enumerate(STATES):
            for o, offset in enumerate(OFFSETS):
                if name in ("sgd", "agad") and o > 0:  # no reference device: one run a row
                    errors[a, s, o] = errors[a, s, 0]
                    continue
                settings = {} if name in ("sgd", "agad") else {"reference_offset": offset}
                error = target_weight_error(
                    soft_bounds_spec(states),
                    get_algorithm(name, **settings),
                    steps=args.steps,
                    chips=args.chips,
                )
                errors[a, s, o] = float(np.mean(error))
        print(f"{name:>7}: done at {time.perf_counter() - started:.0f} s", flush=True)
    print(f"\nweight error (std of W - W*, units of the digital scale), {args.steps} steps")
    print(f"{'states':>8}{'':>3}" + "".join(f"{'sigma_r=' + str(o):>13}" for o in OFFSETS))
    for a, name in enumerate(ALGORITHMS):
        print(name)
        for s, states in enumerate(STATES):
            print(f"{states:>8}{'':>3}" + "".join(f"{v:>13.4f}" for v in errors[a, s]))
    draw(errors, args.out, args.steps)
    print(f"wrote {args.out}")
    if args.json:
        write_record(
            args.json,
            "tiki_taka_toy",
            {
                "algorithms": list(ALGORITHMS),
                "states": list(STATES),
                "reference_offset": list(OFFSETS),
                "weight_error": errors.tolist(),
                "steps": args.steps,
                "chips": args.chips,
                "seconds": time.perf_counter() - started,
            },
        )


def draw(errors: np.ndarray, out: str, steps: int) -> None:
    """Four heat maps side by side, as the paper's Fig. 4 A-D: reference offset across,
    number of states up, the weight error in colour (one logarithmic scale for all)."""
    fig, axes = plt.subplots(1, len(ALGORITHMS), figsize=(3.3 * len(ALGORITHMS), 3.6), sharey=True)
    norm = LogNorm(vmin=float(np.min(errors)), vmax=float(np.max(errors)))
    for ax, name, e in zip(axes, ALGORITHMS, errors, strict=True):
        image = ax.imshow(e, origin="lower", cmap="viridis", norm=norm, aspect="auto")
        ax.set_xticks(range(len(OFFSETS)), [str(o) for o in OFFSETS])
        ax.set_yticks(range(len(STATES)), [str(s) for s in STATES])
        ax.set_title(name)
        for (i, j), v in np.ndenumerate(e):
            ax.text(j, i, f"{v:.3f}", ha="center", va="center", fontsize=6.5, color="w")
    axes[0].set_ylabel("device states n_states")
    fig.supxlabel("reference offset sigma_r (w units; the nominal range is 2)", fontsize=10)
    fig.colorbar(image, ax=axes, label="weight error (std of W - W*, scale units)")
    fig.suptitle(
        f"Learning a fixed 8x8 target in situ, soft-bounds devices, {steps} steps "
        "(cf. Rasch et al. 2024, Fig. 4)",
        fontsize=10,
    )
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=130, bbox_inches="tight")


if __name__ == "__main__":
    main()

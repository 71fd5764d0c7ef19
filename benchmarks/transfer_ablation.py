"""Which device-to-device spread makes the copies fail: the nominal transfer loss of the
`conductances` and `weights` strategies with each spread of reram_es set to zero in turn, and
the published programming spread (which every write settles by) set to zero.

    python benchmarks/transfer_ablation.py [--chips 8] [--epochs 5] [--json FILE]

Each row is one `transfer` run at variation 1 (the preset's nominal); the loss is the median
over target chips, in accuracy points. A spread that drives the loss is one whose removal
brings it down.
"""

from __future__ import annotations

import argparse
import dataclasses

from _record import write_record

import analogsim as A


def _zeroed(spec: A.HardwareSpec) -> dict[str, A.HardwareSpec]:
    device, variation, pulses = spec.device, spec.device.variation, spec.pulse_response
    with_variation = lambda **kw: dataclasses.replace(
        spec, device=dataclasses.replace(device, variation=dataclasses.replace(variation, **kw))
    )
    return {
        "all spreads (nominal)": spec,
        "no stuck devices": with_variation(stuck_on_prob=0.0, stuck_off_prob=0.0),
        "no read-gain or range spread": with_variation(read_gain_sigma=0.0, range_sigma=0.0),
        "no I-V spread": with_variation(iv_nonlinearity_sigma=0.0),
        "no converter spread": dataclasses.replace(
            spec, periphery=A.PeripheryVariation(0.0, 0.0, 0.0, 0.0)
        ),
        "no pulse-response spread": dataclasses.replace(
            spec,
            pulse_response=dataclasses.replace(
                pulses, dw_min_dtod=0.0, up_down_dtod=0.0, w_min_dtod=0.0, w_max_dtod=0.0
            ),
        ),
        # not a device-to-device spread: the published spread every write settles by
        "no programming spread": dataclasses.replace(
            spec, device=dataclasses.replace(device, prog_noise_scale=0.0)
        ),
        "no stuck devices, no programming spread": dataclasses.replace(
            spec,
            device=dataclasses.replace(
                device,
                prog_noise_scale=0.0,
                variation=dataclasses.replace(variation, stuck_on_prob=0.0, stuck_off_prob=0.0),
            ),
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chips", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    net, data = A.mlp(), A.load_digits()
    rows = {}
    print(f"{'':<42}{'source':>8}{'conductances':>14}{'weights':>9}")
    for name, spec in _zeroed(A.spec_for("reram_es")).items():
        ds = A.transfer(
            spec,
            net,
            data,
            chips=args.chips,
            variation=(1.0,),
            strategies=("conductances", "weights"),
            epochs=args.epochs,
        )
        loss = ds["transfer_loss"].median("chip").isel(variation=0) * 100
        rows[name] = {
            "source_accuracy": float(ds["source_accuracy"][0]),
            **{s: float(loss.sel(strategy=s)) for s in ("conductances", "weights")},
        }
        r = rows[name]
        src = r["source_accuracy"] * 100
        print(f"{name:<42}{src:>7.1f}%{r['conductances']:>14.1f}{r['weights']:>9.1f}", flush=True)
    if args.json:
        write_record(
            args.json,
            "transfer_ablation",
            {"chips": args.chips, "epochs": args.epochs, "rows": rows},
        )


if __name__ == "__main__":
    main()

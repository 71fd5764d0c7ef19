"""`analogsim devices`: the device presets with their citations."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    sub.add_parser("devices", help="list device presets with citations")


def run(args: argparse.Namespace) -> None:
    from device_models import PULSE_PRESETS, list_devices

    print("read/drift presets (simulate, device):")
    for name, citation in list_devices():
        print(f"  {name:<14} {citation}")
    print("pulsed-update presets (device):")
    for name, make in sorted(PULSE_PRESETS.items()):
        print(f"  {name:<14} {make().citation}")

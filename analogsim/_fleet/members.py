"""How the members of a fleet differ and where they run, as one value.

A fleet is a vmap over chips. Its members may also differ in the values of some sweepable
spec parameters (a sweep trains each (grid point, chip) pair as one member), and its chip
axis may be split over a device mesh. Both travel together through every fleet function.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax.numpy as jnp
from jax.sharding import Mesh
from jaxtyping import Array, ArrayLike, Float

from .._chip.spec import HardwareSpec
from .._chip.sweepable import with_params
from .mesh import fleet_vmap


class Members(eqx.Module):
    """Each member's own parameter values, and the mesh the members are split over.

    Attributes:
        names: sweepable parameters (`sweepable`) each member sets for itself (static).
        values: each member's values of them, (members, len(names)); None without names.
            Traced: a sweep over them compiles once.
        mesh: the devices the member axis is split over (`fleet_vmap`); None: one device.
    """

    names: tuple[str, ...] = eqx.field(static=True, default=())
    values: Float[Array, "members names"] | None = None
    mesh: Mesh | None = eqx.field(static=True, default=None)

    @staticmethod
    def varied(variation: ArrayLike, mesh: Mesh | None = None) -> Members:
        """Members that differ only in their variation multiplier, (members,)."""
        return Members(("variation",), jnp.asarray(variation)[:, None], mesh)

    def values_for(self, members: int) -> Float[Array, "members names"]:
        """The values as a (members, len(names)) float32 array (zero columns without names)."""
        if self.values is None:
            if self.names:
                raise ValueError("values are needed for the parameters " + ", ".join(self.names))
            return jnp.zeros((members, 0), jnp.float32)
        return jnp.asarray(self.values, jnp.float32).reshape(members, len(self.names))

    def spec(self, spec: HardwareSpec, values: Float[Array, " names"]) -> HardwareSpec:
        """`spec` with one member's own values (len(names),)."""
        return with_params(spec, self.names, values) if self.names else spec

    def vmap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """`fn` vmapped over the leading member axis of every argument, split over the mesh."""
        return fleet_vmap(fn, self.mesh)


# members alike but for their chip keys, on one device: the default of every fleet function
ALIKE = Members()

"""The published RRAM spread (Wan et al., Nature 2022, as aihwkit fits it), written once for
the tests that check the presets against it, in float64 and independently of the package."""

import numpy as np

# aihwkit ReRamWan2022NoiseModel.coeff_dic, exactly as aihwkit writes it (highest order first,
# reversed), sigma in uS of x = g / 40 uS, at 1 s, 1 day and 2 days after write-verify.
WAN2022_COEFFS = {
    1.0: [-16.815, 45.393, -43.853, 16.030, 0.348][::-1],
    3600 * 24.0: [-16.458, 47.095, -50.773, 22.086, 0.701][::-1],
    3600 * 24.0 * 2: [-11.934, 37.062, -43.507, 20.274, 0.782][::-1],
}
FIT_TIMES = sorted(WAN2022_COEFFS)
RRAM_G_MAX = 40.0


def wan_spread_at_fit(g, t_fit, g_max=RRAM_G_MAX):
    """The fit at one of `FIT_TIMES`, uS, for conductances `g` on a range of `g_max` uS."""
    x = np.clip(g / g_max, 0.0, 1.0)
    sig = np.polynomial.polynomial.polyval(x, WAN2022_COEFFS[t_fit])
    return np.maximum(sig, 0.0) * g_max / 40.0


def wan_spread(g, t, g_max=RRAM_G_MAX):
    """Linear in log t between the fit times, constant outside them (RRAM docstring)."""
    s = [wan_spread_at_fit(g, tf, g_max) for tf in FIT_TIMES]
    lt = np.log10(np.clip(t, FIT_TIMES[0], FIT_TIMES[-1]))
    l0, l1, l2 = np.log10(FIT_TIMES)
    if lt <= l1:
        return s[0] + (lt - l0) / (l1 - l0) * (s[1] - s[0])
    return s[1] + (lt - l1) / (l2 - l1) * (s[2] - s[1])

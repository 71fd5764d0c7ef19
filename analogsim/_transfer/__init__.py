"""Moving what chip A learned to chips B: probing and copying weights, one file per strategy,
and the transfer experiment."""

"""One scenario's lifecycle, a module per group of phases (samples.Phase); chaosgate.runner sequences them."""

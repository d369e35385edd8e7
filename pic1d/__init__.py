"""pic1d: 1D3V relativistic electromagnetic PIC with a co-moving compressing/expanding box."""

__version__ = "0.1.0"

"""Diagnostics computed during a run: moments, history, spectra time series, field snapshots."""

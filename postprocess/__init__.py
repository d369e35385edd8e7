"""pic1d postprocessing: analysis of run directories (never imports the simulation loop)."""

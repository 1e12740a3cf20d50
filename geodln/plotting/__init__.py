"""Plot helpers: volume heat maps over matrix slices, trajectories."""

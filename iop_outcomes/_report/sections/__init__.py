"""The report's analysis sections, one module each (quality, flow, change, trajectories,
clinical significance, effect sizes, comparison, retention, sensitivity)."""

"""Pure functions and small classes: baselines, the risk model, metrics, the bias audit, reports."""

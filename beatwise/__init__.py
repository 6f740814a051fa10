"""Shared infrastructure of the Beatwise packages (atomic file writing); no modelling here."""

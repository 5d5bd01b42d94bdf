"""Honest test reports: metrics with bootstrap confidence intervals, curves and calibration."""

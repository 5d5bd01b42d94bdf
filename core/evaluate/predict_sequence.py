"""Predictions on new sequences with a trained sequence run: the clip prepared exactly like its training data (the
dataset's frame policy and preprocessing), calibrated, checked for being out of distribution, and explained by
frame importance and Grad-CAM on the most important frame."""
from __future__ import annotations

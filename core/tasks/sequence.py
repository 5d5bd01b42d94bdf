"""Sequence classification (task "sequence"): one label per clip, clips of T frames from a sequence dataset.

The report is the classification report (core.evaluate.report): split_outputs returns ClassificationOutputs whose
features are the pooled clip features and whose train_images are the clips' middle frames.
"""
from __future__ import annotations

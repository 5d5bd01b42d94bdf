"""Synthesis: sampling trained generative models, judging their samples honestly (FD and KID on MedLab
features, precision/recall, density/coverage, a two-sample test, memorisation), anomaly maps from autoencoders,
exporting marked-synthetic images, and putting them to use (train on synthetic, test on real)."""

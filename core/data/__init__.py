"""Data layer: file readers, windowing, de-identification, built-in data, imports, splits and the dataset store."""

"""The Synthesize page's Quality tab: the generative run's report (core.synthesis.report), each figure with what
it means, the warnings, and the generated images closest to a training image beside that image."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from core.synthesis.report import load_report_images, load_synthesis_report
from pages.ui.images import display_image

# key in report["quality"] -> (name, what it means, which way is better)
METRICS: dict[str, tuple[str, str, str]] = {
    "fd": ("FD on MedLab features", "Fréchet distance between generated and real test images on the features of a "
           "classifier trained on this dataset (Heusel et al. 2017; not FID, which uses ImageNet Inception).",
           "lower"),
    "kid": ("KID", "Kernel distance (the KID of Bińkowski et al. 2018, here on MedLab features, not Inception): "
            "like FD, but unbiased for small sets.", "lower"),
    "precision": ("Precision", "Share of generated images that fall among the real ones: how realistic "
                  "(Kynkäänniemi et al. 2019).", "higher"),
    "recall": ("Recall", "Share of real images that the generated ones cover: how varied (Kynkäänniemi et al. "
               "2019).", "higher"),
    "density": ("Density", "How many real neighbourhoods each generated image falls into, on average; about 1 "
                "for a faithful model (Naeem et al. 2020).", "about 1"),
    "coverage": ("Coverage", "Share of real images with a generated image in their neighbourhood (Naeem et al. "
                 "2020).", "higher"),
    "two_sample_accuracy": ("Two-sample accuracy", "Accuracy of a classifier telling real from generated: 0.5 is "
                            "best (it cannot tell), 1.0 means every image is recognisably fake.", "0.5"),
    "memorisation_ratio": ("Memorisation ratio", "Generated images' distance to their nearest training image over "
                           "real test images' own nearest-neighbour distance: well below 1 means copying.",
                           "about 1 or more"),
}
PAIRS_SHOWN = 8


def quality_table(report: dict[str, Any]) -> pd.DataFrame:
    """One row per figure in the report: name, value, which way is better, what it means."""
    quality = report.get("quality") or {}
    baseline = report.get("real_baseline") or {}
    rows = []
    for key, (name, meaning, better) in METRICS.items():
        real = baseline.get(key)
        reference = "n/a" if real is None else f"{real:.4g}"  # not "-": a table cell renders it as a bullet
        value = quality.get(key)
        if value is None:  # too few images for it, or no feature network: said in the warnings
            rows.append({"figure": name, "value": "not measured", "real vs real": reference, "better": better,
                         "meaning": meaning})
            continue
        shown = f"{value:.4g}"
        if key == "kid" and quality.get("kid_std") is not None:
            shown += f" ± {quality['kid_std']:.2g}"
        rows.append({"figure": name, "value": shown, "real vs real": reference, "better": better,
                     "meaning": meaning})
    return pd.DataFrame(rows, columns=["figure", "value", "real vs real", "better", "meaning"])


def render_quality(folder: Path, status: str) -> None:
    report = load_synthesis_report(folder)
    if report is None:
        st.info("The quality report is written when the run finishes: it compares generated images with the "
                "held-out real test split." if status != "completed" else
                "This run has no quality report (it was made by an older MedLab).")
        return
    n_samples, n_test = report.get("n_samples"), report.get("n_test")
    accuracy = report.get("feature_accuracy")
    st.caption(f"{n_samples or 0:,} generated images against {n_test or 0:,} real test images, never seen in "
               "training, computed on this machine without downloaded weights."
               + (f" The features come from a small CNN that MedLab trained on this dataset's labels (once, cached); "
                  f"it reaches {accuracy:.1%} on the real test split: the better it knows the classes, the more its "
                  "features tell." if accuracy is not None else "")
               + (" The 'real vs real' column is the same figure for real training images in place of the generated "
                  "ones: the best a model could hope for on this test split." if report.get("real_baseline") else ""))
    table = quality_table(report)
    if not table.empty:
        st.table(table.set_index("figure"))  # a table, not a grid: the meanings wrap
    for warning in report.get("warnings") or []:
        st.warning(warning)
    _per_class(report)
    _closest_pairs(folder, report)


def _per_class(report: dict[str, Any]) -> None:
    """FD and KID per class of a conditional model (classes with enough samples and test images)."""
    per_class = report.get("per_class") or {}
    if not per_class:
        return
    st.markdown("**Per class** (each class's samples against that class's real test images)")
    rows = [{"class": name, "FD on MedLab features": f"{v['fd']:.4g}" if v.get("fd") is not None else "",
             "KID": f"{v['kid']:.4g}" if v.get("kid") is not None else "", "samples": v.get("n_samples"),
             "test images": v.get("n_test")} for name, v in per_class.items()]
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="synth-per-class")


def _closest_pairs(folder: Path, report: dict[str, Any]) -> None:
    """The generated images nearest to a training image, each beside that training image."""
    images = load_report_images(folder)
    generated, nearest = images.get("pair_samples"), images.get("pair_train")
    if generated is None or nearest is None or not len(generated):
        return
    memorisation = report.get("memorisation") or {}
    space = memorisation.get("space") or "feature space"
    st.markdown("**Closest generated / training pairs** (a copy of a training image would show here twice)")
    distances = memorisation.get("pair_distances") or []
    columns = st.columns(min(PAIRS_SHOWN, len(generated)))
    for index, column in enumerate(columns):
        with column:
            st.image(display_image(generated[index], 96), caption="generated")
            st.image(display_image(nearest[index], 96), caption="nearest training"
                     + (f" · d {distances[index]:.3g}" if index < len(distances) else ""))
    st.caption(f"Distances in {space}, closest first.")

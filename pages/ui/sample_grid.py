"""A generative run's preview grids (samples/epoch-NNN.png, written after every epoch from one fixed noise batch),
with a slider over the epochs to replay how the samples evolved. While the run trains, the slider follows the
newest grid unless the person has moved it back to look at an earlier one."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st
from PIL import Image

from core.train.run_folder import REBUILD_SPEC, preview_grids, read_json

MIN_WIDTH, MAX_HEIGHT = 384, 520  # small grids are enlarged by pixel repetition towards this width, not above
                                  # this height (at most 4 times)


def grid_caption(folder: Path, config: dict, workspace: str) -> str:
    """What the grid shows: the same noise every epoch; for a conditional model, which column is which class."""
    text = "The same fixed noise batch after each epoch (epoch 0: before training)."
    if not config.get("conditional"):
        return text + (f" Trained on class '{config['train_class']}' only." if config.get("train_class") else "")
    classes = _classes(folder, config, workspace)
    if classes:
        return text + " Columns are the classes: " + ", ".join(classes) + "."
    return text + " Columns are the classes, in the dataset's order."


def render_sample_grid(folder: Path, run_id: str, config: dict, workspace: str, live: bool) -> None:
    """The latest preview grid of the run in `folder`, with an epoch slider once there are two or more."""
    grids = preview_grids(folder)
    st.markdown("**Samples**")
    if not grids:
        st.caption("The first grid of samples appears when the model is built (epoch 0, before training)"
                   if live else "This run saved no sample grids.")
        return
    epochs = list(grids)
    key, last_key = f"grid-epoch-{run_id}", f"grid-latest-{run_id}"
    if st.session_state.get(key) not in epochs or st.session_state.get(key) == st.session_state.get(last_key):
        st.session_state[key] = epochs[-1]  # follow the newest grid, unless an earlier one was picked
    st.session_state[last_key] = epochs[-1]
    if len(epochs) > 1:
        epoch = st.select_slider("Epoch", epochs, key=key, help="Drag to replay how the samples evolved.")
    else:
        epoch = epochs[0]
    image = _load(grids[epoch])
    if image is None:
        st.caption("The grid is being written; it shows on the next refresh.")
        return
    st.image(image, caption=f"Epoch {epoch}" + (" (before training)" if epoch == 0 else "")
             + f" of {epochs[-1]}", width="content")
    st.caption(grid_caption(folder, config, workspace))


def _load(path: Path) -> np.ndarray | None:
    """The grid as uint8, enlarged by pixel repetition when small (so the browser does not blur it)."""
    try:
        with Image.open(path) as opened:
            pixels = np.asarray(opened.convert("L" if opened.mode in ("L", "I;16", "I") else "RGB"))
    except (OSError, ValueError):
        return None
    factor = max(1, min(4, -(-MIN_WIDTH // pixels.shape[1]), MAX_HEIGHT // pixels.shape[0]))
    return pixels.repeat(factor, axis=0).repeat(factor, axis=1)


def _classes(folder: Path, config: dict, workspace: str) -> list[str]:
    """The conditional model's classes: from its rebuild spec once written, else from its dataset."""
    spec_path = folder / REBUILD_SPEC
    if spec_path.exists():
        try:
            classes = read_json(spec_path).get("classes") or []
            if classes:
                return list(classes)
        except (OSError, ValueError):
            pass
    try:
        from core.data.catalog import open_dataset

        return list(open_dataset(workspace, config["dataset"]).info.classes)
    except Exception:  # noqa: BLE001 - a caption is not worth an error: the generic sentence is shown instead
        return []

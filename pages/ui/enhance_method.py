"""The Enhance page's method picker: classical methods with their parameters, or a trained restoration run."""
from __future__ import annotations

from typing import Any

import streamlit as st

from core.enhance.classical import CLASSICAL_METHODS
from core.jobs.store import RunStore
from core.tasks.restore import RESTORE_TASKS

KINDS = {"denoise": "Denoise", "contrast": "Contrast", "sharpen": "Sharpen", "upscale": "Upscale"}


def choose_method(store: RunStore, workspace: str) -> tuple[str, dict[str, Any], int]:
    """(method name or run id, parameters, scale)."""
    runs = [r for r in store.list(workspace, statuses=("completed",)) if r.task in RESTORE_TASKS]
    labels = {name: f"{KINDS[spec.kind]}: {spec.title}" for name, spec in CLASSICAL_METHODS.items()}
    labels.update({r.id: f"Trained: {r.name or r.id} ({r.model}, {r.task.replace('_', '-')})" for r in runs})
    method = st.selectbox("Method", list(labels), format_func=labels.get, key="enhance-method")
    if method not in CLASSICAL_METHODS:
        st.caption("A trained model: it applies what it learned; train more on the Train page.")
        return method, {}, 1
    spec = CLASSICAL_METHODS[method]
    st.caption(spec.description)
    params: dict[str, Any] = {}
    for param in spec.params:
        if param.default is None:  # estimated from the image unless the user sets it
            if st.checkbox(f"{param.label}: estimate from the image", True, key=f"enhance-{method}-{param.name}-auto"):
                continue
            default = (param.low + param.high) / 10
        else:
            default = param.default
        cast = int if param.integer else float
        params[param.name] = st.slider(param.label, cast(param.low), cast(param.high), cast(default), cast(param.step),
                                       help=param.help, key=f"enhance-{method}-{param.name}")
    scale = 1
    if spec.kind == "upscale":
        scale = st.radio("Scale", (2, 4), horizontal=True, key="enhance-scale", format_func=lambda s: f"×{s}")
    if method == "bm3d":
        st.warning("BM3D is slow: tens of seconds for a 512×512 image on a 2-core CPU.")
    return method, params, scale

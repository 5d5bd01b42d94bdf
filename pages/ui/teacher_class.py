"""The teacher's view: the class workspace, where the teacher's datasets go and every participant reads them."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core.data.catalog import SHARED_PREFIX
from core.data.store import stored_datasets
from core.settings import CLASS_WORKSPACE
from core.text import counted
from pages.ui.teacher_common import look_at


def render_class_workspace() -> None:
    st.subheader("Class workspace")
    st.caption(f"Datasets you import while looking at the **{CLASS_WORKSPACE}** workspace are shared with every "
               f"participant: they see them read-only on their Dataset and Train pages (their ids start with "
               f"`{SHARED_PREFIX}`), can train on them, and cannot change or delete them.")
    infos = stored_datasets(CLASS_WORKSPACE)
    if infos:
        st.dataframe(pd.DataFrame([{
            "dataset": info.name, "id": SHARED_PREFIX + info.id, "task": info.task,
            "images": counted(info.num_images, "clip" if info.is_sequence else "image"),
            "classes": ", ".join(info.classes), "source": info.source,
        } for info in infos]), hide_index=True, width="stretch")
    else:
        st.caption("No datasets in the class workspace yet; participants still have the built-in ones.")
    if st.button("Import a dataset into the class workspace", key="teacher-class-import",
                 icon=":material/upload:", on_click=look_at, args=(CLASS_WORKSPACE,)):
        st.switch_page("pages/dataset.py")

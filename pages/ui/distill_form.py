"""The Train page's distillation form: a teacher run, a student model, temperature and weight, with the shared
fields; it can queue the same student trained alone beside it, for the Evaluate page's comparison."""
from __future__ import annotations

import streamlit as st

from core.data.store import DatasetInfo
from core.errors import UserError
from core.jobs.distillation import queue_student_alone
from core.jobs.store import RunRecord
from core.models import CLASSIFIER_INFO, CLASSIFIER_NAMES
from core.tasks.classify import SINGLE_LABEL_METRICS
from core.train.run_folder import REBUILD_SPEC, read_json
from pages.ui.jobs import run_store, session_limits
from pages.ui.train_form import BATCH_SIZES, optimisation_fields, prepare, reset, run_fields, start

KEY = "distill-"
TASK = "distillation"
WHAT_IT_DOES = ("Knowledge distillation trains a small student network on a trained teacher's softened class "
                "probabilities as well as the labels (Hinton, Vinyals & Dean 2015), so the student keeps more of the "
                "teacher's accuracy at a fraction of its size and time per image.")


def teachers(workspace: str, info: DatasetInfo) -> dict[str, tuple[RunRecord, int]]:
    """The completed single-label classifiers of `info`'s dataset in `workspace`: {run id: (record, image size)}."""
    store = run_store()
    found = {}
    for record in store.list(workspace, statuses=("completed",)):
        path = store.run_dir(record) / REBUILD_SPEC
        if record.dataset != info.id or not path.exists():
            continue
        spec = read_json(path)
        if spec.get("task") == "classification" and spec.get("dataset") == info.id:
            found[record.id] = (record, int(spec.get("image_size") or info.size))
    return found


def render_distill_form(workspace: str, info: DatasetInfo) -> str | None:
    """Draw the form for `info`; returns the id of the distillation run it queued, else None."""
    st.caption(WHAT_IT_DOES)
    if info.task != "classification":
        st.warning(f"**{info.name}** has no single label per image; distillation here trains single-label "
                   "classifiers.")
        return None
    found = teachers(workspace, info)
    if not found:
        st.info(f"No completed classification run on **{info.name}** yet: train one (for example ResNet-18) with the "
                "Classification task; it becomes the teacher here.")
        return None
    prepare(KEY, TASK, info)
    st.button("Reset to the recommended recipe", on_click=reset, args=(KEY, TASK, info), key=KEY + "reset")
    if st.session_state.get(KEY + "teacher_run") not in found:
        st.session_state[KEY + "teacher_run"] = next(iter(found))

    teacher_col, data_col, optim_col = st.columns(3)
    with teacher_col:
        st.markdown("**Teacher and student**")
        teacher = st.selectbox("Teacher run", list(found), key=KEY + "teacher_run", format_func=lambda r: (
            f"{found[r][0].model}, test acc. {found[r][0].summary_dict.get('test_accuracy', float('nan')):.3f} "
            f"· {found[r][0].name or r}"))
        record, size = found[teacher]
        st.session_state[KEY + "image_size"] = size  # the student sees the images the teacher saw
        model = st.selectbox("Student model", CLASSIFIER_NAMES, key=KEY + "model")
        st.caption(f"Teacher: {CLASSIFIER_INFO[record.model].split(':')[0]}. Student: "
                   f"{CLASSIFIER_INFO[model].split(':')[0]}. Images: {size} px (the teacher's).")
        st.number_input("Temperature T", 0.5, 100.0, key=KEY + "temperature", step=0.5,
                        help="Softens both networks' probabilities before they are compared; 1 is the plain "
                             "softmax, 2-8 is usual.")
        st.slider("Weight of the teacher's soft targets", 0.0, 1.0, key=KEY + "distill_weight", step=0.05,
                  help="The loss is w x T² x KL(teacher ‖ student) + (1 − w) x cross-entropy with the labels.")
    with data_col:
        st.markdown("**Data**")
        st.number_input("Epochs", 1, 1000, key=KEY + "epochs")
        st.selectbox("Batch size", BATCH_SIZES, key=KEY + "batch_size")
        st.checkbox("Augment", key=KEY + "augment", help="With the dataset's saved augmentation set; choose and "
                    "preview it on the Dataset page.")
        with_alone = st.checkbox("Also train the student alone", value=True, key=KEY + "with_alone",
                                 help="The same recipe without the teacher, for the comparison; reused if this "
                                      "workspace already has that run. The Evaluate page compares teacher, "
                                      "student alone and student distilled.")
    with optim_col:
        optimisation_fields(KEY)
    run_fields(KEY, (SINGLE_LABEL_METRICS[1], *[m for m in SINGLE_LABEL_METRICS if m != SINGLE_LABEL_METRICS[1]]))
    started = start(KEY, workspace, TASK, info)
    if started and with_alone:
        try:
            queue_student_alone(run_store(), workspace, started, limits=session_limits())
        except UserError as error:
            st.error(f"The distillation run is queued, but not the student alone: {error.message}")
    return started

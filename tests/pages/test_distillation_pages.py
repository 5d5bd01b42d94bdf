"""AppTest tests of distillation: the Train page's form (teacher, student, T, weight; the student alone queued
beside it) and the Evaluate page's table of teacher, student alone and student distilled."""
from __future__ import annotations

from core.jobs.store import RunStore
from tests.distillation_runs import TINY, distillation_runs, train
from tests.fixtures import tiny_dataset, wait_for
from tests.pages.apptest import open_page, rerun, texts


def finished(run_id: str) -> str:
    return wait_for(lambda: (status := RunStore().get(run_id).status) in ("completed", "failed", "stopped")
                    and status, 240)


def test_the_train_form_queues_a_distillation_and_the_student_alone():
    dataset = tiny_dataset(per_class=(16, 16))
    at = open_page("pages/train.py", dataset_id=dataset)
    at.radio(key="train-page-task").set_value("distillation").run()
    assert "Knowledge distillation trains a small student network" in texts(at)
    assert "No completed classification run on" in texts(at)  # nothing to learn from yet

    teacher = train(RunStore(), {"dataset": dataset, "name": "the teacher", **TINY})
    at = rerun(at)
    assert at.selectbox(key="distill-teacher_run").value == teacher.id
    assert at.selectbox(key="distill-model").value == "small_cnn"
    at.number_input(key="distill-temperature").set_value(2.0)
    at.slider(key="distill-distill_weight").set_value(0.5)
    at.number_input(key="distill-epochs").set_value(1)
    at.selectbox(key="distill-batch_size").set_value(8)
    at.button(key="distill-start").click().run()
    assert not at.exception, at.exception
    store = RunStore()
    runs = {r.task: r for r in store.list("default") if r.id != teacher.id}
    assert set(runs) == {"distillation", "classification"}
    distilled, alone = store.config(runs["distillation"]), store.config(runs["classification"])
    assert (distilled["teacher_run"], distilled["temperature"], distilled["distill_weight"]) == (teacher.id, 2.0, 0.5)
    assert (alone["epochs"], alone["batch_size"], alone["seed"], alone["model"]) == (1, 8, distilled["seed"], "small_cnn")
    assert "teacher_run" not in alone
    assert finished(runs["distillation"].id) == "completed" and finished(runs["classification"].id) == "completed"


def test_the_evaluate_page_shows_the_three_models_and_queues_the_missing_student():
    runs = distillation_runs(RunStore(), with_alone=False)
    at = open_page("pages/evaluate.py", run_id=runs.distilled.id)
    assert "Distillation: teacher, student alone, student distilled" in [s.value for s in at.subheader]
    table = at.dataframe[0].value
    assert list(table["model"]) == ["teacher", "student alone", "student distilled"]
    assert list(table["status"]) == ["completed", "not trained", "completed"]
    assert table["test accuracy"].notna().tolist() == [True, False, True]
    assert (table.loc[[0, 2], "ms per image"] > 0).all() and (table.loc[[0, 2], "weights (MB)"] > 0).all()
    assert "No run of this student trained alone" in texts(at)

    at.button(key=f"distill-alone-{runs.distilled.id}").click().run()
    assert not at.exception, at.exception
    queued = [r for r in RunStore().list("default") if r.task == "classification" and r.id != runs.teacher.id]
    assert len(queued) == 1 and "its row fills in when it completes" in texts(at)
    assert finished(queued[0].id) == "completed"  # the app's job runner trains it
    at = rerun(at)
    table = at.dataframe[0].value
    assert table["test accuracy"].notna().all() and list(table["run"])[1] == queued[0].id
    assert "The distilled student" in texts(at) and "student trained alone" in texts(at)

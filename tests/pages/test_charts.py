"""The figures behind the Train and Evaluate charts: legends below the axis titles, sensible axis spans, curves
off the frame and no reliability line through bins without images."""
from __future__ import annotations

import numpy as np

from pages.ui.charts import loss_figure, lr_figure, metrics_figure, overlay_figure
from pages.ui.eval_figures import cell_of_point, confusion_figure, reliability_figure

ONE_EPOCH = [{"kind": "step", "epoch": 1, "step": s, "loss": 1.5 - 0.05 * s, "lr": 0.001} for s in range(10)] + [
    {"kind": "epoch", "epoch": 1, "train_loss": 1.2, "val_loss": 1.3, "val_accuracy": 0.2757,
     "val_balanced_accuracy": 0.2759}]


def test_training_charts_put_the_legend_in_its_own_space_below_the_axis_title():
    for figure in (loss_figure(ONE_EPOCH, 10), metrics_figure(ONE_EPOCH), overlay_figure({"a": ONE_EPOCH}, "val_loss")):
        legend = figure.layout.legend
        assert (legend.orientation, legend.yref, legend.y, legend.yanchor) == ("h", "container", 0, "bottom")


def test_a_single_validation_point_does_not_zoom_the_axis_to_a_sliver():
    figure = metrics_figure(ONE_EPOCH)
    low, high = figure.layout.yaxis.range
    assert high - low > 0.099 and low < 0.2757 < high          # not 0.2755-0.276
    assert tuple(figure.layout.xaxis.range) == (0.5, 1.5) and figure.layout.xaxis.dtick == 1   # whole epochs
    low, high = lr_figure(ONE_EPOCH, 10).layout.yaxis.range   # a constant learning rate: a level line at 0.001
    assert low < 0.001 < high and high - low >= 0.001


def test_a_wide_span_keeps_plotly_autorange():
    events = [{"kind": "epoch", "epoch": e, "val_accuracy": a} for e, a in ((1, 0.3), (2, 0.6), (3, 0.9))]
    figure = metrics_figure(events)
    assert figure.layout.yaxis.range is None and figure.layout.xaxis.range is None


def test_reliability_line_breaks_at_empty_bins():
    def bins(counts):
        return {"ece": 0.1, "reliability": {"bins": [
            {"count": c, "confidence": (i + 0.5) / 10, "accuracy": (i + 0.4) / 10 if c else float("nan")}
            for i, c in enumerate(counts)]}}
    counts = [0, 0, 3, 0, 0, 0, 5, 9, 0, 40]
    figure = reliability_figure({"applied": True, "before": bins(counts), "after": bins(counts)})
    for trace in figure.data[:2]:
        assert [y is None for y in trace.y] == [c == 0 for c in counts] and trace.connectgaps is False
    assert list(figure.layout.xaxis.range) == [-0.02, 1.02] and list(figure.layout.yaxis.range) == [-0.02, 1.02]


def test_confusion_cells_are_clickable_points_that_map_back_to_their_cell():
    classes = ["cavity", "nodule", "normal"]
    matrix = np.arange(9, dtype=float).reshape(3, 3)
    figure = confusion_figure(matrix, classes, ("nodule", "normal"), normalised=False)
    cells = figure.data[1]
    assert len(cells.x) == 9 and (cells.y[5], cells.x[5]) == ("nodule", "normal")
    assert cell_of_point({"point_index": 5}, classes) == ("nodule", "normal")
    assert cell_of_point({"point_number": 0}, classes) == ("cavity", "cavity")
    assert cell_of_point({"point_index": 9}, classes) is None
    shape = figure.layout.shapes[0]   # the chosen cell (true nodule, predicted normal) is outlined
    assert (shape.x0, shape.x1, shape.y0, shape.y1) == (1.5, 2.5, 0.5, 1.5)
    assert list(figure.data[0].text[1]) == ["3", "4", "5"]


def test_validation_chart_before_any_validation_says_so_instead_of_empty_axes():
    figure = metrics_figure([{"kind": "step", "global_step": 1, "loss": 1.0, "lr": 0.001}])
    assert not figure.data and figure.layout.annotations[0].text == "shown after the first epoch's validation"
    assert figure.layout.xaxis.visible is False and figure.layout.yaxis.visible is False


def test_a_generative_run_s_fd_has_its_own_axis_beside_its_probabilities() -> None:
    from pages.ui.charts import metrics_figure

    events = [{"kind": "epoch", "epoch": e, "val_fd": 300.0 / e, "val_d_real": 0.6, "val_d_fake": 0.4}
              for e in (1, 2, 3)]
    figure = metrics_figure(events)
    on_right = [trace.name for trace in figure.data if trace.yaxis == "y2"]
    assert on_right == ["FD (right axis)"]
    assert max(figure.layout.yaxis.range or (1.0,)) < 5  # the 0-1 terms are not flattened by FD's hundreds
    only_fd = metrics_figure([{"kind": "epoch", "epoch": 1, "val_fd": 50.0}])
    assert [trace.yaxis for trace in only_fd.data] in (["y"], [None])

"""AppTest tests of the Enhance page: a classical method on a degraded sample, an upload, the comparison."""
from __future__ import annotations

import skimage.data

from tests.fixtures import png_bytes
from tests.pages.apptest import open_page, rerun

PAGE = "pages/enhance.py"


def image_captions(at) -> list[str]:
    """The captions of the pictures on the page (st.image), in order."""
    return [image.caption for element in at.get("image") for image in element.proto.imgs]


def test_opens_with_the_ct_sample_shown_at_a_window_that_shows_anatomy():
    at = open_page(PAGE)
    shown = image_captions(at)
    assert shown == ["Input: 693_J2KI.dcm · 512×512 · W 2144 / L 50"]  # no click: the input is on the page
    window = at.selectbox(key="enhance-window-ct_jpeg2000")
    assert window.value == "Default: automatic, inside the scan field (W 2144 / L 50)"
    assert "File window (W 100 / L 40)" in window.options and "Soft Tissue" in window.options


def test_noise_is_measured_on_the_window_shown_and_so_are_the_scores():
    at = open_page(PAGE)
    at.checkbox(key="enhance-simulate").set_value(True).run()
    assert image_captions(at) == ["Clean original · W 2144 / L 50",
                                                           "Degraded input · 512×512 · W 2144 / L 50"]
    assert any(c.value.startswith("σ = 214.4 HU, i.e. 0.01309 of the data range -9216..7167") for c in at.caption)
    at.button(key="enhance-run").click().run()
    assert not at.exception, at.exception
    metrics = {m.label: float(m.value.split()[0]) for m in at.metric}
    assert 19 < metrics["PSNR of input"] < 25  # noise of a tenth of the window: about 20 dB as shown, not 35
    assert any(c.value.startswith("PSNR and SSIM as shown: on the display window W 2144 / L 50") for c in at.caption)
    at.radio(key="enhance-noise-scale").set_value("data range").run()
    assert any(c.value.startswith("σ = 1638 HU, i.e. 0.1 of the data range") for c in at.caption)


def test_denoise_a_degraded_sample_scores_it_and_offers_downloads():
    at = open_page(PAGE)
    at.checkbox(key="enhance-simulate").set_value(True).run()
    at.button(key="enhance-run").click().run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert float(metrics["PSNR of result"].split()[0]) > float(metrics["PSNR of input"].split()[0]) + 5
    # the CT's own values on its 14-bit stored range, the rendering as shown, and a derived DICOM
    assert {b.label for b in at.get("download_button")} == {"PNG, own values (16-bit)", "PNG, 8-bit as shown",
                                                            "DICOM (derived image)"}
    assert any("data range -9216..7167" in c.value for c in at.caption)  # scores state the range they use
    assert at.get("html")  # the before/after slider


def test_upload_upscaled_with_lanczos():
    at = open_page(PAGE)
    at.radio(key="enhance-source").set_value("My file").run()
    at.get("file_uploader")[0].set_value(("coins.png", png_bytes(skimage.data.coins()[::4, ::4]), "image/png")).run()
    at.selectbox(key="enhance-method").set_value("lanczos").run()
    at.radio(key="enhance-scale").set_value(4).run()
    at.button(key="enhance-run").click().run()
    assert not at.exception, at.exception
    assert any("lanczos · 384×304" in c.value for c in at.caption)
    assert {b.label for b in at.get("download_button")} == {"PNG, own values (8-bit)", "PNG, 8-bit as shown"}


def test_comparison_table_ranks_methods():
    at = open_page(PAGE, **{"enhance-tab": "Compare methods"})
    at.slider(key="compare-count").set_value(2)
    at.button(key="compare-run").click().run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert "Non-local means" in set(table["method"]) and "degraded input (no method)" in set(table["method"])
    assert list(table["PSNR (dB)"]) == sorted(table["PSNR (dB)"], reverse=True)

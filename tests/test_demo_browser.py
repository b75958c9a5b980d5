"""End-to-end: the ``seqrec demo`` page in a real headless Chromium (Selenium driving
Debian's chromium + chromium-driver).

It writes a number on the canvas with mouse, pen and touch pointers, waits for the live
prediction, checks what the page shows against what the API answers for the same canvas
pixels, saves a labelled sample and checks it on disk, then reads an uploaded photo.
Further tests: the true-number field is reset by Clear and by a new drawing, a phone-sized
window (390 px) has no horizontal overflow, a lone dot is shown as "not sure", and a
20000 x 20000 PNG is refused from its header at once, clearing the old result.
It uses the real pretrained CTC model when ``seqrec.recognizer`` and its weights are
available, otherwise the small ``BlobReader`` test recognizer. With no browser it skips.

Set ``SEQREC_DEMO_SCREENSHOTS=docs`` to also save docs/demo.png (desktop) and
docs/demo_phone.png (390 px wide) of the page.
"""

from __future__ import annotations

import base64
import csv
import functools
import http.client
import io
import json
import os
import re
import shutil
import struct
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

try:
    from test_demo_api import BlobReader, FixedReader, decode_data_url, fake_photo, number_strokes
except ImportError:  # tests/ imported as a package
    from tests.test_demo_api import BlobReader, FixedReader, decode_data_url, fake_photo, number_strokes

from seqrec.demo.server import make_server

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1100,1000",
    "--hide-scrollbars",
]


def find_browser() -> tuple[str, str]:
    """(chromium, chromedriver) paths, or pytest.skip saying what is missing."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.skip("selenium is not installed (pip install selenium) - browser end-to-end test not run")
    chromium = os.environ.get("SEQREC_CHROMIUM") or next(
        (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
    )
    driver = os.environ.get("SEQREC_CHROMEDRIVER") or shutil.which("chromedriver")
    if not chromium or not driver:
        missing = " and ".join(n for n, p in (("a Chromium browser", chromium), ("chromedriver", driver)) if not p)
        pytest.skip(
            f"{missing} not found on PATH (Debian: apt-get install chromium chromium-driver) - "
            "browser end-to-end test not run"
        )
    return chromium, driver


@functools.lru_cache(maxsize=1)
def pick_recognizers() -> tuple[dict, str, str]:
    """({name: recognizer}, model to draw for, number to write)."""
    try:
        from seqrec.recognizer import Recognizer

        rec = Recognizer.pretrained("ctc")
    except Exception:  # not landed yet, or no weights: exercise the plumbing with BlobReader
        return {"blobs": BlobReader(), "fixed": FixedReader()}, "blobs", "101"
    return {"ctc": rec, "fixed": FixedReader()}, "ctc", "4071"


@pytest.fixture
def demo(tmp_path):
    recognizers, model, number = pick_recognizers()
    srv = make_server(recognizers, "127.0.0.1", 0, tmp_path / "samples", default=model)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield srv, model, number
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """One headless Chromium for this module's tests (each test loads the page afresh)."""
    chromium, driver_path = find_browser()
    os.environ["SE_OFFLINE"] = "true"  # never let Selenium Manager go online
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    driver = webdriver.Chrome(options=opts, service=Service(driver_path))
    driver.set_page_load_timeout(20)
    yield driver
    driver.quit()


def api_predict(srv, body: bytes, ctype: str, model: str) -> dict:
    host, port = srv.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=20)
    conn.request(
        "POST",
        f"/api/predict?model={model}",
        body=body,
        headers={"Content-Type": ctype, "X-Seqrec-Token": srv.app.token},
    )
    res = conn.getresponse()
    data = json.loads(res.read())
    conn.close()
    assert res.status == 200, data
    return data


def draw(driver, strokes, scale, origin):
    """Write polylines (pad pixels) with a cycle of mouse, pen and touch pointers."""
    from selenium.webdriver.common.actions import interaction
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.pointer_input import PointerInput

    kinds = [interaction.POINTER_MOUSE, interaction.POINTER_PEN, interaction.POINTER_TOUCH]
    for i, line in enumerate(strokes):
        kind = kinds[i % len(kinds)]
        builder = ActionBuilder(driver, mouse=PointerInput(kind, f"{kind}-{i}"), duration=0)
        pts = [(round(origin[0] + x * scale), round(origin[1] + y * scale)) for x, y in line]
        act = builder.pointer_action
        act.move_to_location(*pts[0])
        act.pointer_down(pressure=0.5) if kind == interaction.POINTER_PEN else act.pointer_down()
        for x, y in pts[1:]:
            act.move_to_location(x, y)
        act.pointer_up()
        builder.perform()


def pad_version(driver) -> int:
    return int(driver.find_element("id", "pad").get_attribute("data-version"))


def upload(driver, path):
    """Choose ``path`` in the file input and wait until the page has taken it (it reads the header first)."""
    from selenium.webdriver.support.ui import WebDriverWait

    before = pad_version(driver)
    driver.find_element("id", "file").send_keys(str(path))
    WebDriverWait(driver, 10, poll_frequency=0.05).until(lambda d: pad_version(d) > before)


def wait_for_reading(driver, timeout=20):
    """Wait until the prediction shown belongs to the current input; return its dataset."""
    from selenium.webdriver.support.ui import WebDriverWait

    js = """const p = document.getElementById('prediction'), pad = document.getElementById('pad');
            return p.dataset.version === pad.dataset.version && p.dataset.status !== 'busy'
                   ? {status: p.dataset.status, text: p.dataset.text, version: p.dataset.version} : null;"""
    WebDriverWait(driver, timeout, poll_frequency=0.05).until(lambda d: d.execute_script(js))
    state = driver.execute_script(js)
    assert state["status"] == "done", driver.find_element("id", "error").text
    return state


def shown_digits(driver) -> list[tuple[str, str]]:
    return [
        (c.find_element("class name", "d").text, c.find_element("class name", "p").text)
        for c in driver.find_elements("css selector", "#digits .digit")
    ]


def pct(x: float) -> str:  # as app.js formats it
    return f"{100 * x:.{1 if 0.995 <= x < 1 else 0}f}%"


def open_page(driver, srv):
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(srv.url)
    WebDriverWait(driver, 15).until(lambda d: d.execute_script("return document.body.dataset.ready === '1'"))


def pad_geometry(driver) -> tuple[float, float, float, int, int]:
    """(left, top, CSS width, canvas width, canvas height) of the drawing pad."""
    return tuple(
        driver.execute_script(
            "const p = document.getElementById('pad'), r = p.getBoundingClientRect();"
            "return [r.left, r.top, r.width, p.width, p.height];"
        )
    )


def write(driver, text, digit_h=0.62):
    """Write ``text`` across the pad, whatever its size."""
    left, top, css_w, w, h = pad_geometry(driver)
    draw(driver, number_strokes(text, w, h, digit_h), css_w / w, (left, top))


def screenshot(driver, name):
    """Save docs/<name> (the app, without the footer's temporary path) when SEQREC_DEMO_SCREENSHOTS is set."""
    folder = os.environ.get("SEQREC_DEMO_SCREENSHOTS")
    if not folder:
        return
    shot = Path(folder) / name
    shot.parent.mkdir(parents=True, exist_ok=True)
    png = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
    bottom, dpr = driver.execute_script(
        "return [document.querySelector('main').getBoundingClientRect().bottom + window.scrollY,"
        "        window.devicePixelRatio]"
    )
    with Image.open(io.BytesIO(base64.b64decode(png))) as im:
        im.crop((0, 0, im.width, min(im.height, round((bottom + 8) * dpr)))).save(shot)


def big_png(width: int, height: int) -> bytes:
    """A real, all-black 1-bit PNG of width x height pixels in a few hundred kB."""

    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    z, row = zlib.compressobj(9), b"\0" * (1 + (width + 7) // 8)
    data = b"".join(z.compress(row * 1000) for _ in range(height // 1000)) + z.compress(row * (height % 1000))
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data + z.flush()) + chunk(b"IEND", b"")


def test_draw_predict_save_upload_in_chromium(demo, browser, tmp_path):
    from selenium.webdriver.support.ui import Select, WebDriverWait

    srv, model, number = demo
    driver = browser
    open_page(driver, srv)
    assert Select(driver.find_element("id", "model")).first_selected_option.get_attribute("value") == model

    # -- write the number with mouse, pen and touch strokes
    left, top, width = driver.execute_script(
        "const r = document.getElementById('pad').getBoundingClientRect(); return [r.left, r.top, r.width];"
    )
    draw(driver, number_strokes(number), width / 840, (left, top))
    assert driver.find_element("id", "pad").get_attribute("data-pointer-types") == "mouse pen touch"
    state = wait_for_reading(driver)

    # -- the page shows what the API says for exactly these canvas pixels
    url = driver.execute_script("return document.getElementById('pad').toDataURL('image/png');")
    pixels = base64.b64decode(url.split(",", 1)[1])
    ink = np.asarray(Image.open(io.BytesIO(pixels)).convert("L"))
    assert ink.shape == (168, 840) and (ink > 128).mean() > 0.02  # strokes reached the canvas
    api = api_predict(srv, pixels, "image/png", model)
    assert state["text"] == api["text"]
    assert driver.find_element("id", "prediction").text == (api["text"] or "∅")
    assert shown_digits(driver) == [(d["digit"], pct(d["confidence"])) for d in api["digits"]]
    assert driver.find_element("id", "strip").get_attribute("src") == api["strip"]
    assert pct(api["confidence"]) in driver.find_element("id", "confidence").text
    if model == "blobs":
        assert api["text"] == number  # BlobReader reads 1s and 0s honestly
    else:
        assert re.fullmatch(r"[0-9]*", api["text"])

    # -- correct the label to the true number and save
    label = driver.find_element("id", "label")
    assert label.get_attribute("value") == api["text"]  # prefilled with the prediction
    label.clear()
    label.send_keys(number)
    screenshot(driver, "demo.png")
    driver.find_element("id", "save").click()
    WebDriverWait(driver, 15).until(lambda d: d.find_element("id", "save-status").get_attribute("data-saved"))
    saved = driver.find_element("id", "save-status").get_attribute("data-saved")
    save_dir = tmp_path / "samples"
    with open(save_dir / "labels.csv", newline="") as f:
        assert list(csv.DictReader(f)) == [{"filename": f"images/{saved}", "label": number}]
    on_disk = np.asarray(Image.open(save_dir / "images" / saved))
    assert np.array_equal(on_disk, decode_data_url(api["strip"]))  # the strip the model saw
    WebDriverWait(driver, 10).until(lambda d: d.find_element("id", "prediction").get_attribute("data-status") == "idle")
    assert driver.find_element("id", "pad-hint").is_displayed()  # cleared for the next sample

    # -- upload a photo (dark ink on light paper) through the file input
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(fake_photo("1001" if model == "blobs" else "2389"))
    upload(driver, photo)
    state = wait_for_reading(driver)
    api = api_predict(srv, photo.read_bytes(), "image/jpeg", model)
    assert state["text"] == api["text"] and api["inverted"] is True
    assert driver.find_element("id", "strip").get_attribute("src") == api["strip"]
    assert "inverted" in driver.find_element("id", "strip-caption").text
    if model == "blobs":
        assert api["text"] == "1001"

    # -- switch model: the same input is read again by the other one
    Select(driver.find_element("id", "model")).select_by_value("fixed")
    state = wait_for_reading(driver)
    assert state["text"] == "42" and "fixed" in driver.find_element("id", "latency").text

    # -- a file that is not an image: a clear error on the page, and the page keeps working
    junk = tmp_path / "notes.png"
    junk.write_bytes(b"these are notes, not a picture")
    upload(driver, junk)
    WebDriverWait(driver, 10).until(
        lambda d: d.find_element("id", "prediction").get_attribute("data-status") == "error"
    )
    assert "not a readable image" in driver.find_element("id", "error").text
    assert driver.find_element("id", "strip").get_attribute("hidden")  # no stale answer left up
    assert not driver.find_element("id", "upload-preview").is_displayed()  # and no broken-image icon
    driver.find_element("id", "clear").click()
    draw(driver, number_strokes("1"), width / 840, (left, top))
    assert wait_for_reading(driver)["text"] == "42"  # still on the "fixed" model


def label_state(driver) -> dict:
    return driver.execute_script(
        "const l = document.getElementById('label'), s = document.getElementById('save');"
        "return {value: l.value, saveDisabled: s.disabled, saveBg: getComputedStyle(s).backgroundColor};"
    )


def test_true_number_is_reset_by_clear_and_by_a_new_drawing(demo, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    srv, model, _ = demo
    driver = browser
    open_page(driver, srv)
    helps = driver.find_elements(By.CSS_SELECTOR, "#model-help li")
    assert [h.get_attribute("data-model") for h in helps] == ["ctc", "multihead", "multilabel"]
    assert all(len(h.text) > 30 for h in helps)  # one line that explains each name
    # while a file is dragged over the pad, only the drop hint shows
    driver.execute_script("document.getElementById('drop').dispatchEvent(new DragEvent('dragenter', {bubbles: true}))")
    assert driver.find_element(By.CLASS_NAME, "drop-hint").is_displayed()
    assert not driver.find_element(By.ID, "pad-hint").is_displayed()
    driver.execute_script("document.getElementById('drop').dispatchEvent(new DragEvent('dragleave', {bubbles: true}))")
    assert driver.find_element(By.ID, "pad-hint").is_displayed()

    first, second = ("1", "10") if model == "blobs" else ("2", "8")
    write(driver, first)
    wait_for_reading(driver)
    label = driver.find_element(By.ID, "label")
    label.clear()
    label.send_keys("5")
    state = label_state(driver)
    assert state["value"] == "5" and not state["saveDisabled"]
    enabled_bg = state["saveBg"]
    driver.find_element(By.ID, "clear").click()
    state = label_state(driver)
    assert state["value"] == "" and state["saveDisabled"]
    WebDriverWait(driver, 2).until(lambda d: label_state(d)["saveBg"] != enabled_bg)  # disabled looks disabled
    write(driver, second)
    shown = wait_for_reading(driver)["text"]
    assert label_state(driver)["value"] == shown  # the new drawing's reading, not the stale 5
    # typed over, then a new input without Clear: undo to nothing and draw again, or upload a photo
    label.clear()
    label.send_keys("5")
    driver.find_element(By.ID, "undo").click()
    while driver.find_element(By.ID, "undo").is_enabled():
        driver.find_element(By.ID, "undo").click()
    write(driver, first)
    shown = wait_for_reading(driver)["text"]
    assert label_state(driver)["value"] == shown
    label.clear()
    label.send_keys("5")
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(fake_photo("1001" if model == "blobs" else "2389"))
    upload(driver, photo)
    shown = wait_for_reading(driver)["text"]
    assert label_state(driver)["value"] == shown
    assert driver.find_element(By.ID, "upload-preview").is_displayed()


def test_a_lone_dot_is_shown_as_not_sure(demo, browser):
    from selenium.webdriver.common.by import By

    srv, model, number = demo
    driver = browser
    open_page(driver, srv)
    left, top, css_w, w, h = pad_geometry(driver)
    draw(driver, [[(w / 2, h / 2)]], css_w / w, (left, top))
    wait_for_reading(driver)
    pred = driver.find_element(By.ID, "prediction")
    assert pred.get_attribute("data-sure") == "0" and "unsure" in pred.get_attribute("class")
    unsure = driver.find_element(By.ID, "unsure")
    assert unsure.is_displayed() and unsure.text.startswith("Not sure")
    if pred.get_attribute("data-warning") == "small_ink":  # (a stricter pipeline may call a dot "no ink")
        assert "write larger" in unsure.text.lower()
    else:
        assert pred.get_attribute("data-warning") == "no_ink" and "no ink" in unsure.text.lower()
    driver.find_element(By.ID, "clear").click()
    assert not unsure.is_displayed()
    write(driver, number)
    state = wait_for_reading(driver)
    url = driver.execute_script("return document.getElementById('pad').toDataURL('image/png');")
    api = api_predict(srv, base64.b64decode(url.split(",", 1)[1]), "image/png", model)
    doubt = bool(api["warning"]) or not api["text"] or api["confidence"] < 0.6
    assert state["text"] == api["text"] and pred.get_attribute("data-sure") == ("0" if doubt else "1")
    assert unsure.is_displayed() == doubt
    if model == "blobs":
        assert not doubt  # 101 at 83%, written at a good size


def test_phone_width_has_no_horizontal_overflow(demo, browser):
    from selenium.webdriver.common.by import By

    srv, model, number = demo
    driver = browser
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}
    )
    try:
        open_page(driver, srv)
        left, top, css_w, w, h = pad_geometry(driver)
        assert (w, h) == (840, 336)  # a taller pad on phones
        assert css_w >= 340 and css_w * h / w >= 130  # room for a finger
        write(driver, number)
        wait_for_reading(driver)
        label = driver.find_element(By.ID, "label")
        label.clear()
        label.send_keys(number)
        sizes = driver.execute_script(
            "const out = {inner: window.innerWidth, scroll: document.documentElement.scrollWidth, right: {}};"
            "for (const e of document.querySelectorAll('.card, #latency, #confidence, .digit, #save, #model, .top *'))"
            "  out.right[e.id || e.className || e.tagName] = Math.max(out.right[e.id || e.className || e.tagName] || 0,"
            "    e.getBoundingClientRect().right);"
            "return out;"
        )
        assert sizes["inner"] == 390
        assert sizes["scroll"] <= sizes["inner"], sizes
        assert all(r <= sizes["inner"] + 0.5 for r in sizes["right"].values()), sizes
        screenshot(driver, "demo_phone.png")
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_huge_png_is_refused_from_its_header_at_once(demo, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    srv, model, number = demo
    driver = browser
    open_page(driver, srv)
    write(driver, number)
    wait_for_reading(driver)
    huge = tmp_path / "huge.png"
    huge.write_bytes(big_png(20_000, 20_000))
    assert huge.stat().st_size < srv.app.max_upload_bytes  # small file, 400 megapixels
    t0 = time.perf_counter()
    driver.find_element(By.ID, "file").send_keys(str(huge))
    WebDriverWait(driver, 10, poll_frequency=0.05).until(
        lambda d: d.find_element(By.ID, "prediction").get_attribute("data-status") == "error"
    )
    elapsed = time.perf_counter() - t0
    assert elapsed < 3.0, f"the page took {elapsed:.1f} s to refuse it"
    assert "20000 × 20000" in driver.find_element(By.ID, "error").text
    assert driver.find_element(By.ID, "strip").get_attribute("hidden")  # the old reading is gone
    assert driver.find_element(By.ID, "prediction").text.strip() == ""
    assert not driver.find_element(By.ID, "upload-preview").is_displayed()
    assert driver.find_element(By.ID, "pad-hint").is_displayed()
    write(driver, "1")  # and the page still works
    assert wait_for_reading(driver)["status"] == "done"

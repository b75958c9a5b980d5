"""End-to-end: the ``seqrec demo`` page in a real headless Chromium (Selenium driving
Debian's chromium + chromium-driver).

It writes a number on the canvas with mouse, pen and touch pointers, waits for the live
prediction, checks what the page shows against what the API answers for the same canvas
pixels, saves a labelled sample and checks it on disk, then reads an uploaded photo.
It uses the real pretrained CTC model when ``seqrec.recognizer`` and its weights are
available, otherwise the small ``BlobReader`` test recognizer. With no browser it skips.

Set ``SEQREC_DEMO_SCREENSHOT=docs/demo.png`` to also save a screenshot of the page.
"""
from __future__ import annotations

import base64
import csv
import http.client
import io
import json
import os
import re
import shutil
import threading
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
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1100,1000", "--hide-scrollbars",
]


def find_browser() -> tuple[str, str]:
    """(chromium, chromedriver) paths, or pytest.skip saying what is missing."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.skip("selenium is not installed (pip install selenium) - browser end-to-end test not run")
    chromium = os.environ.get("SEQREC_CHROMIUM") or next(
        (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
    driver = os.environ.get("SEQREC_CHROMEDRIVER") or shutil.which("chromedriver")
    if not chromium or not driver:
        missing = " and ".join(n for n, p in (("a Chromium browser", chromium), ("chromedriver", driver)) if not p)
        pytest.skip(f"{missing} not found on PATH (Debian: apt-get install chromium chromium-driver) - "
                    "browser end-to-end test not run")
    return chromium, driver


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


@pytest.fixture
def browser(tmp_path, monkeypatch):
    chromium, driver_path = find_browser()
    monkeypatch.setenv("SE_OFFLINE", "true")  # never let Selenium Manager go online
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    driver = webdriver.Chrome(options=opts, service=Service(driver_path))
    driver.set_page_load_timeout(20)
    yield driver
    driver.quit()


def api_predict(srv, body: bytes, ctype: str, model: str) -> dict:
    host, port = srv.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=20)
    conn.request("POST", f"/api/predict?model={model}", body=body, headers={"Content-Type": ctype})
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
    return [(c.find_element("class name", "d").text, c.find_element("class name", "p").text)
            for c in driver.find_elements("css selector", "#digits .digit")]


def pct(x: float) -> str:  # as app.js formats it
    return f"{100 * x:.{1 if 0.995 <= x < 1 else 0}f}%"


def test_draw_predict_save_upload_in_chromium(demo, browser, tmp_path):
    from selenium.webdriver.support.ui import Select, WebDriverWait

    srv, model, number = demo
    driver = browser
    driver.get(srv.url)
    WebDriverWait(driver, 15).until(lambda d: d.execute_script("return document.body.dataset.ready === '1'"))
    assert Select(driver.find_element("id", "model")).first_selected_option.get_attribute("value") == model

    # -- write the number with mouse, pen and touch strokes
    left, top, width = driver.execute_script(
        "const r = document.getElementById('pad').getBoundingClientRect(); return [r.left, r.top, r.width];")
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
    shot = os.environ.get("SEQREC_DEMO_SCREENSHOT")
    if shot:
        Path(shot).parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(shot))
        bottom = driver.execute_script("return document.querySelector('main').getBoundingClientRect().bottom")
        with Image.open(shot) as im:  # the app, without the footer's temporary path
            im.crop((0, 0, im.width, min(im.height, round(bottom) + 8))).save(shot)
    driver.find_element("id", "save").click()
    WebDriverWait(driver, 15).until(
        lambda d: d.find_element("id", "save-status").get_attribute("data-saved"))
    saved = driver.find_element("id", "save-status").get_attribute("data-saved")
    save_dir = tmp_path / "samples"
    with open(save_dir / "labels.csv", newline="") as f:
        assert list(csv.DictReader(f)) == [{"filename": saved, "label": number}]
    on_disk = np.asarray(Image.open(save_dir / "images" / saved))
    assert np.array_equal(on_disk, decode_data_url(api["strip"]))  # the strip the model saw
    WebDriverWait(driver, 10).until(lambda d: d.find_element("id", "prediction").get_attribute("data-status") == "idle")
    assert driver.find_element("id", "pad-hint").is_displayed()  # cleared for the next sample

    # -- upload a photo (dark ink on light paper) through the file input
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(fake_photo("1001" if model == "blobs" else "2389"))
    driver.find_element("id", "file").send_keys(str(photo))
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
    driver.find_element("id", "file").send_keys(str(junk))
    WebDriverWait(driver, 10).until(lambda d: d.find_element("id", "prediction").get_attribute("data-status") == "error")
    assert "not a readable image" in driver.find_element("id", "error").text
    assert driver.find_element("id", "strip").get_attribute("hidden")  # no stale answer left up
    driver.find_element("id", "clear").click()
    draw(driver, number_strokes("1"), width / 840, (left, top))
    assert wait_for_reading(driver)["text"] == "42"  # still on the "fixed" model

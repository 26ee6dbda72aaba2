"""The session app in headless Chromium, as a therapist uses it: a bad upload, then a session started on
a recording, watched live, reviewed (numbers checked against the log), the timeline clicked to seek
the recording, a person named. Screenshots go to test-artefacts/ (not committed)."""

from __future__ import annotations

import json

import pytest

from app_helpers import BrightnessClassifier, app_server, webm_video
from browser import chromium, needs_chromium, screenshot
from ferops.apps.summary import observations, summarise_people
from ferops.core.fer2013 import EMOTIONS


@needs_chromium
@pytest.mark.slow
def test_session_in_the_browser(tmp_path):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    classifier = BrightnessClassifier()
    video = webm_video(tmp_path / "visit.webm", 150)
    root = tmp_path / "sessions"
    with app_server(root, classifier) as (base, _), chromium() as driver:
        # The library table is redrawn when a session ends: an element found just before may be replaced.
        wait = WebDriverWait(driver, 120, ignored_exceptions=(StaleElementReferenceException,))
        driver.get(base + "/")
        assert str(root.resolve()) in driver.find_element(By.CLASS_NAME, "privacy").text  # says where

        bad = tmp_path / "broken.mp4"
        bad.write_bytes(b"not a video\n" * 100)
        driver.find_element(By.CSS_SELECTOR, "input[name=kind][value=upload]").click()
        driver.find_element(By.ID, "file").send_keys(str(bad))
        driver.find_element(By.ID, "start").click()
        wait.until(lambda d: "broken.mp4 is not a readable video" in d.find_element(By.ID, "message").text)
        screenshot(driver, "app_bad_upload")
        assert not root.exists() or list(root.iterdir()) == []

        driver.find_element(By.CSS_SELECTOR, "input[name=kind][value=path]").click()
        driver.find_element(By.ID, "path").send_keys(str(video))
        driver.find_element(By.ID, "name").send_keys("Mary, photos")
        driver.find_element(By.ID, "start").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#people tr")) == 3)  # header + two people
        wait.until(lambda d: d.execute_script("return document.getElementById('live-video').naturalWidth") == 640)
        screenshot(driver, "app_live")
        wait.until(lambda d: "review" in d.find_element(By.ID, "live-state").text)
        assert driver.find_element(By.ID, "message").text == ""

        wait.until(lambda d: d.find_element(By.LINK_TEXT, "Mary, photos").click() or True)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "svg.timeline"))
        (folder,) = list(root.iterdir())
        records = [json.loads(line) for line in (folder / "session.jsonl").read_text().splitlines()]
        assert len(records) == 150
        people = summarise_people(observations(records))
        for person, s in people.items():
            section = driver.find_element(By.CSS_SELECTOR, f"section.person[data-person='{person}']")
            assert f"Seen {s['seconds_seen']:.1f} s" in section.text
            shown = {}
            for row in section.find_elements(By.CSS_SELECTOR, "table tr")[1:]:
                cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
                shown[cells[0]] = cells[1]
            assert shown == {e: f"{s['share'][e]:.1%}" for e in (*EMOTIONS, "uncertain")}
            assert {k for k, v in s["share"].items() if v > 0.2} == {"sad", "happy", "uncertain"}
            for c in s["changes"]:
                assert f"{c['from']} \u2192 {c['to']}" in section.text

        wait.until(lambda d: d.execute_script("return document.getElementById('video').readyState") >= 1)
        svg = driver.find_element(By.CSS_SELECTOR, "svg.timeline")
        t0, duration = float(svg.get_attribute("data-t0")), float(svg.get_attribute("data-duration"))
        width = svg.rect["width"]
        # 60 % along the plotted part (the first 120 of 1000 units are the names), from the svg's centre
        x = (120 + 0.6 * 880) / 1000 * width - width / 2
        ActionChains(driver).move_to_element_with_offset(svg, int(round(x)), 0).click().perform()
        expected = t0 + 0.6 * duration
        wait.until(lambda d: abs(d.execute_script("return document.getElementById('video').currentTime") - expected)
                   < 0.15)
        screenshot(driver, "app_review")

        driver.find_element(By.CSS_SELECTOR, "input.pname[data-person='0']").send_keys("Mary")
        driver.find_element(By.ID, "savenames").click()
        wait.until(lambda d: "Mary" in d.find_element(By.CSS_SELECTOR, "section.person[data-person='0'] h2").text)
        assert json.loads((folder / "session.json").read_text())["names"] == {"0": "Mary"}


@needs_chromium
@pytest.mark.slow
def test_session_list_shows_markup_as_text(tmp_path):
    """A session.json copied from another computer with markup in its fields runs no script in the page."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from test_session_app import HOSTILE, copied_sessions

    root = tmp_path / "sessions"
    shown, foreign = copied_sessions(root)
    with app_server(root, BrightnessClassifier()) as (base, _), chromium() as driver:
        driver.get(base + "/")
        wait = WebDriverWait(driver, 30)
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#library tr")) == 2)
        row = driver.find_element(By.CSS_SELECTOR, f"#library tr[data-id='{shown}']")
        cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
        assert cells[:4] == [HOSTILE, HOSTILE, "-", HOSTILE]
        assert driver.title == "ferops sessions" and not driver.find_elements(By.CSS_SELECTOR, "#library img")
        assert foreign not in driver.page_source

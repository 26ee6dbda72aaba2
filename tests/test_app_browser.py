"""The session app in headless Chromium, as a therapist uses it: a bad upload, then a session started on
a recording of two people (one of whom leaves her seat and comes back elsewhere: two tracks), watched
live, reviewed (numbers checked against the log), the timeline clicked to seek the recording, the two
tracks of one person named alike (one person), the exports checked against the log. Screenshots go to
test-artefacts/ (not committed)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from support.apps import HOSTILE, BrightnessClassifier, SeatedFaces, app_server, copied_sessions, http, moving_video
from support.browser import chromium, needs_chromium, screenshot
from ferops.apps.report import session_summary
from ferops.core.fer2013 import EMOTIONS, VALENCES


def check_sections(driver, summary: dict) -> None:
    """Each person's section shows the summary computed here from the log: valence first, then emotions."""
    from selenium.webdriver.common.by import By

    sections = driver.find_elements(By.CSS_SELECTOR, "section.person")
    assert [s.get_attribute("data-person") for s in sections] == list(summary["people"])
    for section, s in zip(sections, summary["people"].values()):
        assert f"Seen {s['seconds_seen']:.1f} s" in section.text
        tables = section.find_elements(By.TAG_NAME, "table")
        shown = [{r.find_elements(By.TAG_NAME, "td")[0].get_attribute("textContent"):
                  r.find_elements(By.TAG_NAME, "td")[1].get_attribute("textContent")
                  for r in t.find_elements(By.CSS_SELECTOR, "tr")[1:]} for t in tables]
        assert shown[0] == {v: f"{s['valence_share'][v]:.1%}" for v in (*VALENCES, "uncertain")}
        assert shown[1] == {e: f"{s['share'][e]:.1%}" for e in (*EMOTIONS, "uncertain")}


@needs_chromium
@pytest.mark.slow
def test_session_in_the_browser(tmp_path):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    classifier = BrightnessClassifier()
    video = moving_video(tmp_path / "visit.webm", 150)
    root = tmp_path / "sessions"
    with app_server(root, classifier, SeatedFaces) as (base, _), chromium() as driver:
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
        summary = session_summary(records)
        assert list(summary["people"]) == ["person 0", "person 1", "person 2"], "Mary's return is another track"
        check_sections(driver, summary)

        wait.until(lambda d: d.execute_script("return document.getElementById('video').readyState") >= 1)
        svg = driver.find_element(By.CSS_SELECTOR, "svg.timeline.valence")
        t0, duration = float(svg.get_attribute("data-t0")), float(svg.get_attribute("data-duration"))
        left, plot = float(svg.get_attribute("data-left")), float(svg.get_attribute("data-plot"))
        width = svg.rect["width"]
        # 60 % along the plotted part (after the names on the left), from the svg's centre
        x = (left + 0.6 * plot) / (left + plot) * width - width / 2
        ActionChains(driver).move_to_element_with_offset(svg, int(round(x)), 0).click().perform()
        expected = t0 + 0.6 * duration
        wait.until(lambda d: abs(d.execute_script("return document.getElementById('video').currentTime") - expected)
                   < 0.15)
        screenshot(driver, "app_review")

        # The therapist names track 0 Mary, and track 2 too: one person.
        driver.find_element(By.CSS_SELECTOR, "#tracks summary").click()
        driver.find_element(By.CSS_SELECTOR, "input.tname[data-track='0']").send_keys("Mary")
        driver.find_element(By.CSS_SELECTOR, "input.tname[data-track='2']").send_keys("Mary")
        driver.find_element(By.CSS_SELECTOR, "input.tname[data-track='1']").send_keys("John")
        driver.find_element(By.ID, "savenames").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "section.person")) == 2)
        names = json.loads((folder / "session.json").read_text())["names"]
        assert names == {"0": "Mary", "1": "John", "2": "Mary"}
        merged = session_summary(records, names=names)
        assert list(merged["people"]) == ["Mary", "John"] and merged["people"]["Mary"]["tracks"] == [0, 2]
        check_sections(driver, merged)
        assert "(tracks 0, 2)" in driver.find_element(By.CSS_SELECTOR, "section.person[data-person='Mary'] h2").text
        rows = driver.find_elements(By.CSS_SELECTOR, "svg.timeline.valence text")
        assert [r.text for r in rows[:2]] == ["Mary", "John"], "one timeline row per person"
        screenshot(driver, "app_review_named")

        # The exports say the same: a person column beside the track, one Mary in the summary.
        rows = list(csv.DictReader(io.StringIO(http("GET", f"{base}/sessions/{folder.name}/export.csv")[1])))
        faces = [(str(f["id"]), f["valence"]["label"]) for r in records for f in r["faces"]]
        assert [(r["track"], r["valence"]) for r in rows if r["track"]] == faces
        assert {r["person"] for r in rows if r["track"] in ("0", "2")} == {"Mary"}
        exported = http("GET", f"{base}/sessions/{folder.name}/export.json")[1]
        assert exported["summary"]["people"]["Mary"]["valence_share"] == merged["people"]["Mary"]["valence_share"]

        # Renaming a person renames all her tracks; clearing one track's name separates it again.
        mary = driver.find_element(By.CSS_SELECTOR, "input.pname[data-tracks='0,2']")
        mary.clear()
        mary.send_keys("Mary B.")
        mary.find_element(By.XPATH, "following-sibling::button").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "section.person[data-person='Mary B.']"))
        assert json.loads((folder / "session.json").read_text())["names"] == {"0": "Mary B.", "1": "John",
                                                                              "2": "Mary B."}
        driver.find_element(By.CSS_SELECTOR, "#tracks summary").click()
        driver.find_element(By.CSS_SELECTOR, "input.tname[data-track='2']").clear()
        driver.find_element(By.ID, "savenames").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "section.person")) == 3)
        assert json.loads((folder / "session.json").read_text())["names"] == {"0": "Mary B.", "1": "John"}


@needs_chromium
@pytest.mark.slow
def test_session_list_shows_markup_as_text(tmp_path):
    """A session.json copied from another computer with markup in its fields runs no script in the page."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

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

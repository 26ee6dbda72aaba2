"""Moments and months in headless Chromium, as the therapist works: three markers made from the live page
during a session of two people, the review's markers and response tables (numbers checked against the
log), a second session with the same names, the People page, and erasing one person. Screenshots go to
test-artefacts/ (not committed)."""

from __future__ import annotations

import json

import pytest

from support.apps import BrightnessClassifier, SeatedFaces, app_server, moving_video
from support.browser import chromium, needs_chromium, screenshot
from ferops.apps import markers
from ferops.apps.report import fmt_t, read_log, session_summary

WINDOW_S = 10.0


def start_from_path(driver, video, name: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, "input[name=kind][value=path]").click()
    driver.find_element(By.ID, "path").clear()
    driver.find_element(By.ID, "path").send_keys(str(video))
    driver.find_element(By.ID, "name").clear()
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "start").click()


def name_people(driver, wait, session: str, names: dict[str, str]) -> None:
    """Opens the session's review from the library and names its tracks there, as the therapist does."""
    from selenium.webdriver.common.by import By

    driver.find_element(By.LINK_TEXT, session).click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#tracks summary"))
    driver.find_element(By.CSS_SELECTOR, "#tracks summary").click()
    for track, name in names.items():
        driver.find_element(By.CSS_SELECTOR, f"input.tname[data-track='{track}']").send_keys(name)
    driver.find_element(By.ID, "savenames").click()
    people = len({n.casefold() for n in names.values()})  # names match case aside: one person each
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "section.person")) == people)


@needs_chromium
@pytest.mark.slow
def test_markers_responses_people_and_erase_in_the_browser(tmp_path):
    from selenium.common.exceptions import NoAlertPresentException, StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    video = moving_video(tmp_path / "group.webm", 3000)  # five minutes of two seated people
    root = tmp_path / "sessions"
    with app_server(root, BrightnessClassifier(), SeatedFaces, window_s=WINDOW_S) as (base, _), \
            chromium() as driver:
        wait = WebDriverWait(driver, 120, ignored_exceptions=(StaleElementReferenceException,))
        driver.get(base + "/")
        start_from_path(driver, video, "Photos and songs")
        wait.until(lambda d: d.execute_script("return document.getElementById('live-video').naturalWidth") == 640)
        for note in ("wedding photo", "song from 1965", ""):
            driver.find_element(By.ID, "marknote").send_keys(note)
            driver.find_element(By.ID, "mark").click()
            n = 1 + ["wedding photo", "song from 1965", ""].index(note)
            wait.until(lambda d, n=n: len(d.find_elements(By.CSS_SELECTOR, "#marks li")) == n)
        screenshot(driver, "app_live_markers")
        driver.find_element(By.ID, "stop").click()  # a file is read faster than real time: stop it here
        wait.until(lambda d: "review" in d.find_element(By.ID, "live-state").text)
        (folder,) = list(root.iterdir())
        made = markers.read(folder / markers.FILE)
        assert [m["note"] for m in made] == ["wedding photo", "song from 1965", ""]
        assert made[0]["t"] < made[1]["t"] < made[2]["t"]

        # The review: name the people, then the markers are on every timeline and the tables match the log.
        name_people(driver, wait, "Photos and songs", {"0": "Mary", "1": "John", "2": "Mary"})
        names = json.loads((folder / "session.json").read_text())["names"]
        records = read_log(folder / "session.jsonl").records
        expected = session_summary(records, names=names, markers=made, window_s=WINDOW_S)
        for svg in driver.find_elements(By.CSS_SELECTOR, "svg.timeline"):
            assert [float(g.get_attribute("data-t")) for g in svg.find_elements(By.CSS_SELECTOR, "g.marker")] == \
                [m["t"] for m in made]
        sections = driver.find_elements(By.CSS_SELECTOR, "section.prompt")
        assert [s.get_attribute("data-marker") for s in sections] == [m["id"] for m in made]
        for section, m in zip(sections, expected["markers"]):
            assert fmt_t(m["t"]) in section.find_element(By.TAG_NAME, "h3").text
            for row in section.find_elements(By.CSS_SELECTOR, "tr[data-person]"):
                r = m["people"][row.get_attribute("data-person")]
                cells = [td.get_attribute("textContent") for td in row.find_elements(By.TAG_NAME, "td")]
                assert cells[1:3] == [f"{r['before']['seconds']:.1f} s", f"{r['after']['seconds']:.1f} s"]
                if r["enough"]:
                    assert cells[5] == f"{r['change']['positive'] * 100:+.0f} pts"
                else:
                    assert cells[3] == "not enough data"
        assert len(driver.find_elements(By.CSS_SELECTOR, "#reached-table tr")) == 1 + 3 * 2
        # A marker added in the review at a typed moment, then its note edited.
        driver.find_element(By.ID, "mt").send_keys("0:05")
        driver.find_element(By.ID, "mnote").send_keys("tea served")
        driver.find_element(By.ID, "addmarker").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "tr.marker")) == 4)
        assert {"t": 5.0, "note": "tea served"}.items() <= next(
            m for m in markers.read(folder / markers.FILE) if m["note"] == "tea served").items()
        screenshot(driver, "app_review_markers_top")
        driver.execute_script("document.getElementById('prompts').scrollIntoView()")
        screenshot(driver, "app_review_markers")

        # A second session a week later (the same recording here), the same names typed.
        driver.get(base + "/")
        start_from_path(driver, video, "Music")
        wait.until(lambda d: "review" in d.find_element(By.ID, "live-state").text)
        second = next(p for p in root.iterdir() if p != folder)
        name_people(driver, wait, "Music", {"0": "mary", "1": "John", "2": "Mary"})

        driver.find_element(By.LINK_TEXT, "people").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "section.person"))
        people = {s.get_attribute("data-person"): s for s in driver.find_elements(By.CSS_SELECTOR, "section.person")}
        assert sorted(people) == ["John", "Mary"]
        rows = people["Mary"].find_elements(By.CSS_SELECTOR, "table.sessions tr[data-session]")
        assert [r.get_attribute("data-session") for r in rows] == [folder.name, second.name]
        assert len(people["Mary"].find_elements(By.CSS_SELECTOR, "svg.trend circle.positive")) == 2
        screenshot(driver, "app_people")

        # Erase John: the confirmation names what goes; afterwards his name is nowhere, Mary's faces stay.
        people["John"].find_element(By.CSS_SELECTOR, "button.erase").click()
        alert = WebDriverWait(driver, 30, ignored_exceptions=(NoAlertPresentException,)).until(
            lambda d: d.switch_to.alert)
        assert "Erase John from 2 session(s)" in alert.text
        alert.accept()
        wait.until(lambda d: [s.get_attribute("data-person") for s in
                              d.find_elements(By.CSS_SELECTOR, "section.person")] == ["Mary"])
        for path in (p for p in root.rglob("*") if p.is_file()):
            assert "john" not in path.read_text(errors="replace").lower(), path
        after = read_log(folder / "session.jsonl").records
        assert len(after) == len(records)
        assert [[f["id"] for f in r["faces"]] for r in after] == \
            [[f["id"] for f in r["faces"] if f["id"] != 1] for r in records]

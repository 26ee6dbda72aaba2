"""`ferops webcam` with no flags opens a live view on any install: a window where OpenCV has GUI support
(tested under Xvfb with opencv-python in a throwaway venv), else a local page (tested in headless Chromium).
Screenshots go to test-artefacts/ (not committed)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from support.apps import long_video
from support.browser import ARTEFACTS, chromium, needs_chromium, screenshot
from support.processes import clean_env, read_stderr_until
from ferops.apps import live
from ferops.recording import videosource
from ferops.apps.live_page import BOUNDARY, LivePage
from ferops.runtime.classifier import EmotionClassifier
from ferops.runtime.faces import live_detector

FERROPS = str(Path(sys.executable).with_name("ferops"))


def banner_is_drawn(image: np.ndarray) -> bool:
    """The overlay's top banner: a dark (30, 30, 30) strip with white text across the frame's width."""
    strip = image[3:20, : image.shape[1] // 2].reshape(-1, 3).astype(int)
    dark = np.all(np.abs(strip - 30) <= 12, axis=1).mean()
    white = np.all(strip >= 200, axis=1).mean()
    return dark > 0.6 and white > 0.01


def first_jpeg(url: str, timeout: float = 30) -> np.ndarray:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        assert r.headers["Content-Type"] == f"multipart/x-mixed-replace; boundary={BOUNDARY}"
        buf = b""
        while b"\xff\xd9" not in buf:
            buf += r.read1(65536)
    jpeg = buf[buf.index(b"\xff\xd8") : buf.index(b"\xff\xd9") + 2]
    return cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)


def test_page_streams_the_annotated_video_and_stop_ends_the_run(tmp_path, registered_model):
    clf = EmotionClassifier.from_keras_file(registered_model[1])
    video = long_video(tmp_path / "v.mp4", 400)
    options = live.Options()
    with LivePage(options.stop) as page:
        done = {}
        worker = threading.Thread(
            target=lambda: done.update(n=live.run(videosource.open_source(str(video)), live_detector(), clf, options,
                                                  show=page.show))
        )
        worker.start()
        html = urllib.request.urlopen(page.url, timeout=10).read().decode()
        assert 'src="/stream"' in html and "Stop" in html
        frame = first_jpeg(page.url + "stream")
        assert frame.shape == (480, 640, 3) and banner_is_drawn(frame)
        urllib.request.urlopen(urllib.request.Request(page.url + "stop", method="POST", headers=FROM_PAGE), timeout=10)
        worker.join(timeout=60)
    assert not worker.is_alive() and 0 < done["n"] < 400, "Stop ended the run before the video's end"


FROM_PAGE = {"X-Requested-With": "ferops"}  # what the page's own Stop button sends


def request(url: str, method: str = "GET", headers: dict | None = None, body: bytes | None = None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_page_answers_only_local_hosts_and_stops_only_from_itself():
    """As `ferops app`: another web site open in the browser cannot stop the run with a plain cross-site
    POST (no custom header without CORS), nor read the page through a rebinding DNS name."""
    stop = threading.Event()
    with LivePage(stop) as page:
        port = page.url.rsplit(":", 1)[1].strip("/")
        for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example", "localhost.evil:80"):
            for method in ("GET", "POST"):
                status, text = request(page.url + ("stop" if method == "POST" else ""), method,
                                       {"Host": host, **FROM_PAGE}, b"" if method == "POST" else None)
                assert status == 400 and "invalid Host header" in text, (host, method, status, text)
        form = {"Content-Type": "application/x-www-form-urlencoded"}  # what a cross-site <form> sends
        for headers in (form, {**form, "X-Requested-With": "XMLHttpRequest"}):
            status, text = request(page.url + "stop", "POST", headers, b"x=1")
            assert status == 403 and "X-Requested-With: ferops" in text, (status, text)
        assert not stop.is_set(), "a refused request stopped the run"
        for host in (f"localhost:{port}", f"[::1]:{port}", "127.0.0.1"):
            assert request(page.url, headers={"Host": host})[0] == 200, host
        assert request(page.url + "stop", "POST", FROM_PAGE, b"")[0] == 204 and stop.is_set()


@needs_chromium
def test_webcam_without_window_support_opens_the_page(tmp_path, registered_model):
    """No GUI in OpenCV (opencv-python-headless) and no flags: the page, with the overlay, and Stop works."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    video = long_video(tmp_path / "long.mp4", 3000)
    env = clean_env(MLFLOW_TRACKING_URI=registered_model[0])
    env.pop("DISPLAY", None)
    proc = subprocess.Popen([FERROPS, "webcam", "--source", str(video), "--model-uri", "models:/fer/Production"],
                            env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        url = read_stderr_until(proc, r"live view: (http://127\.0\.0\.1:\d+/)").group(1)
        with chromium() as driver:
            driver.get(url)
            WebDriverWait(driver, 30).until(
                lambda d: d.execute_script("return document.getElementById('video').naturalWidth") == 640
            )
            time.sleep(0.3)
            shot = cv2.imread(str(screenshot(driver, "webcam_page")))
            img = driver.find_element(By.ID, "video")
            r, dpr = img.rect, driver.execute_script("return window.devicePixelRatio")
            shown = shot[int(r["y"] * dpr) : int((r["y"] + r["height"]) * dpr),
                         int(r["x"] * dpr) : int((r["x"] + r["width"]) * dpr)]
            assert banner_is_drawn(shown), "the screenshot shows the overlay's banner"
            driver.find_element(By.ID, "stop").click()
            WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "state").text == "stopped")
        proc.wait(timeout=60)
        err = proc.stderr.read() if proc.stderr else ""
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()


def xwd_image(path: Path) -> np.ndarray:
    """Xvfb's -fbdir screen file (XWD format, 32 bits a pixel) -> a BGR image."""
    data = path.read_bytes()
    head = struct.unpack(">25I", data[:100])
    header_size, width, height, byte_order, bpp, bytes_per_line, ncolors = (
        head[0], head[4], head[5], head[7], head[11], head[12], head[19])
    assert bpp == 32, f"expected a 24-bit screen (32 bits a pixel), got {bpp}"
    start = header_size + 12 * ncolors
    pixels = np.frombuffer(data, np.uint8, count=height * bytes_per_line, offset=start)
    pixels = pixels.reshape(height, bytes_per_line)[:, : width * 4].reshape(height, width, 4)
    return np.ascontiguousarray(pixels[..., :3] if byte_order == 0 else pixels[..., 3:0:-1])


@pytest.fixture(scope="session")
def gui_python(tmp_path_factory) -> Path:
    """A throwaway venv with opencv-python<5 (the GUI build) that sees this venv's packages behind it.

    The project itself installs only opencv-python-headless; the two must never share one environment,
    so the window test borrows a second one. pip's cache makes this quick after the first run."""
    if not shutil.which("Xvfb"):
        pytest.skip("Xvfb is not installed (Debian: apt-get install xvfb)")
    venv = tmp_path_factory.mktemp("gui") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", "opencv-python<5", f"numpy=={np.__version__}"],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        pytest.skip(f"could not install opencv-python<5 into a throwaway venv: {r.stderr.strip()[-300:]}")
    gui_site = subprocess.check_output([str(py), "-c", "import site; print(site.getsitepackages()[0])"], text=True)
    main_site = next(p for p in sys.path if p.endswith("site-packages") and Path(p, "cv2").is_dir())
    # After its own packages: cv2 resolves to the GUI build, everything else (ferops, TF) to this venv.
    Path(gui_site.strip(), "zz_ferops_main.pth").write_text(f"import site; site.addsitedir({main_site!r})\n")
    return py


@pytest.mark.slow
def test_webcam_window_under_xvfb(tmp_path, registered_model, gui_python):
    check = subprocess.run([str(gui_python), "-c", "import cv2, ferops; print(cv2.getBuildInformation())"],
                           capture_output=True, text=True)
    assert check.returncode == 0 and not re.search(r"GUI:\s+NONE", check.stdout), check.stderr[-2000:]
    display = f":{90 + os.getpid() % 500}"
    fbdir = tmp_path / "fb"
    fbdir.mkdir()
    xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1024x768x24", "-fbdir", str(fbdir), "-nolisten",
                             "tcp"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    video = long_video(tmp_path / "long.mp4", 3000)
    log = tmp_path / "s.jsonl"
    env = clean_env(DISPLAY=display)
    proc = subprocess.Popen([str(gui_python), "-m", "ferops.apps.cli", "webcam", "--source", str(video),
                             "--model-uri", str(registered_model[1]), "--log", str(log)],
                            env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and (not log.exists() or log.read_text().count("\n") < 30):
            assert proc.poll() is None, proc.stderr.read()[-3000:]
            time.sleep(0.2)
        time.sleep(0.5)
        screen = xwd_image(fbdir / "Xvfb_screen0")
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(ARTEFACTS / "webcam_window_xvfb.png"), screen)
        # The window shows the 640x480 annotated frame somewhere on the screen: find its banner.
        dark = np.all(np.abs(screen.astype(int) - 30) <= 12, axis=2)
        rows = np.flatnonzero(dark.sum(axis=1) > 400)
        assert len(rows) >= 10, "no overlay banner on the screen"
        top = rows[0]
        cols = np.flatnonzero(dark[top + 3])
        assert banner_is_drawn(screen[top : top + 24, cols[0] : cols[0] + 640]), "the window shows the overlay"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        assert proc.returncode == 0, proc.stderr.read()[-3000:]
        assert "live view:" not in proc.stderr.read(), "a window, not the page"
    finally:
        for p in (proc, xvfb):
            if p.poll() is None:
                p.kill()

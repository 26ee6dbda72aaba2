"""The real `mlflow models serve` process against a model the tests registered."""

import base64
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from support.data import needs_real_data, real_faces
from support.processes import clean_env, mlflow_process
from support.serving import hopper_photos, post, records, server_rss
from ferops.runtime.classifier import EmotionClassifier
from ferops.runtime.imaging import MAX_IMAGE_BYTES, encode_png
from ferops.core import venv
from ferops.core.fer2013 import EMOTIONS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(registered_model):
    uri, keras_path, work = registered_model
    serve = ("models", "serve", "-m", "models:/fer/Production", "--env-manager", "local")
    with mlflow_process(*serve, health="/ping", env=clean_env(MLFLOW_TRACKING_URI=uri), cwd=work) as url:
        yield url, EmotionClassifier.from_keras_file(keras_path)


def probs_of(predictions: list[dict]) -> np.ndarray:
    return np.array([[p["probs"][e] for e in EMOTIONS] for p in predictions])


def test_synthetic_crops_any_size_and_colour_match_in_process(server):
    url, clf = server
    rng = np.random.default_rng(1)
    gray = rng.integers(0, 256, (48, 48), dtype=np.uint8)
    colour = rng.integers(0, 256, (120, 90, 3), dtype=np.uint8)
    jpeg = base64.b64encode(cv2.imencode(".jpg", colour)[1].tobytes()).decode()
    status, body = post(url, records(encode_png(gray), encode_png(colour), jpeg))
    assert status == 200, body
    preds = body["predictions"]
    assert [p["record"] for p in preds] == [0, 1, 2]
    decoded_jpeg = cv2.imdecode(np.frombuffer(base64.b64decode(jpeg), np.uint8), cv2.IMREAD_UNCHANGED)
    expected = clf.classify_faces([gray, colour, decoded_jpeg])
    assert np.allclose(probs_of(preds), expected, atol=1e-3)
    assert [p["label"] for p in preds] == [EMOTIONS[i] for i in expected.argmax(axis=1)]
    for p, e in zip(preds, expected):  # valence beside the seven: their probabilities summed in three groups
        assert p["valence"]["probs"]["positive"] == pytest.approx(e[EMOTIONS.index("happy")], abs=1e-3)
        assert p["valence"]["probs"]["neutral"] == pytest.approx(e[EMOTIONS.index("neutral")], abs=1e-3)
        assert p["valence"]["label"] == max(p["valence"]["probs"], key=p["valence"]["probs"].get)


def test_dataframe_split_and_tensor_inputs(server):
    url, clf = server
    pixels = np.random.default_rng(2).integers(0, 256, (2, 48, 48)).astype(np.uint8)
    status, body = post(url, {"dataframe_split": {"columns": ["image"], "data": [[encode_png(pixels[0])]]}})
    assert status == 200 and np.allclose(probs_of(body["predictions"]), clf.probs(pixels[:1]), atol=1e-3)
    status, body = post(url, {"inputs": pixels.tolist()})
    assert status == 200 and np.allclose(probs_of(body["predictions"]), clf.probs(pixels), atol=1e-3)
    status, body = post(url, {"inputs": (pixels[..., None] / 1.0).tolist()})
    assert status == 200 and len(body["predictions"]) == 2


@needs_real_data
def test_real_faces_match_in_process_predictions(server):
    url, clf = server
    faces, _ = real_faces(8)
    big = [cv2.cvtColor(cv2.resize(f, (160, 160), interpolation=cv2.INTER_CUBIC), cv2.COLOR_GRAY2BGR) for f in faces]
    status, body = post(url, records(*(encode_png(b) for b in big)))
    assert status == 200
    assert np.allclose(probs_of(body["predictions"]), clf.classify_faces(big), atol=1e-3)


@needs_real_data
def test_detect_faces_in_a_photo(server):
    url, clf = server
    faces, _ = real_faces(40)
    from ferops.runtime.faces import HaarDetector

    detector = HaarDetector()
    for face in faces:
        photo = np.full((480, 640), 200, np.uint8)
        photo[150:350, 220:420] = cv2.resize(face, (200, 200), interpolation=cv2.INTER_CUBIC)
        if detector.detect(photo):
            break
    else:
        pytest.fail("the Haar cascade found none of 40 real faces")
    status, body = post(url, {**records(encode_png(photo)), "params": {"detect_faces": True}})
    assert status == 200 and len(body["predictions"]) >= 1
    x, y, w, h = body["predictions"][0]["box"]
    assert abs((x + w / 2) - 320) < 60 and abs((y + h / 2) - 250) < 60, "box where the face was placed"
    status, body = post(
        url, {**records(encode_png(np.full((480, 640), 90, np.uint8))), "params": {"detect_faces": True}}
    )
    assert status == 200 and body["predictions"] == []


def bomb_png(width: int, height: int) -> str:
    """A PNG whose header claims width x height pixels (the body does not matter: it is refused first)."""
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return base64.b64encode(b"\x89PNG\r\n\x1a\n" + chunk + b"\x00" * 64).decode()


@pytest.mark.parametrize(
    "payload, message",
    [
        (records(encode_png(np.zeros((48, 48), np.uint8)), "not base64!!"), "record 1: invalid base64"),
        (records(base64.b64encode(b"just some text, not an image").decode()), "record 0: not a PNG or JPEG image"),
        (records(bomb_png(30000, 30000)), "record 0: image of 30000x30000 pixels is over"),
        (
            records(base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * (MAX_IMAGE_BYTES + 10)).decode()),
            "record 0: image is larger than",
        ),
        ({"dataframe_records": []}, "empty batch"),
        ({"dataframe_records": [{"img": encode_png(np.zeros((48, 48), np.uint8))}]}, "no 'image' column (got img)"),
        ({"dataframe_records": [{"image": 123}]}, "record 0: image must be base64 PNG or JPEG text, got int"),
        ({"inputs": [[1, 2, 3]]}, "expected shape (N, 48, 48)"),
        ({"inputs": []}, "empty batch"),
        ({"inputs": [[[float("nan")] * 48] * 48]}, "record 0 contains NaN"),
        ({"inputs": [[[0] * 48] * 48, [[300] * 48] * 48]}, "record 1 has pixel values outside 0..255"),
    ],
)
def test_bad_input_is_a_4xx_naming_problem_and_record(server, payload, message):
    url, _ = server
    status, body = post(url, payload)
    assert 400 <= status < 500, (status, body)
    assert message in body.get("message", ""), body.get("message", "")[-400:]
    status, body = post(url, records(encode_png(np.full((48, 48), 128, np.uint8))))
    assert status == 200 and len(body["predictions"]) == 1, "server keeps answering good requests"


def test_python_client(server):
    url, clf = server
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from serve.client import predict_images, predict_pixels

    img = np.random.default_rng(3).integers(0, 256, (64, 64), dtype=np.uint8)
    faces = predict_images([cv2.imencode(".png", img)[1].tobytes()], url=url)
    assert faces[0]["label"] == EMOTIONS[int(clf.classify_faces([img])[0].argmax())]
    assert len(predict_pixels(np.zeros((3, 48, 48), int).tolist(), url=url)) == 3
    with pytest.raises(RuntimeError, match="HTTP 400: .*invalid base64"):
        from serve import client

        client._post(url, records("%%%"), 30)


def test_ferops_serve_wraps_mlflow_models_serve(registered_model):
    """`ferops serve` starts the same endpoint with its defaults and answers a face."""
    from support.processes import free_port, wait_http

    uri, _, work = registered_model
    port = free_port()
    ferops = venv.executable("ferops")
    proc = subprocess.Popen(
        [ferops, "serve", "--port", str(port)],
        cwd=work,
        env=clean_env(MLFLOW_TRACKING_URI=uri),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/ping", proc, timeout=180)
        status, body = post(f"http://127.0.0.1:{port}", records(encode_png(np.full((60, 60), 90, np.uint8))))
        assert status == 200 and body["predictions"][0]["label"] in EMOTIONS
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # ferops, the mlflow CLI under it and its workers
        proc.wait(timeout=30)


def test_sigterm_to_ferops_serve_stops_the_server(registered_model):
    """`kill <pid of ferops serve>` (what a service manager or a script does) frees the port: no mlflow or
    uvicorn process is left behind answering on it."""
    import socket
    import time

    from support.processes import free_port, wait_http

    uri, _, work = registered_model
    port = free_port()
    proc = subprocess.Popen(
        [venv.executable("ferops"), "serve", "--port", str(port)],
        cwd=work,
        env=clean_env(MLFLOW_TRACKING_URI=uri),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: what is left of it can be found and cleaned up
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/ping", proc, timeout=180)
        proc.send_signal(signal.SIGTERM)  # to ferops serve alone, not its group
        proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while True:
            try:
                os.killpg(proc.pid, 0)
                left = True
            except ProcessLookupError:
                left = False
            with socket.socket() as s:
                answering = s.connect_ex(("127.0.0.1", port)) == 0
            if not (left or answering) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert not answering, f"port {port} still answers 10 s after SIGTERM to ferops serve"
        assert not left, "processes of ferops serve still run 10 s after its SIGTERM"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_ferops_serve_without_that_model_is_one_error_line(registered_model):
    """Nothing promoted yet (or a mistyped version): one line naming what the store holds, not a traceback."""
    uri, _, work = registered_model
    out = subprocess.run(
        [venv.executable("ferops"), "serve", "--model-uri", "models:/fer/99"],
        cwd=work,
        env=clean_env(MLFLOW_TRACKING_URI=uri),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: model URI 'models:/fer/99' does not resolve"), out.stderr
    assert "registered models in" in lines[0] and "fer (versions" in lines[0]


@pytest.mark.parametrize("detector", ["yunet", "haar"])
def test_concurrent_detect_faces_answers_equal_sequential_ones(server, detector):
    """8 clients at once on 4 different photos: every answer equals that photo's answer alone."""
    from concurrent.futures import ThreadPoolExecutor

    url, _ = server
    payloads = [
        {**records(encode_png(p)), "params": {"detect_faces": True, "detector": detector}} for p in hopper_photos()
    ]
    expected = [post(url, p) for p in payloads]
    assert all(status == 200 for status, _ in expected)
    if detector == "yunet":
        assert [len(b["predictions"]) for _, b in expected] == [1, 2, 1, 3]
        assert all(0.5 <= f["det_conf"] <= 1 for _, b in expected for f in b["predictions"])
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda k: (k % 4, post(url, payloads[k % 4])), range(96)))
    wrong = [k for k, answer in answers if answer != expected[k]]
    assert wrong == [], f"{len(wrong)} of 96 concurrent answers differ from the sequential ones"


def test_too_many_records_is_413_naming_the_limit(server):
    from ferops.runtime.pyfunc_model import MAX_RECORDS

    url, _ = server
    crop = encode_png(np.full((48, 48), 90, np.uint8))
    status, body = post(url, records(*[crop] * (MAX_RECORDS + 1)))
    assert status == 413 and f"the limit is {MAX_RECORDS} records a request" in body["message"], (status, body)
    status, body = post(url, {"inputs": np.zeros((MAX_RECORDS + 1, 48, 48), int).tolist()})
    assert status == 413 and f"the limit is {MAX_RECORDS}" in body["message"]
    status, body = post(url, records(*[crop] * MAX_RECORDS))
    assert status == 200 and len(body["predictions"]) == MAX_RECORDS


def test_in_process_predict_takes_any_number_of_records(registered_model):
    """A notebook, spark_udf or batch script is not the server: no request limit, read in bounded chunks, and
    the same answers as one record at a time. The signature declares every column the model returns."""
    import mlflow

    from ferops.registry.names import PRODUCTION_URI
    from ferops.runtime.pyfunc_model import MAX_RECORDS

    uri, _, _ = registered_model
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    model = mlflow.pyfunc.load_model(PRODUCTION_URI)
    rng = np.random.default_rng(3)
    n = 2 * MAX_RECORDS + 5
    pixels = rng.integers(0, 256, (n, 48, 48)).astype(np.uint8)
    out = model.predict(pixels)
    assert list(out["record"]) == list(range(n))
    crops = [encode_png(p) for p in pixels]
    images = model.predict(pd.DataFrame({"image": crops}))
    assert list(images["record"]) == list(range(n)) and list(images["label"]) == list(out["label"])
    last = model.predict(pd.DataFrame({"image": crops[-1:]}))
    assert last["probs"][0] == pytest.approx(images["probs"][n - 1], abs=1e-4), "chunking changes no answer"
    declared = [c.name for c in model.metadata.get_output_schema().inputs]
    assert declared == list(out.columns) == list(images.columns)
    bad = crops[:MAX_RECORDS + 3] + [None]
    with pytest.raises(Exception, match=f"record {MAX_RECORDS + 3}: image is missing"):
        model.predict(pd.DataFrame({"image": bad}))


def test_unknown_detector_is_a_client_error_in_the_one_wording(registered_model):
    """params {"detector": ...} goes through runtime.faces.create like every other caller: an unknown name is
    an INVALID_PARAMETER_VALUE (the server's 400), worded as the CLI words it."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from ferops.registry.names import PRODUCTION_URI

    uri, _, _ = registered_model
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    model = mlflow.pyfunc.load_model(PRODUCTION_URI)
    image = pd.DataFrame({"image": [encode_png(np.full((96, 96), 90, np.uint8))]})
    with pytest.raises(MlflowException) as e:
        model.predict(image, params={"detect_faces": True, "detector": "mtcnn"})
    assert e.value.message == "unknown face detector 'mtcnn'; choose one of yunet, haar"
    assert e.value.get_http_status_code() == 400
    assert model.predict(image, params={"detect_faces": True, "detector": "haar"}).empty


def test_deeply_nested_json_is_a_4xx_and_the_server_keeps_serving(server):
    url, _ = server
    status, body = post(url, b"[" * 100_000 + b"]" * 100_000)
    assert 400 <= status < 500, status
    status, body = post(url, b'{"inputs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    assert 400 <= status < 500, status
    status, body = post(url, records(encode_png(np.full((48, 48), 128, np.uint8))))
    assert status == 200 and len(body["predictions"]) == 1


def post_stream(url: str, chunks, headers: dict | None = None) -> tuple[int, dict]:
    """POST /invocations with a body sent in chunks (chunked transfer: no Content-Length unless given)."""
    import http.client
    from urllib.parse import urlsplit

    where = urlsplit(url)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=120)
    try:
        sent = {"Content-Type": "application/json", **(headers or {})}
        conn.request("POST", "/invocations", body=chunks, headers=sent, encode_chunked="Content-Length" not in sent)
        r = conn.getresponse()
        return r.status, json.loads(r.read() or b"{}")
    finally:
        conn.close()


def test_body_over_the_limit_is_413_before_it_is_read_or_parsed(server):
    """By its Content-Length (the rest never has to be sent) or as it streams in: 413 naming the limit, not
    the 400 of parsing it whole; eight at once, and eight large ones under the limit, and it keeps serving."""
    import http.client
    from concurrent.futures import ThreadPoolExecutor
    from urllib.parse import urlsplit

    from ferops.runtime.pyfunc_model import MAX_REQUEST_BYTES

    url, _ = server
    where = urlsplit(url)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=60)
    conn.putrequest("POST", "/invocations")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(10 * MAX_REQUEST_BYTES))
    conn.endheaders(b'{"inputs": [')  # a client that would send 640 MiB: refused before it has to
    r = conn.getresponse()
    status, body = r.status, json.loads(r.read())
    conn.close()
    assert status == 413, (status, body)
    assert body["message"].startswith(f"request body of {10 * MAX_REQUEST_BYTES} bytes is over the ")
    assert f"{MAX_REQUEST_BYTES}-byte limit" in body["message"]

    mib = b"x" * 2**20  # not JSON at all: parsed, it would be a 400

    def streamed_over(_):
        return post_stream(url, (mib for _ in range(MAX_REQUEST_BYTES // 2**20 + 2)))

    def large_under(_):  # parsed: one image of 32 MiB is over the per-image limit
        return post(url, records("A" * (MAX_REQUEST_BYTES // 2)))

    with ThreadPoolExecutor(8) as pool:
        over = list(pool.map(streamed_over, range(8)))
        under = list(pool.map(large_under, range(8)))
    assert [status for status, _ in over] == [413] * 8, over
    assert all(f"request body is over the {MAX_REQUEST_BYTES}-byte limit" in b["message"] for _, b in over)
    assert [status for status, _ in under] == [400] * 8, [b.get("message", "")[:200] for _, b in under]
    assert all("record 0: image is larger than" in b["message"] for _, b in under)
    status, body = post(url, records(encode_png(np.full((48, 48), 128, np.uint8))))
    assert status == 200 and len(body["predictions"]) == 1, "server keeps answering good requests"


@pytest.mark.parametrize("content_type", [None, ""])
def test_request_without_content_type_is_415(server, content_type):
    """curl --data-binary without -H, or a client that forgets the header: 415 naming it (it was a 500)."""
    import http.client
    from urllib.parse import urlsplit

    url, _ = server
    crop = json.dumps(records(encode_png(np.full((48, 48), 128, np.uint8)))).encode()
    where = urlsplit(url)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=60)
    conn.request("POST", "/invocations", body=crop, headers={} if content_type is None else {"Content-Type": ""})
    r = conn.getresponse()
    status, raw = r.status, r.read()
    conn.close()
    assert status == 415, (status, raw[:200])
    body = json.loads(raw)
    assert body["message"] == "request has no Content-Type header: send Content-Type: application/json"
    status, body = post(url, records(encode_png(np.full((48, 48), 128, np.uint8))))
    assert status == 200 and len(body["predictions"]) == 1, "server keeps answering good requests"


def test_fat_jpeg_metadata_and_16_bit_png_are_accepted(server):
    url, clf = server
    img = np.random.default_rng(5).integers(0, 256, (60, 60, 3), dtype=np.uint8)
    jpg = cv2.imencode(".jpg", img)[1].tobytes()
    app1 = b"\xff\xe1" + (40002).to_bytes(2, "big") + b"Exif\x00\x00" + b"\x00" * 39994
    fat = jpg[:2] + app1 + app1 + jpg[2:]
    wide = cv2.imencode(".png", img.astype(np.uint16) * 257)[1].tobytes()
    status, body = post(url, records(*(base64.b64encode(b).decode() for b in (fat, wide))))
    assert status == 200, body
    expected = clf.classify_faces([cv2.imdecode(np.frombuffer(jpg, np.uint8), cv2.IMREAD_COLOR), img])
    assert np.allclose(probs_of(body["predictions"]), expected, atol=1e-3)


def test_memory_stays_flat_over_1000_mixed_requests(server):
    from concurrent.futures import ThreadPoolExecutor

    from ferops.runtime.pyfunc_model import MAX_RECORDS

    url, _ = server
    rng = np.random.default_rng(9)
    photo = hopper_photos()[3]
    crops = [encode_png(rng.integers(0, 256, (120, 100, 3), dtype=np.uint8)) for _ in range(MAX_RECORDS)]
    wide = base64.b64encode(cv2.imencode(".png", rng.integers(0, 65535, (900, 900), dtype=np.uint16))[1]).decode()
    mixed = [
        {**records(encode_png(photo)), "params": {"detect_faces": True}},
        {**records(encode_png(photo)), "params": {"detect_faces": True, "detector": "haar"}},
        records(*crops),
        records(wide),
        {"inputs": rng.integers(0, 256, (MAX_RECORDS, 48, 48)).tolist()},
        records(*crops, *crops),  # refused: over the limit
        records("not base64!!"),
    ]
    bodies = [json.dumps(m).encode() for m in mixed]
    assert post(url, bodies[0])[0] == 200
    first = server_rss(url)  # the reading: its size after the first request
    assert [post(url, b)[0] for b in bodies] == [200, 200, 200, 200, 200, 413, 400]
    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(lambda k: post(url, bodies[k % len(bodies)])[0], range(1000)))
    refused = [k % len(bodies) for k, status in enumerate(statuses) if status != 200]
    assert refused == [k % len(bodies) for k in range(1000) if k % len(bodies) in (5, 6)], "only the bad ones"
    assert [statuses[k] for k in range(5, 7)] == [413, 400]
    after = server_rss(url)
    assert after <= first * 1.2, f"server memory grew from {first / 2**20:.0f} MB to {after / 2**20:.0f} MB"

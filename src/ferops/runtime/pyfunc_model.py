"""The registered `fer` model, as MLflow models-from-code: no pickled Python objects.

Inputs (one model, two forms), any number in-process (read and scored MAX_RECORDS at a time, so memory
stays bounded); the scoring server answers a request of more than MAX_RECORDS records with a 413:
- a DataFrame with an `image` column: base64 PNG/JPEG text (or bytes) of face crops of any
  size or colour; with params {"detect_faces": true}, whole photos whose faces are found first
  (YuNet by default; params {"detector": "haar"} for the Haar cascade);
- an array of raw pixel values 0..255, shape (N, 48, 48) or (N, 48, 48, 1), uint8 or float.
Output: a DataFrame, one row per face: record, box (or None), det_conf (the detector's confidence
0..1, None without detection or with Haar), label, confidence, probs by name, and valence: the same
three summed into positive / neutral / negative ({label, confidence, probs}).
"""

from __future__ import annotations

import contextvars
import ctypes
import ctypes.util
import functools
import json
import threading
import warnings
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from ferops.core.errors import FerOpsError
from ferops.runtime.classifier import EmotionClassifier, describe
from ferops.runtime.faces import DEFAULT_DETECTOR, FaceDetector, create
from ferops.runtime.imaging import InputError, decode_image, pixel_batch
from ferops.runtime.pipeline import face_record, find_faces

# Records decoded and scored at a time: each image may be up to 25 Mpixel, so a whole batch decoded at once
# is unbounded. In-process (a notebook, spark_udf, a batch script) any number is read in chunks of this
# size; the scoring server refuses a request of more (413) so that one client cannot hold its memory.
MAX_RECORDS = 64
# Set while the scoring server answers a request (asyncio.to_thread carries it to predict's thread).
_SERVING = contextvars.ContextVar("ferops_serving", default=False)
COLUMNS = ["record", "box", "det_conf", "label", "confidence", "probs", "valence"]


class TooManyRecords(MlflowException, FerOpsError):
    """A request over MAX_RECORDS: the scoring server answers it with a 413 (MlflowException's codes have none)."""

    def __init__(self, n: int):
        super().__init__(
            f"{n} records in one request; the limit is {MAX_RECORDS} records a request: send more as several "
            "requests",
            error_code=INVALID_PARAMETER_VALUE,
        )

    def get_http_status_code(self):
        return 413
# Request bodies: 64 face crops, or a few photos, fit many times over. A larger body is answered 413 before
# it is held in memory whole, let alone parsed (a JSON body takes several times its size once parsed).
MAX_REQUEST_BYTES = 64 * 1024 * 1024


# Type-hint validation would reject one of the two input forms; inputs are checked in _predict.
warnings.filterwarnings("ignore", message="Add type hints to the `predict` method")


class FerModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        calibration = context.artifacts.get("calibration")
        settings = json.loads(Path(calibration).read_text()) if calibration else None
        self.classifier = EmotionClassifier.from_keras_file(context.artifacts["keras_model"], settings)
        # The scoring server runs requests on several threads: each thread gets detectors of its own
        # (a shared Haar cascade answered with other requests' faces under concurrent load).
        self._local = threading.local()
        _refuse_deep_json_as_bad_request()
        _limit_request_bodies()
        _keep_the_heap_bounded()

    def detector(self, name: str) -> FaceDetector:
        cache = self._local.__dict__.setdefault("detectors", {})
        if name not in cache:
            cache[name] = create(name, "request")
        return cache[name]

    def predict(self, context, model_input, params=None):
        params = params or {}
        try:
            detector = None
            if bool(params.get("detect_faces", False)):
                detector = self.detector(params.get("detector") or DEFAULT_DETECTOR)
            return self._predict(model_input, detector)
        except TooManyRecords:
            raise  # answered with its own status, 413
        except FerOpsError as e:  # InputError, UnknownDetector: the request's own problem
            # An MlflowException with a client-error code is what the scoring server turns into a 400.
            raise MlflowException(str(e), error_code=INVALID_PARAMETER_VALUE) from None
        finally:
            _give_back_freed_memory()

    def _predict(self, model_input, detector: FaceDetector | None) -> pd.DataFrame:
        if model_input is None or (hasattr(model_input, "__len__") and len(model_input) == 0):
            raise InputError("empty batch: no records")
        if _SERVING.get() and hasattr(model_input, "__len__") and len(model_input) > MAX_RECORDS:
            raise TooManyRecords(len(model_input))
        if isinstance(model_input, pd.DataFrame) and "image" in model_input.columns:
            images = model_input["image"].tolist()
            rows = []
            for start in range(0, len(images), MAX_RECORDS):
                rows += self._image_rows(images[start : start + MAX_RECORDS], start, detector)
        else:
            if isinstance(model_input, pd.DataFrame):
                text = [str(c) for c in model_input.columns if not pd.api.types.is_numeric_dtype(model_input[c])]
                if text:  # an image column under another name, most likely
                    raise InputError(
                        f"no 'image' column (got {', '.join(text[:5])}): send images as an 'image' column of "
                        "base64 text, or pixels as an array"
                    )
                model_input = model_input.to_numpy()
            if isinstance(model_input, dict):
                raise InputError(f"unexpected named inputs {sorted(model_input)}; send an array of pixels")
            pixels = pixel_batch(model_input, where="inputs")
            rows = []
            for start in range(0, len(pixels), MAX_RECORDS):
                probs = self.classifier.probs(pixels[start : start + MAX_RECORDS])
                rows += [_row(start + r, None, p) for r, p in enumerate(probs)]
        return pd.DataFrame(rows, columns=COLUMNS)

    def _image_rows(self, images: list, first: int, detector: FaceDetector | None) -> list[dict]:
        """Rows for records first.. of one chunk: only this chunk's images are decoded at a time."""
        records, faces, inputs = [], [], []
        for i, data in enumerate(images, start=first):
            if data is None or (isinstance(data, float) and np.isnan(data)):
                raise InputError(f"record {i}: image is missing")
            if not isinstance(data, (str, bytes)):
                raise InputError(f"record {i}: image must be base64 PNG or JPEG text, got {type(data).__name__}")
            found, pixels = find_faces(decode_image(data, where=f"record {i}"), detector)
            records += [i] * len(found)
            faces += [f if detector is not None else None for f in found]
            inputs.append(pixels)
        probs = self.classifier.probs(np.concatenate(inputs))
        return [_row(r, f, p) for r, f, p in zip(records, faces, probs)]


def _row(record: int, face, probs: np.ndarray) -> dict:
    """A face found by detection, or a record that is itself one face (no box, no detector confidence)."""
    if face is None:
        return {"record": record, "box": None, "det_conf": None, **describe(probs)}
    return {"record": record, **face_record(face, probs)}


# glibc's mallopt parameters (malloc.h)
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


@functools.cache
def _glibc():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None
    except OSError:  # not glibc (macOS, musl): nothing to tune
        return None


def _keep_the_heap_bounded() -> None:
    """A server's heap should stay at what its requests use. glibc raises its mmap threshold to the largest
    block freed so far (up to 32 MB), after which a request's decoded photos come from the heap and stay
    there, spread over as many arenas as threads have touched (8 a core). Blocks from 4 MiB always
    mmapped (returned on free) and two arenas: see serve/README.md for what each change measured. 64 KiB
    held memory lower still but made one-face requests markedly slower (TensorFlow's own buffers of a
    few hundred KB were then mapped and unmapped on every call). Applies to the whole process that loads
    the model; arenas made before are kept."""
    libc = _glibc()
    if libc is not None:
        libc.mallopt(_M_MMAP_THRESHOLD, 4 * 1024 * 1024)
        libc.mallopt(_M_ARENA_MAX, 2)


def _give_back_freed_memory() -> None:
    """malloc_trim returns the heap's free pages after each request (what its JSON and DataFrames freed)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def _refuse_deep_json_as_bad_request() -> None:
    """100,000 nested brackets make json.loads raise RecursionError, which the scoring server answers
    with a 500; its JSON decoding is wrapped here so that input becomes a 400 like any invalid JSON."""
    try:
        from mlflow.pyfunc import scoring_server
    except ImportError:  # not serving (the scoring server's dependencies are optional)
        return
    decode = scoring_server._decode_json_input
    if getattr(decode, "_ferops_wrapped", False):
        return

    def decode_json(json_input):
        try:
            return decode(json_input)
        except RecursionError:
            raise MlflowException(
                "request JSON is nested too deeply to parse", error_code=INVALID_PARAMETER_VALUE
            ) from None

    decode_json._ferops_wrapped = True
    scoring_server._decode_json_input = decode_json



def _limit_request_bodies() -> None:
    """The scoring server's /invocations reads a request's whole body and then parses it, however large. Its
    endpoint is built with the decorator wrapped here, looked up when the server's app is made (after this
    model has loaded), so the endpoint first reads the body within MAX_REQUEST_BYTES: a larger one, by
    its Content-Length or as it streams in, is answered 413 naming the limit, before it is parsed; and
    a request without a Content-Type is answered 415. It marks the request as served, so that predict
    answers more than MAX_RECORDS records with a 413 there (and only there)."""
    try:
        from mlflow.pyfunc import scoring_server
    except ImportError:  # not serving (the scoring server's dependencies are optional)
        return
    catch = scoring_server._async_catch_mlflow_exception
    if getattr(catch, "_ferops_wrapped", False):
        return

    def guarded(endpoint):
        answer = catch(endpoint)

        @functools.wraps(endpoint)
        async def read_then_answer(request):
            refusal = await _read_body_within_limit(request)
            if refusal is not None:
                return refusal
            _SERVING.set(True)  # this request's context only: in-process callers are never limited
            return await answer(request)

        return read_then_answer

    guarded._ferops_wrapped = True
    scoring_server._async_catch_mlflow_exception = guarded


async def _read_body_within_limit(request):
    """None once the body is read (cached where Starlette's request.body() finds it), else the 413 response;
    415 first for a request without a Content-Type (the scoring server answered it with a 500)."""
    if not request.headers.get("content-type", "").strip():
        return _refusal(415, "request has no Content-Type header: send Content-Type: application/json")
    declared = request.headers.get("content-length", "")
    over = f"over the {MAX_REQUEST_BYTES}-byte limit: send fewer records a request"
    if declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
        return _refusal(413, f"request body of {int(declared)} bytes is {over}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_REQUEST_BYTES:
            return _refusal(413, f"request body is {over}")
        chunks.append(chunk)
    request._body = b"".join(chunks)
    return None


def _refusal(status: int, message: str):
    from fastapi.responses import Response

    body = {"error_code": "BAD_REQUEST", "message": message}
    return Response(content=json.dumps(body), status_code=status, media_type="application/json")


mlflow.models.set_model(FerModel())

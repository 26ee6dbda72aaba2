"""The registered `fer` model, as MLflow models-from-code: no pickled Python objects.

Inputs (one model, two forms):
- a DataFrame with an `image` column: base64 PNG/JPEG text (or bytes) of face crops of any
  size or colour; with params {"detect_faces": true}, whole photos whose faces are found first;
- an array of raw pixel values 0..255, shape (N, 48, 48) or (N, 48, 48, 1), uint8 or float.
Output: a DataFrame, one row per face: record, box (or None), label, confidence, probs by name.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from ferops.runtime.classifier import EmotionClassifier, describe
from ferops.runtime.faces import HaarDetector, crop
from ferops.runtime.imaging import InputError, decode_image, face_to_input, pixel_batch


# Type-hint validation would reject one of the two input forms; inputs are checked in _predict.
warnings.filterwarnings("ignore", message="Add type hints to the `predict` method")


class FerModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        calibration = context.artifacts.get("calibration")
        settings = json.loads(Path(calibration).read_text()) if calibration else None
        self.classifier = EmotionClassifier.from_keras_file(context.artifacts["keras_model"], settings)
        self._detector = None

    @property
    def detector(self) -> HaarDetector:
        if self._detector is None:
            self._detector = HaarDetector()
        return self._detector

    def predict(self, context, model_input, params=None):
        try:
            return self._predict(model_input, bool((params or {}).get("detect_faces", False)))
        except InputError as e:
            # An MlflowException with a client-error code is what the scoring server turns into a 400.
            raise MlflowException(str(e), error_code=INVALID_PARAMETER_VALUE) from None

    def _predict(self, model_input, detect_faces: bool) -> pd.DataFrame:
        if model_input is None or (hasattr(model_input, "__len__") and len(model_input) == 0):
            raise InputError("empty batch: no records")
        if isinstance(model_input, pd.DataFrame) and "image" in model_input.columns:
            images = model_input["image"].tolist()
            records, boxes, faces = [], [], []
            for i, data in enumerate(images):
                if data is None or (isinstance(data, float) and np.isnan(data)):
                    raise InputError(f"record {i}: image is missing")
                image = decode_image(data, where=f"record {i}")
                found = self.detector.detect(image) if detect_faces else [None]
                for box in found:
                    records.append(i)
                    boxes.append(list(box) if box is not None else None)
                    faces.append(face_to_input(crop(image, box) if box is not None else image))
            probs = self.classifier.probs(np.stack(faces)) if faces else np.zeros((0, 7))
        else:
            if isinstance(model_input, pd.DataFrame):
                model_input = model_input.to_numpy()
            if isinstance(model_input, dict):
                raise InputError(f"unexpected named inputs {sorted(model_input)}; send an array of pixels")
            pixels = pixel_batch(model_input, where="inputs")
            probs = self.classifier.probs(pixels)
            records, boxes = list(range(len(pixels))), [None] * len(pixels)
        rows = [{"record": r, "box": b, **describe(p)} for r, b, p in zip(records, boxes, probs)]
        return pd.DataFrame(rows, columns=["record", "box", "label", "confidence", "probs"])


mlflow.models.set_model(FerModel())

"""The model as it runs anywhere: image -> faces -> crops -> calibrated probabilities; the registered pyfunc."""

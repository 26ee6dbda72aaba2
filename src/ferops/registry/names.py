"""The one place that names the registered model and its production pointer.

Apps, `ferops serve`, the benchmarks, the export stage and the README all use these. The alias
decides what production is; the deprecated stage `Production` is kept in step with it (see
`ferops.registry.export.promote`) so that `models:/fer/Production` still names the same version.
"""

MODEL_NAME = "fer"
ALIAS = "production"
STAGE = "Production"

PRODUCTION_URI = f"models:/{MODEL_NAME}@{ALIAS}"  # what every app loads by default
STAGE_URI = f"models:/{MODEL_NAME}/{STAGE}"  # the older form; resolves to the same version

"""What every part shares: FER-2013's facts, paths and params, atomic writes, the MLflow store, stage entry."""

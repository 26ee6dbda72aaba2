"""Trained model -> registered, promoted `fer` version -> the classifier the apps load."""

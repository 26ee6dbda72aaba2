"""Arrays -> trained model -> metrics: architectures, augmentation, the training loop, evaluation, plots."""

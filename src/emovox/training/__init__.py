"""Training: batching (`data`), standardisation (`scaler`), the training loop (`trainer`), metrics
and calibration. The scaler, metrics and calibration are what a trained model needs at
prediction time, and import without PyTorch."""

"""Deployment: export to ONNX / TorchScript (with the parity check), int8 quantisation and its
accuracy gate, cost (parameters, MACs, latency)."""

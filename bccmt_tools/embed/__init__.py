"""Audio -> embedding: reading, the speech check, fbank, batched model runs (torch or ONNX), long
recordings streamed in bounded memory."""

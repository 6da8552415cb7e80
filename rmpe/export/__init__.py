"""Deployment: ONNX export (:mod:`rmpe.export.onnx`), the ONNX metadata (:mod:`rmpe.export.metadata`),
the inference runtimes behind one interface (:mod:`rmpe.export.runtime`) and TensorRT engines
(:mod:`rmpe.export.tensorrt`). See docs/export.md.

Nothing is imported here: ``onnx``, ``onnxruntime``, ``openvino`` and ``tensorrt`` are optional
(``pip install -e ".[export]"``) and loaded by the module that needs them.
"""

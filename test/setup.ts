// Registers onnxruntime-node for every test file; one intra-op thread each, since test files run in parallel.
import '../src/runtime/ort-node.js'

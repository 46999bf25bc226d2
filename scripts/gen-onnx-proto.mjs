// Regenerates src/onnx/onnx-proto.json from proto/onnx.proto (the official ONNX schema, copied from
// Debian's python3-onnx 1.12). The JSON descriptor lets protobufjs encode models without reading
// .proto files at run time, which keeps the core usable in a browser. Run by hand: node scripts/gen-onnx-proto.mjs
import protobuf from 'protobufjs'
import { writeFileSync } from 'node:fs'
const root = protobuf.loadSync(new URL('../proto/onnx.proto', import.meta.url).pathname)
writeFileSync(new URL('../src/onnx/onnx-proto.json', import.meta.url), JSON.stringify(root.toJSON(), null, 0) + '\n')

import { describe, expect, it } from 'vitest';
import { buildModel, type ExternalInitializer } from './onnx-builder.js';
import { decodeProtobuf } from './protobuf.js';

const model = (w: ExternalInitializer) =>
  buildModel({
    name: 'x',
    nodes: [{ op: 'MatMul', inputs: ['x', 'w'], outputs: ['y'] }],
    inputs: [{ name: 'x', type: 'float32', dims: [1, 2] }],
    outputs: [{ name: 'y', type: 'float32', dims: [1, 3] }],
    initializers: [w],
  });

describe('buildModel: external initializers (ONNX external data)', () => {
  it('writes location, offset and length as external_data with data_location EXTERNAL, and no values', () => {
    const bytes = model({
      name: 'w',
      dims: [2, 3],
      external: { location: 'model.safetensors', offset: 92, length: 24 },
    });
    const graph = decodeProtobuf(decodeProtobuf(bytes).find((f) => f.field === 7)!.raw);
    const tensor = decodeProtobuf(graph.find((f) => f.field === 5)!.raw);
    const text = new TextDecoder();
    const entries = tensor
      .filter((f) => f.field === 13)
      .map((f) => decodeProtobuf(f.raw).map((g) => text.decode(g.raw)));
    expect(entries).toEqual([
      ['location', 'model.safetensors'],
      ['offset', '92'],
      ['length', '24'],
    ]);
    expect(tensor.find((f) => f.field === 14)?.varint).toBe(1n);
    expect(tensor.some((f) => f.field === 9)).toBe(false); // no raw_data
  });

  it('refuses a length that is not 4 × the values, and a negative offset, naming the initializer', () => {
    expect(() => model({ name: 'w', dims: [2, 3], external: { location: 'm', offset: 0, length: 20 } })).toThrow(
      /initializers\.w.*external data of 20 bytes for 6 float32 values/,
    );
    expect(() => model({ name: 'w', dims: [2, 3], external: { location: 'm', offset: -1, length: 24 } })).toThrow(
      /initializers\.w.*offset ≥ 0/,
    );
  });
});

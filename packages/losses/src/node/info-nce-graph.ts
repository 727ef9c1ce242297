import * as ort from 'onnxruntime-node';
import type { ComputeDevice } from '@vlfer/core';
import { ortSessionOptions, type ThreadOptions } from '@vlfer/core/node';
import { checkInfoNceInputs, infoNceModelBytes, type InfoNceInputs, type InfoNceResult } from '../info-nce.js';

/**
 * The InfoNCE loss and dLoss/dW computed by ONNX Runtime in one graph run (all four large matrix products
 * and the softmaxes run in ORT's optimised kernels, not JS loops).
 */
export class InfoNceGraph {
  private constructor(private readonly session: ort.InferenceSession) {}

  /**
   * @param options.device ORT execution provider: 'cpu' (default) or 'webgpu' (fails with ORT's adapter error when
   *   no WebGPU adapter exists; `@vlfer/encoders/node`' probeWebGpu tells beforehand)
   * @param options.intraOpNumThreads ORT threads (default: every CPU the process may use)
   */
  static async create(options: { device?: ComputeDevice } & ThreadOptions = {}): Promise<InfoNceGraph> {
    const session = await ort.InferenceSession.create(
      infoNceModelBytes(),
      ortSessionOptions(options) as ort.InferenceSession.SessionOptions,
    );
    return new InfoNceGraph(session);
  }

  async run(inputs: InfoNceInputs): Promise<InfoNceResult> {
    const { n, d, e } = checkInfoNceInputs(inputs, 'InfoNceGraph.run');
    const out = await this.session.run({
      X: new ort.Tensor('float32', inputs.features.data, [n, d]),
      W: new ort.Tensor('float32', inputs.weight.data, [e, d]),
      T: new ort.Tensor('float32', inputs.targets.data, [n, e]),
      scale: new ort.Tensor('float32', Float32Array.of(inputs.scale ?? 100), []),
    });
    return {
      loss: (out.loss!.data as Float32Array)[0]!,
      gradWeight: out.grad_weight!.data as Float32Array,
      correct: (out.correct!.data as Float32Array)[0]!,
    };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

// Embedding lookup with a padding index, a scale and a fused positional add (SASRec's
// `item_emb(seq) * sqrt(d) + pos_emb`), and its deterministic native backward.
import { record } from '../autograd.js';
import { native } from '../binding.js';
import { Tensor } from '../tensor.js';
import { expectArgs } from '../guard.js';

declare module '../binding.js' {
  interface NativeAddon {
    embedding(
      indices: NativeTensor,
      table: NativeTensor,
      positions: NativeTensor | null,
      options: EmbeddingNativeOptions,
    ): NativeTensor;
    embeddingBackward(
      indices: NativeTensor,
      gradOut: NativeTensor,
      rows: number,
      positionRows: number,
      options: EmbeddingNativeOptions,
      needTable: boolean,
      needPositions: boolean,
    ): [NativeTensor | null, NativeTensor | null];
  }
}

/**
 * The options object both native embedding calls take, read by name (its C++ twin is
 * kernels::EmbeddingOptions in native/kernels/embedding.h, which the kernel parameters carry).
 * A missing, mistyped or unknown field is an Error that names it.
 */
export interface EmbeddingNativeOptions {
  /** -1: none. */
  paddingIdx: number;
  scale: number;
}

export interface EmbeddingOptions {
  /** Rows holding this index come out as zeros (item and position alike) and get no gradient. */
  paddingIdx?: number;
  /** Multiplies the table row (not the position row), e.g. Math.sqrt(width) as in SASRec. */
  scale?: number;
  /**
   * Position table [L, width]: the index at position p of the last index axis gets row p added.
   * L must be at least that axis's extent.
   */
  positions?: Tensor;
}

/**
 * Gathers rows of `table` [V, D] (f32 or bf16) by i32 `indices` [...] into [..., D]:
 * out = table[index] * scale + positions[p], and zeros where index == paddingIdx.
 * An index outside [0, V) raises an Error naming it (at the next synchronisation on CUDA).
 * Gradients flow to `table` and `positions` when they require them; a frozen table records none.
 */
export function embedding(indices: Tensor, table: Tensor, options: EmbeddingOptions = {}): Tensor {
  expectArgs('embedding', { indices, table }, Tensor);
  expectArgs('embedding', { options }, 'options');
  const paddingIdx = options.paddingIdx ?? -1;
  const scale = options.scale ?? 1;
  const positions = options.positions ?? null;
  if (!Number.isInteger(paddingIdx) || paddingIdx < -1)
    throw new Error(`embedding: 'paddingIdx' must be a non-negative integer, got ${paddingIdx}`);
  if (!Number.isFinite(scale)) throw new Error(`embedding: 'scale' must be a finite number, got ${scale}`);
  const nativeOptions: EmbeddingNativeOptions = { paddingIdx, scale };
  const out = new Tensor(native.embedding(indices.native, table.native, positions?.native ?? null, nativeOptions));
  const rows = table.shape[0]!;
  const positionRows = positions?.shape[0] ?? 0;
  const needTable = table.requiresGrad;
  const needPositions = positions?.requiresGrad ?? false;
  record(
    'embedding',
    [table, positions],
    [out],
    ([grad], [savedIndices]) => {
      const [gradTable, gradPositions] = native.embeddingBackward(
        savedIndices!.native,
        grad!.native,
        rows,
        positionRows,
        nativeOptions,
        needTable,
        needPositions,
      );
      return [gradTable ? new Tensor(gradTable) : null, gradPositions ? new Tensor(gradPositions) : null];
    },
    [indices],
  );
  return out;
}

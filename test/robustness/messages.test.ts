// Messages of issue 12 item 15: a wrong argument is named, never an engine TypeError.
import { expect } from 'chai';

import { split, zeros } from '../../lib/index.js';

describe('robustness: messages that name the wrong argument', () => {
  it('split with a chunk size of 0 or below, or of the wrong kind, says so', () => {
    const x = zeros([4, 2]);
    try {
      expect(() => split(x, 0)).to.throw(/split: a chunk size must be a positive integer, got 0/);
      expect(() => split(x, -1)).to.throw(/split: a chunk size must be a positive integer, got -1/);
      expect(() => split(x, 'x' as unknown as number)).to.throw(/split: 'sizes' must be a chunk size or an array/);
      expect(() => split(undefined as unknown as typeof x, 2)).to.throw(/split: 'x' must be a Tensor, got undefined/);
    } finally {
      x.dispose();
    }
  });

  it('Tensor binary methods and expand name an operand of the wrong kind', () => {
    const t = zeros([2]);
    try {
      expect(() => t.add([1, 2] as never)).to.throw(/add: 'other' must be a Tensor or a number, got an array/);
      expect(() => t.mul(undefined as never)).to.throw(/mul: 'other' must be a Tensor or a number, got undefined/);
      expect(() => t.maximum(3 as never)).to.throw(/maximum: 'other' must be a Tensor, got number 3/);
      expect(() => t.expand(5 as never)).to.throw(/expand: 'shape' must be an array of sizes, got number 5/);
    } finally {
      t.dispose();
    }
  });
});

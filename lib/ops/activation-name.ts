// The one spelling of activation names, and the mapping from the others users pass (Hugging
// Face's hidden_act names, llmrec's earlier camelCase). No imports: config parsers use it too.

/**
 * The activation names, one spelling across llmrec: nn layers (activate, Linear, MLP,
 * TransformerBlock), the GEMM epilogue (gemm/linear's `Activation`, a subset) and MLP
 * distillation (`DistillActivation`, a subset).
 */
export const ACTIVATION_NAMES = ['relu', 'gelu', 'gelu_tanh', 'silu', 'leaky_relu', 'sigmoid', 'tanh', 'none'] as const;
export type ActivationName = (typeof ACTIVATION_NAMES)[number];

/**
 * Other spellings accepted where a name comes from outside (configs, Hugging Face's hidden_act):
 * transformers' ACT2FN names and llmrec's earlier camelCase ones.
 */
export const ACTIVATION_ALIASES: Readonly<Record<string, ActivationName>> = Object.freeze({
  gelu_pytorch_tanh: 'gelu_tanh',
  gelu_new: 'gelu_tanh',
  geluTanh: 'gelu_tanh',
  leakyRelu: 'leaky_relu',
  swish: 'silu',
  linear: 'none',
  identity: 'none',
});

/** `value` as an ActivationName (aliases mapped), or an Error naming `where` and the names allowed. */
export function activationName(value: unknown, where: string): ActivationName {
  if (typeof value === 'string') {
    if ((ACTIVATION_NAMES as readonly string[]).includes(value)) return value as ActivationName;
    const alias = Object.hasOwn(ACTIVATION_ALIASES, value) ? ACTIVATION_ALIASES[value] : undefined;
    if (alias) return alias;
  }
  const shown = typeof value === 'string' ? `'${value}'` : String(value);
  throw new Error(
    `${where} must be one of ${ACTIVATION_NAMES.join(', ')} (or ${Object.keys(ACTIVATION_ALIASES).join(', ')}), got ${shown}`,
  );
}

// `llmrec a-llmrec describe --user ID`: the paper's use beyond recommendation. The frozen LM is
// given the user's soft token (F_U of the SASRec user representation), optionally with the last
// items of the history as `"title"[HistoryEmb]`, and asked to put the user's taste into words:
//
//   [user] is a user representation. (This user has bought "t1"[HistoryEmb],... in the previous.)
//   In a few words, this user's taste is
//
// Greedy decoding with the run's repetition penalty; the answer is the text generated.
import { noGrad } from '../../autograd.js';
import { generate } from '../../llm/generate.js';
import { leftPad } from '../../models/recommender-model.js';
import { embedding } from '../../ops/embedding.js';
import { concat } from '../../ops/layout.js';
import { tidy } from '../../scope.js';
import { tensor } from '../../tensor.js';
import { ConfigError } from '../config.js';
import { definePipelineCommand, type CommandContext } from '../registry.js';
import { readRunManifest } from '../run-folder.js';
import type { ALLMRecConfig } from './config.js';
import { loadStageTwo, type StageTwoModels } from './generate.js';
import { promptText } from './prompt.js';
import { cfHistory, shownHistory } from './soft-prompt.js';

export const describeText = {
  history: ' ' + promptText.history,
  previous: ' in the previous.',
  ask: " In a few words, this user's taste is",
} as const;

export interface DescribeOptions {
  /** History items shown after the user token (0: the user token alone). */
  historyItems: number;
  maxNewTokens: number;
  repetitionPenalty: number;
}

export interface UserDescription {
  /** The prompt as text, soft tokens shown as [UserRep] and [HistoryEmb]. */
  prompt: string;
  /** What the LM wrote. */
  text: string;
}

/** The LM's words for the taste of the user whose history (item ids, oldest first) is given. */
export function describeUser(
  models: StageTwoModels,
  history: ArrayLike<number>,
  options: DescribeOptions,
): UserDescription {
  if (history.length === 0) throw new Error('describeUser: the history is empty; there is no user to describe');
  const { cf, lm, context, projectors } = models;
  const encode = (text: string) => context.encoder.encode(text);
  const shown = options.historyItems > 0 ? shownHistory(history, options.historyItems) : [];
  const ids = [context.placeholder, ...encode(promptText.user)];
  const slots: number[] = [];
  let prompt = `[UserRep]${promptText.user}`;
  if (shown.length > 0) {
    ids.push(...encode(describeText.history));
    prompt += describeText.history;
    shown.forEach((item, i) => {
      const quoted = `${i > 0 ? ',' : ''}"${context.titles[item]!}"`;
      ids.push(...encode(quoted));
      slots.push(ids.length);
      ids.push(context.placeholder);
      prompt += `${quoted}[HistoryEmb]`;
    });
    ids.push(...encode(describeText.previous));
    prompt += describeText.previous;
  }
  ids.push(...encode(describeText.ask));
  prompt += describeText.ask;
  const text = noGrad(() =>
    tidy(() => {
      const input = new Int32Array(cf.config.maxlen);
      leftPad(cfHistory(history, context.cfItems), cf.config.maxlen, input, 0);
      const user = projectors.user.forward(cf.userRepresentation(input, 1));
      const values =
        shown.length > 0
          ? concat(
              [
                user,
                projectors.item.forward(
                  embedding(tensor(Int32Array.from(shown), { dtype: 'i32', device: cf.device }), models.latents),
                ),
              ],
              0,
            )
          : user;
      return generate(lm.model, [ids], {
        maxNewTokens: options.maxNewTokens,
        repetitionPenalty: options.repetitionPenalty,
        eosTokenIds: [lm.eos],
        padTokenId: lm.eos,
        softEmbeddings: { batch: new Int32Array(1 + slots.length), position: Int32Array.from([0, ...slots]), values },
        decoder: { decode: (tokens) => lm.tokenizer.decode(tokens, { skipSpecialTokens: true }) },
      }).texts![0]!;
    }),
  );
  return { prompt, text };
}

export const describeCommand = definePipelineCommand({
  name: 'describe',
  summary: "the LM, given a user's soft token, describes the user's taste in words (--user ID)",
  options: {
    user: { type: 'string', default: '', help: 'the user id (as in the dataset) to describe' },
    describeHistory: {
      type: 'int',
      default: 0,
      min: 0,
      help: 'history items shown after the user token (0: the soft token alone, as the paper)',
    },
  },
  async run(ctx: CommandContext<ALLMRecConfig>, options) {
    if (!options.user) throw new ConfigError('describe needs --user ID, a user id of the dataset');
    const manifest = readRunManifest(ctx.dir);
    for (const stage of ['cf', 'align', 'generate'])
      if (manifest?.stages[stage]?.status !== 'done')
        throw new ConfigError(
          `${ctx.dir}: its ${stage} stage is ${manifest?.stages[stage]?.status ?? 'not run'}; describe needs a trained A-LLMRec: run \`llmrec a-llmrec all --out ${ctx.dir}\``,
        );
    const { dataset } = await ctx.dataset();
    const user = dataset.userKeys.indexOf(options.user);
    if (user < 1)
      throw new ConfigError(
        `--user ${options.user}: no such user in ${dataset.name} (user ids look like ${dataset.userKeys
          .slice(1, 4)
          .map((k) => `'${k}'`)
          .join(', ')})`,
      );
    const config = manifest!.stages.generate!.config as unknown as ALLMRecConfig;
    const stageDir = (stage: string) => `${ctx.dir}/${stage}`;
    const models = await loadStageTwo(config, stageDir, ctx.device, stageDir('generate'));
    try {
      // The run's item ids are the cf stage's; this dataset's ids map to them by item key.
      const ids = new Map(models.catalogue.itemKeys.map((key, id) => [key, id]));
      const history = Array.from(dataset.sequence(user), (item) => ids.get(dataset.itemKeys[item]!) ?? 0).filter(
        (id) => id > 0,
      );
      if (history.length === 0)
        throw new ConfigError(`--user ${options.user}: none of the user's items is in the run's catalogue`);
      const described = describeUser(models, history, {
        historyItems: options.describeHistory,
        maxNewTokens: ctx.config.maxNewTokens,
        repetitionPenalty: ctx.config.repetitionPenalty,
      });
      const titles = history.slice(-5).map((id) => `"${models.context.titles[id]!}"`);
      console.log(`user ${options.user}: ${history.length} items, the last ${titles.join(', ')}`);
      console.log(`prompt: ${described.prompt}`);
      console.log(`answer: ${described.text}`);
    } finally {
      models.dispose();
    }
  },
});

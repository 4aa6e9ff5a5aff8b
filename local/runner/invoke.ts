/**
 * Invokes one registered function through the library's own programming model, in the order the
 * real worker uses: getArguments → preInvocation hooks → invokeFunction → postInvocation hooks →
 * getResponse. This gives handlers real HttpRequest / InvocationContext objects.
 */
import { randomUUID } from 'node:crypto';
import {
  registry,
  runHooks,
  type InvocationRequest,
  type RegisteredFunction,
  type RpcTypedData,
} from './functionsCore';

export interface InvocationResult {
  returnValue?: RpcTypedData | null;
}

export async function invoke(
  fn: RegisteredFunction,
  request: InvocationRequest,
  invocationId: string = randomUUID(),
): Promise<InvocationResult> {
  const model = registry.programmingModel;
  if (!model) throw new Error('No programming model registered');
  const coreCtx = {
    invocationId,
    request,
    metadata: fn.metadata,
    state: undefined as string | undefined,
    log: (level: string, category: string, message: string) =>
      registry.logSink(level, category === 'user' ? fn.metadata.name : category, message),
  };
  const invocationModel = model.getInvocationModel(coreCtx);
  const { context, inputs } = await invocationModel.getArguments();

  const hookData: Record<string, unknown> = {};
  const pre = { invocationContext: context, inputs, functionCallback: fn.callback, hookData };
  coreCtx.state = 'preInvocationHooks';
  await runHooks('preInvocation', pre);
  coreCtx.state = 'invocation';

  let result: unknown;
  let error: unknown;
  try {
    result = await invocationModel.invokeFunction(context, pre.inputs, pre.functionCallback);
  } catch (err) {
    error = err;
  }
  const post = { invocationContext: context, inputs: pre.inputs, result, error, hookData };
  coreCtx.state = 'postInvocationHooks';
  await runHooks('postInvocation', post);
  if (post.error) throw post.error;
  return invocationModel.getResponse(context, post.result);
}

/** The trigger binding of a function (its name carries a hash suffix chosen by the library). */
export function triggerOf(fn: RegisteredFunction): { name: string; type: string; [key: string]: unknown } {
  for (const [name, binding] of Object.entries(fn.metadata.bindings)) {
    if (binding.direction === 'in' && typeof binding.type === 'string' && binding.type.endsWith('Trigger')) {
      return { ...binding, name, type: binding.type };
    }
  }
  throw new Error(`Function ${fn.metadata.name} has no trigger binding`);
}

/**
 * docs/openapi.json cannot drift from the implementation: it must equal the document built from
 * the request zod schemas (lib/openapi.ts), list exactly the HTTP functions the compiled app
 * registers (route, method, auth level — read from the real registrations, loaded the way the
 * local runner loads them), be valid OpenAPI 3.1, and carry examples the request schemas accept.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import SwaggerParser from '@apidevtools/swagger-parser';
import { z } from 'zod';
import { eventsBody } from '../../lib/domain/validation';
import { OPENAPI_FILE, OPERATIONS, buildOpenApi, jsonSchema } from '../../lib/openapi';

const root = path.resolve(__dirname, '..', '..', '..');
const committed = JSON.parse(fs.readFileSync(path.join(root, OPENAPI_FILE), 'utf8')) as {
  paths: Record<string, Record<string, Record<string, unknown>>>;
};

interface Registered {
  name: string;
  methods: string[];
  route: string;
  authLevel: string;
}

/** The app's HTTP triggers as registered through @azure/functions, in a fresh process (one app per process). */
function registeredHttpFunctions(): Registered[] {
  const script = `
    const path = require('node:path');
    const dist = path.join(process.argv[1], 'dist', 'local', 'runner');
    const { installFunctionsCore, resolveEntryFiles } = require(path.join(dist, 'loader'));
    const { registry } = require(path.join(dist, 'functionsCore'));
    const { triggerOf } = require(path.join(dist, 'invoke'));
    installFunctionsCore();
    for (const file of resolveEntryFiles(process.argv[1])) require(file);
    const http = registry.functions
      .map((fn) => ({ name: fn.metadata.name, trigger: triggerOf(fn) }))
      .filter((f) => f.trigger.type === 'httpTrigger')
      .map((f) => ({ name: f.name, methods: f.trigger.methods, route: f.trigger.route, authLevel: f.trigger.authLevel }));
    process.stdout.write(JSON.stringify(http));
    process.exit(0);
  `;
  const out = execFileSync(process.execPath, ['-e', script, root], {
    env: {
      ...process.env,
      // Placeholders: loading registers functions without connecting to anything.
      CosmosDBConnection: 'AccountEndpoint=http://127.0.0.1:9/;AccountKey=a2V5;',
      WebPubSubConnectionString: 'Endpoint=http://127.0.0.1:9;AccessKey=a2V5;Version=1.0;',
      MEETSTREAM_TOKEN_SECRET: 'x'.repeat(40),
    },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return JSON.parse(out) as Registered[];
}

describe('the OpenAPI document', () => {
  test('is what lib/openapi.ts builds from the zod schemas (regenerate: npm run openapi)', () => {
    expect(committed).toEqual(buildOpenApi());
  });

  test('documents exactly the registered HTTP functions, with their methods and auth levels', () => {
    const registered = registeredHttpFunctions();
    const actual = registered
      .flatMap((f) => f.methods.map((m) => `${m.toUpperCase()} /${f.route} ${f.name} ${f.authLevel}`))
      .sort();
    const documented = Object.entries(committed.paths)
      .flatMap(([p, ops]) =>
        Object.entries(ops).map(
          ([m, op]) => `${m.toUpperCase()} ${p} ${String(op['x-function'])} ${String(op['x-auth-level'])}`,
        ),
      )
      .sort();
    expect(documented).toEqual(actual);
  });

  test('is valid OpenAPI 3.1', async () => {
    await expect(SwaggerParser.validate(structuredClone(committed) as never)).resolves.toBeDefined();
  });

  test("the events body, with its shared event schema inlined, is exactly the zod schema's", async () => {
    const doc = (await SwaggerParser.dereference(
      structuredClone(committed) as never,
    )) as unknown as typeof committed;
    const body = doc.paths['/meetings/{meetingId}/events']!.post!.requestBody as {
      content: Record<string, { schema: unknown }>;
    };
    expect(body.content['application/json']!.schema).toEqual(jsonSchema(eventsBody));
  });

  test('every request and response example is accepted by its schema', () => {
    for (const op of OPERATIONS) {
      if (op.request)
        expect({ op: op.operationId, ok: op.request.schema.safeParse(op.request.example).success }).toEqual({
          op: op.operationId,
          ok: true,
        });
      for (const [status, r] of Object.entries(op.responses)) {
        if (r.schema && r.example !== undefined) {
          const result = (r.schema as z.ZodType).safeParse(r.example);
          expect({ op: op.operationId, status, issues: result.error?.issues ?? [] }).toEqual({
            op: op.operationId,
            status,
            issues: [],
          });
        }
      }
    }
  });
});

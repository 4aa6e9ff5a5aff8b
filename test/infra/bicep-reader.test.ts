import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  BicepProject,
  BicepSyntaxError,
  get,
  identifiersIn,
  keysOf,
  mutated,
  parseBicep,
  textOf,
} from './bicep';
import { ROOT } from './code';

describe('the Bicep reader', () => {
  test('reads params with decorators and defaults, vars, resources, modules and outputs', () => {
    const f = parseBicep(`
targetScope = 'subscription'
extension microsoftGraphV1
// a comment
@secure()
@metadata({ azd: { type: 'generate', config: { length: 48 } } })
param secret string
@allowed(['a', 'b'])
param mode string = 'a' // trailing comment
var flag = mode == 'a'
var obj = {
  'quoted-key': 'x'
  plain: 'it\\'s'
  interp: 'https://\${host}/path'
  nested: { a: [1, 2] }
  multi: flag
    ? { x: 1 }
    : {}
}
resource st 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: 'st1'
}
resource c 'Microsoft.X/y@2024-01-01' = if (flag) {
  name: 'c'
  properties: {
    list: [
      { path: '/a/?' }
      { path: '/*' }
    ]
    call: union(obj, {
      b: 2
    })
  }
}
module m './app/m.bicep' = {
  name: 'm'
  params: { p: obj.plain }
}
output url string = 'https://\${m.outputs.host}'
`);
    expect(f.targetScope).toBe('subscription');
    expect(f.extensions).toEqual(['microsoftGraphV1']);
    expect(f.params.get('secret')?.decorators).toHaveLength(2);
    expect(f.params.get('mode')?.default).toEqual({ kind: 'string', value: 'a', interpolated: false });
    const obj = f.vars.get('obj');
    expect(keysOf(obj)).toEqual(['quoted-key', 'plain', 'interp', 'nested', 'multi']);
    expect(get(obj, 'plain')).toEqual({ kind: 'string', value: "it's", interpolated: false });
    expect(get(obj, 'interp')).toMatchObject({ kind: 'string', interpolated: true });
    expect(textOf(get(obj, 'multi'))).toBe('flag\n    ? { x: 1 }\n    : {}');
    expect(get(obj, 'nested.a')).toEqual({
      kind: 'array',
      items: [
        { kind: 'expr', text: '1' },
        { kind: 'expr', text: '2' },
      ],
    });
    expect(f.resources.map((r) => [r.symbol, r.type, r.apiVersion, r.existing, r.condition])).toEqual([
      ['st', 'Microsoft.Storage/storageAccounts', '2023-05-01', true, undefined],
      ['c', 'Microsoft.X/y', '2024-01-01', false, 'flag'],
    ]);
    expect(textOf(get(f.resources[1]?.body, 'properties.call'))).toBe('union(obj, {\n      b: 2\n    })');
    expect(f.modules[0]?.path).toBe('./app/m.bicep');
    expect(identifiersIn(f.outputs[0]?.value)).toEqual(['m']);
  });

  test('fails with the line on what it does not understand, instead of skipping it', () => {
    expect(() => parseBicep("param a string\nfunc f() string => 'x'\n", 'x.bicep')).toThrow(
      new BicepSyntaxError('x.bicep:2: unsupported statement "func"'),
    );
    expect(() => parseBicep("resource r 'T@1' = {\n  name: 'r'\n  resource child 'c@1' = {}\n}")).toThrow(
      /nested resources/,
    );
    expect(() => parseBicep("var s = 'open")).toThrow(/unterminated string/);
  });

  test('reads every file in infra/, and the modules wire up: paths exist, params are declared and required ones passed', () => {
    const p = BicepProject.load();
    expect(p.main.targetScope).toBe('subscription');
    const problems: string[] = [];
    for (const [from, f] of p.files)
      for (const mod of f.modules) {
        const target = p.files.get(p.modulePath(from, mod));
        if (!target) {
          problems.push(`${from}: module ${mod.path} does not exist`);
          continue;
        }
        const passed = keysOf(get(mod.body, 'params'));
        for (const name of passed)
          if (!target.params.has(name)) problems.push(`${mod.path}: no param ${name}`);
        for (const param of target.params.values())
          if (!param.default && !passed.includes(param.name))
            problems.push(`${mod.path}: ${param.name} not passed`);
      }
    for (const [from, f] of p.files) {
      const text = p.texts.get(from) ?? '';
      for (const m of text.matchAll(/\b(\w+)\.outputs\.(\w+)/g)) {
        const mod = f.modules.find((x) => x.symbol === m[1]);
        if (!mod) continue;
        const target = p.files.get(p.modulePath(from, mod));
        // Every `<module>.outputs.<name>` used must be an output of that module.
        if (!target?.outputs.some((o) => o.name === m[2]))
          problems.push(`${from}: ${m[1]} has no output ${m[2]}`);
      }
    }
    // Every param of main.bicep gets a value: from main.parameters.json, its default, or azd
    // itself (generate / location metadata).
    const parameters = JSON.parse(fs.readFileSync(path.join(ROOT, 'infra/main.parameters.json'), 'utf8')) as {
      parameters: Record<string, unknown>;
    };
    for (const param of p.main.params.values()) {
      const azdFills = param.decorators.some((d) => /azd:\s*\{\s*type:\s*'(generate|location)'/.test(d));
      if (!param.default && !azdFills && !(param.name in parameters.parameters))
        problems.push(`main.bicep param ${param.name} gets no value`);
    }
    for (const name of Object.keys(parameters.parameters))
      if (!p.main.params.has(name))
        problems.push(`main.parameters.json sets ${name}, which main.bicep does not declare`);
    expect(problems).toEqual([]);
  });

  test('a mutation must match exactly once, so a test can never mutate nothing', () => {
    const p = BicepProject.load();
    expect(() => mutated(p, 'app/db.bicep', 'no such text', '')).toThrow(/found 0/);
    expect(() => mutated(p, 'app/db.bicep', "kind: 'Hash'", '')).toThrow(/found 3/);
  });

  test('azure.yaml deploys the packaged app (.deploy, local build) to a function host', () => {
    const yaml = fs.readFileSync(path.join(ROOT, 'azure.yaml'), 'utf8');
    expect(yaml).toMatch(/^\s+host: function$/m);
    expect(yaml).toMatch(/^\s+dist: \.deploy$/m);
    expect(yaml).toMatch(/^\s+remoteBuild: false$/m);
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.package).toBeDefined();
  });
});

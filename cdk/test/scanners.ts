// The scanners a customer's pipeline runs, over synthesized templates: cfn-lint and checkov
// from the project's venv (`make tools`; CFN_LINT= and CHECKOV= override), cdk-nag in-process.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import assert from 'node:assert/strict';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';

const VENV_BIN = resolve(__dirname, '../../../.venv/bin');

function tool(variable: string, name: string): string {
  const executable = process.env[variable] ?? join(VENV_BIN, name);
  assert.ok(existsSync(executable), `${executable} is missing: run 'make tools' (or set ${variable})`);
  return executable;
}

/** Runs `command` over the templates, written to a temp dir (also its working directory). */
function overTemplates(templates: [string, unknown][], run: (files: string[], dir: string) => { status: number | null; output: string }) {
  const dir = mkdtempSync(join(tmpdir(), 'vendor-access-cdk-'));
  try {
    const files = templates.map(([name, template]) => {
      const file = join(dir, `${name}.template.json`);
      writeFileSync(file, JSON.stringify(template, null, 2));
      return file;
    });
    return run(files, dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * cfn-lint with the informational checks. I1022 (Fn::Join with an empty delimiter) is left
 * out for CDK's output: CDK writes every ARN it builds that way, nothing an app can change.
 */
export function cfnLint(templates: [string, unknown][], ignore: string[] = ['I1022']): { status: number | null; output: string } {
  const executable = tool('CFN_LINT', 'cfn-lint');
  return overTemplates(templates, (files) => {
    const args = ['--include-checks', 'I', ...(ignore.length ? ['--ignore-checks', ...ignore] : []), '--', ...files];
    const run = spawnSync(executable, args, { encoding: 'utf8' });
    assert.equal(run.error, undefined, `could not run ${executable}: ${run.error}`);
    return { status: run.status, output: run.stdout + run.stderr };
  });
}

export interface CheckovResult {
  status: number | null;
  failed: string[];
  skipped: string[];
  passed: number;
}

/** A default `checkov -f` of each template (no config of ours), as `CHECK_ID resource` lines. */
export function checkov(templates: [string, unknown][]): CheckovResult {
  const executable = tool('CHECKOV', 'checkov');
  const result = overTemplates(templates, (files, dir) => {
    const args = [...files.flatMap((f) => ['-f', f]), '--skip-download', '--output', 'json'];
    const run = spawnSync(executable, args, { encoding: 'utf8', cwd: dir, maxBuffer: 64 * 1024 * 1024 });
    assert.equal(run.error, undefined, `could not run ${executable}: ${run.error}`);
    return { status: run.status, output: run.stdout };
  });
  const parsed = JSON.parse(result.output);
  const reports = (Array.isArray(parsed) ? parsed : [parsed]).filter((r) => r.check_type);
  const lines = (kind: string) =>
    reports.flatMap((r) => r.results[`${kind}_checks`].map((c: any) => `${c.check_id} ${c.resource}`)).sort();
  return { status: result.status, failed: lines('failed'), skipped: lines('skipped'), passed: lines('passed').length };
}

export interface NagFinding {
  rule: string;
  path: string;
  severity: string;
}

/**
 * cdk-nag's AwsSolutions and Serverless packs over the app: the findings left, and those
 * acknowledged with a reason.
 */
export function cdkNag(app: App): { violations: NagFinding[]; acknowledged: NagFinding[] } {
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
  const outdir = app.outdir;
  try {
    app.synth();
  } catch (e) {
    if (!/Validation failed/.test(String(e))) {
      throw e;
    }
  }
  const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8'));
  const findings = (kind: string) =>
    report.pluginReports
      .filter((p: any) => p.pluginName === 'AwsSolutions' || p.pluginName === 'Serverless')
      .flatMap((p: any) =>
        (p[kind] ?? []).flatMap((v: any) =>
          v.violatingConstructs.map((c: any) => ({ rule: v.ruleName, path: c.constructPath, severity: v.severity })),
        ),
      );
  return { violations: findings('violations'), acknowledged: findings('suppressedViolations') };
}

/** A fresh app whose synth output goes to a temp dir. */
export function scratchApp(): App {
  return new App({ outdir: mkdtempSync(join(tmpdir(), 'vendor-access-cdk-out-')) });
}

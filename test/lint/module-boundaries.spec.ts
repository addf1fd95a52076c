// The dependency rules of the architecture page are enforced by lint, and the enforcement really bites:
// each forbidden import below must be reported, and the allowed ones must not be.
import path from 'node:path';
import { createProjectGraphAsync } from '@nx/devkit';
import { ESLint } from 'eslint';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
let eslint: ESLint;

beforeAll(async () => {
  // The rule reads Nx's cached project graph; compute it so a fresh clone is checked too.
  await createProjectGraphAsync({ exitOnError: false });
  eslint = new ESLint({ cwd: ROOT });
}, 120_000);

async function problems(file: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(source, { filePath: path.join(ROOT, file) });
  return (result?.messages ?? []).map((message) => `${message.ruleId}: ${message.message}`);
}

const boundary = (list: string[]) => list.filter((p) => p.startsWith('@nx/enforce-module-boundaries'));

describe('module boundaries', () => {
  it.each([
    [
      'libs/contracts/src/probe.ts',
      "import { NestFactory } from '@nestjs/core';\nexport const x = NestFactory;\n",
    ],
    ['libs/contracts/src/probe.ts', "import pg from 'pg';\nexport const x = pg;\n"],
    [
      'libs/contracts/src/probe.ts',
      "import { createClinic } from '@medfleet/simulator';\nexport const x = createClinic;\n",
    ],
    ['libs/simulator/src/probe.ts', "import { DataSource } from 'typeorm';\nexport const x = DataSource;\n"],
    ['libs/simulator/src/probe.ts', "import pg from 'pg';\nexport const x = pg;\n"],
    ['apps/edge-agent/src/probe.ts', "import { DataSource } from 'typeorm';\nexport const x = DataSource;\n"],
    ['apps/edge-agent/src/probe.ts', "import { Module } from '@nestjs/common';\nexport const x = Module;\n"],
    [
      'apps/edge-agent/src/probe.ts',
      "import { loadConfig } from '../../control-plane/src/config/app-config.js';\nexport const x = loadConfig;\n",
    ],
  ])('%s may not do: %s', async (file, source) => {
    expect(boundary(await problems(file, source))).not.toEqual([]);
  });

  it.each([
    [
      'apps/edge-agent/src/probe.ts',
      "import { uplinkTopic } from '@medfleet/contracts';\nexport const x = uplinkTopic;\n",
    ],
    [
      'apps/control-plane/src/probe.ts',
      "import { DataSource } from 'typeorm';\nexport const x = DataSource;\n",
    ],
    [
      'libs/simulator/src/probe.ts',
      "import { DEVICE_CATEGORIES } from '@medfleet/contracts';\nexport const x = DEVICE_CATEGORIES;\n",
    ],
  ])('%s may do: %s', async (file, source) => {
    expect(boundary(await problems(file, source))).toEqual([]);
  });
});

describe('committed focus', () => {
  it('a .only in a test is an error', async () => {
    const found = await problems(
      'libs/contracts/src/probe.spec.ts',
      "import { it } from 'vitest';\nit.only('x', () => undefined);\n",
    );
    expect(found.some((p) => p.startsWith('no-restricted-syntax'))).toBe(true);
  });
});

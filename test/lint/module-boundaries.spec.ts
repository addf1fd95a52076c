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
    ['libs/scheduling/src/probe.ts', "import pg from 'pg';\nexport const x = pg;\n"],
    ['libs/scheduling/src/probe.ts', "import { DataSource } from 'typeorm';\nexport const x = DataSource;\n"],
    [
      'libs/scheduling/src/probe.ts',
      "import { Injectable } from '@nestjs/common';\nexport const x = Injectable;\n",
    ],
    ['libs/scheduling/src/probe.ts', "import mqtt from 'mqtt';\nexport const x = mqtt;\n"],
    [
      'libs/scheduling/src/probe.ts',
      "import { createClinic } from '@medfleet/simulator';\nexport const x = createClinic;\n",
    ],
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
    [
      'apps/control-plane/src/probe.ts',
      "import { maintenanceWindows } from '@medfleet/scheduling';\nexport const x = maintenanceWindows;\n",
    ],
    [
      'apps/edge-agent/src/probe.ts',
      "import { windowAt } from '@medfleet/scheduling';\nexport const x = windowAt;\n",
    ],
  ])('%s may do: %s', async (file, source) => {
    expect(boundary(await problems(file, source))).toEqual([]);
  });

  // Nx's rule does not see Node built-ins; the pure libraries' ban on I/O modules is a separate rule.
  it.each(['node:net', 'net', 'node:dgram', 'node:fs', 'node:http', 'node:child_process'])(
    'a pure library may not import %s',
    async (module) => {
      const found = await problems(
        'libs/scheduling/src/probe.ts',
        `import * as io from '${module}';\nexport const x = io;\n`,
      );
      expect(found.filter((p) => p.startsWith('no-restricted-imports'))).not.toEqual([]);
    },
  );

  it('a pure library may compute with Intl and import its own files', async () => {
    const found = await problems(
      'libs/scheduling/src/probe.ts',
      "import { zoneClock } from './zone-clock.js';\nexport const x = zoneClock;\n",
    );
    expect(found).toEqual([]);
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

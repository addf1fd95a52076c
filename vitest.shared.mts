// Shared vitest settings: NestJS code runs through SWC so decorator metadata (and so DI) works.
import path from 'node:path';
import swc from 'unplugin-swc';
import { defineConfig, type UserConfig } from 'vitest/config';

const root = path.dirname(new URL(import.meta.url).pathname);

export const workspaceAliases = {
  '@medfleet/contracts': path.join(root, 'libs/contracts/src/index.ts'),
  '@medfleet/simulator': path.join(root, 'libs/simulator/src/index.ts'),
  '@medfleet/scheduling': path.join(root, 'libs/scheduling/src/index.ts'),
};

export function projectConfig(projectRoot: string, overrides: UserConfig['test'] = {}): UserConfig {
  return defineConfig({
    root: projectRoot,
    resolve: { alias: workspaceAliases },
    plugins: [
      swc.vite({
        jsc: {
          parser: { syntax: 'typescript', decorators: true },
          transform: { legacyDecorator: true, decoratorMetadata: true },
          target: 'es2022',
        },
        module: { type: 'es6' },
      }),
    ],
    test: {
      environment: 'node',
      include: ['src/**/*.spec.ts'],
      passWithNoTests: false,
      ...overrides,
    },
  });
}

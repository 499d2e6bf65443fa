import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const json = (file: string) => JSON.parse(readFileSync(join(root, file), 'utf8'));
const dirs = (parent: string) => readdirSync(join(root, parent), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();

interface NestProject {
  type: 'application' | 'library';
  root: string;
  entryFile: string;
  sourceRoot: string;
}

/** nest-cli.json, tsconfig's path aliases and the tree must agree, so none of them rots unseen. */
describe('workspace manifest', () => {
  const nest = json('nest-cli.json') as { monorepo: boolean; projects: Record<string, NestProject> };
  const projects = Object.entries(nest.projects);

  it('nest-cli.json names every app and lib directory, and nothing else', () => {
    expect(nest.monorepo).toBe(true);
    const apps = projects.filter(([, p]) => p.type === 'application').map(([name]) => name).sort();
    const libs = projects.filter(([, p]) => p.type === 'library').map(([name]) => name).sort();
    expect(apps).toEqual(dirs('apps'));
    expect(libs).toEqual(dirs('libs'));
  });

  it("every project's entry file exists where nest-cli.json says", () => {
    for (const [name, project] of projects) {
      const folder = project.type === 'application' ? 'apps' : 'libs';
      expect(project.root, name).toBe(`${folder}/${name}`);
      expect(existsSync(join(root, project.sourceRoot, `${project.entryFile}.ts`)), `${name}: ${project.sourceRoot}/${project.entryFile}.ts`).toBe(true);
    }
  });

  it('every lib has its @ferry/<name> alias in tsconfig.json, pointing at its index', () => {
    const paths = (json('tsconfig.json') as { compilerOptions: { paths: Record<string, string[]> } }).compilerOptions.paths;
    const expected = Object.fromEntries(dirs('libs').map((name) => [`@ferry/${name}`, [`./libs/${name}/src/index.ts`]]));
    expect(paths).toEqual(expected);
  });
});

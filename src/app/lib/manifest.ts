// The list of models the playground offers (public/models/manifest.json). Adding a model is one entry there.
export interface ManifestModel {
  id: string;
  name: string;
  /** File name under models/. */
  file: string;
  /** Expected size, used for progress when the server sends no Content-Length (0 when unknown). */
  bytes: number;
  arch: 'ttt' | 'kv';
  description: string;
}

export class ManifestError extends Error {
  override readonly name = 'ManifestError';
}

export function parseManifest(json: unknown): ManifestModel[] {
  const models = (json as { models?: unknown } | null)?.models;
  if (!Array.isArray(models)) throw new ManifestError('models/manifest.json: "models" must be an array');
  return models.map((m, i) => {
    const e = m as Partial<ManifestModel>;
    const where = `models/manifest.json: models[${i}]`;
    for (const k of ['id', 'name', 'file', 'description'] as const) {
      if (typeof e[k] !== 'string' || e[k] === '') throw new ManifestError(`${where}.${k} must be a non-empty string`);
    }
    if (e.arch !== 'ttt' && e.arch !== 'kv') throw new ManifestError(`${where}.arch must be "ttt" or "kv"`);
    if (!Number.isInteger(e.bytes) || (e.bytes as number) < 0) throw new ManifestError(`${where}.bytes must be a non-negative integer`);
    return e as ManifestModel;
  });
}

export function modelUrl(m: ManifestModel): string {
  return `${import.meta.env.BASE_URL}models/${m.file}`;
}

export async function fetchManifest(): Promise<ManifestModel[]> {
  const res = await fetch(`${import.meta.env.BASE_URL}models/manifest.json`);
  if (!res.ok) throw new ManifestError(`Could not load models/manifest.json (HTTP ${res.status})`);
  return parseManifest(await res.json());
}

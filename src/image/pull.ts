// PullImage end to end: reference → registries.conf sources → trust policy →
// manifest (index → platform) → config → layers streamed into the addon in
// parallel → image record. Concurrent pulls of one image, or of one layer,
// do the work once.
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { SkiffConfig } from '../config/schema.js';
import { createLayerWriter, isNativeError } from '../native/index.js';
import type { ImageRecord, ImageStore } from '../storage/image_store.js';
import { KeyedOnce } from '../storage/keyed_once.js';
import type { LayerRecord, LayerStore } from '../storage/layer_store.js';
import { credentialsFor, loadAuthFile } from './auth_file.js';
import {
  acceptedManifestTypes,
  hostPlatform,
  ImageFormatError,
  parseImageConfig,
  parseManifest,
  selectPlatform,
  type LayerDescriptor,
} from './manifest.js';
import { evaluatePolicy, loadPolicy } from './policy.js';
import type { PullProgress } from './pull_progress.js';
import { formatReference, isShortName, parseReference, repositoryName, type ImageReference } from './reference.js';
import { RegistryClient, RegistryError, type RegistryCredentials } from './registry_client.js';
import { loadRegistriesConf, pullSources, unqualifiedCandidates, type PullSource } from './registries_conf.js';
import { loadRegistryTls } from './registry_tls.js';

/** Manifests and configs are small; anything bigger is a hostile or broken registry. */
const maxManifestBytes = 4 * 1024 * 1024;
const maxConfigBytes = 4 * 1024 * 1024;
const layerAttempts = 3;

/** The trust policy refused the image; nothing was stored. */
export class PolicyDeniedError extends Error {
  override name = 'PolicyDeniedError';
}

export interface PullResult {
  image: ImageRecord;
  /** The reference that was pulled, fully qualified. */
  reference: ImageReference;
}

export class ImagePuller {
  private readonly pulls = new KeyedOnce<PullResult>();

  constructor(
    private readonly config: SkiffConfig,
    private readonly images: ImageStore,
    private readonly layers: LayerStore,
    private readonly progress: PullProgress,
    private readonly log: Logger,
  ) {}

  /** Pulls `name` (short or qualified); identical concurrent pulls share one. */
  pull(name: string, credentials?: RegistryCredentials): Promise<PullResult> {
    const candidates = isShortName(name) ? undefined : [parseReference(name)];
    const key = candidates ? formatReference(candidates[0]!) : name;
    return this.pulls.run(`${key}\0${credentials ? JSON.stringify(credentials) : ''}`, async () => {
      this.progress.report({ image: name, layer: '', state: 'resolving', doneBytes: 0, totalBytes: 0 });
      try {
        const result = await this.pullCandidates(name, candidates, credentials);
        this.progress.report({ image: name, layer: '', state: 'done', doneBytes: result.image.size, totalBytes: result.image.size });
        return result;
      } catch (err) {
        this.progress.report({ image: name, layer: '', state: 'failed', doneBytes: 0, totalBytes: 0 });
        throw err;
      }
    });
  }

  private async pullCandidates(name: string, qualified: ImageReference[] | undefined, credentials?: RegistryCredentials): Promise<PullResult> {
    const { image } = this.config;
    const [registries, policy, authFile] = await Promise.all([
      loadRegistriesConf(image.registries_conf, image.registries_conf_dir),
      loadPolicy(image.signature_policy),
      image.auth_file ? loadAuthFile(image.auth_file) : Promise.resolve(undefined),
    ]);
    const candidates = qualified ?? unqualifiedCandidates(registries, name);
    const failures: string[] = [];
    let lastError: RegistryError | undefined;
    for (const reference of candidates) {
      const decision = evaluatePolicy(policy, reference);
      if (!decision.allowed) throw new PolicyDeniedError(decision.reason);
      for (const source of pullSources(registries, reference)) {
        // auth.json entries belong to the host actually contacted (a mirror has its own).
        const creds = credentials ?? (authFile ? toCredentials(credentialsFor(authFile, source.reference)) : undefined);
        try {
          const pulled = await this.pullFrom(name, reference, source, creds);
          return { image: pulled, reference };
        } catch (err) {
          if (err instanceof ImageFormatError || isHostileLayer(err)) throw err;
          const where = `${source.mirror ? 'mirror ' : ''}${source.endpoint}`;
          this.log.info({ reference: formatReference(reference), source: where, err: String(err) }, 'pull source failed');
          failures.push(`${where}: ${err instanceof Error ? err.message : String(err)}`);
          if (err instanceof RegistryError) lastError = err;
          else if (!isNativeError(err)) throw err;
        }
      }
    }
    throw new RegistryError(`pulling ${name} failed: ${failures.join('; ')}`, lastError?.kind ?? 'unavailable', lastError?.status);
  }

  private async pullFrom(name: string, reference: ImageReference, source: PullSource, credentials: RegistryCredentials | undefined): Promise<ImageRecord> {
    const tls = await loadRegistryTls(this.config.image.certs_dir, source.endpoint);
    const client = new RegistryClient({ host: source.endpoint, insecure: source.insecure, ...(tls ? { tls } : {}) }, credentials, this.log);
    try {
      const repo = source.reference.path;
      const top = await client.getManifest(repo, source.reference.digest ?? source.reference.tag ?? 'latest', acceptedManifestTypes, maxManifestBytes);
      if (reference.digest && top.digest !== reference.digest) {
        throw new RegistryError(`${source.endpoint}/${repo}: manifest digest ${top.digest} does not match ${reference.digest}`, 'protocol');
      }
      const where = `${source.endpoint}/${repo}`;
      let manifestBody = top.body;
      let manifest = parseManifest(top.body, top.contentType, `manifest of ${where}`);
      if (manifest.kind === 'index') {
        const entry = selectPlatform(manifest.manifests, hostPlatform(), `index of ${where}`);
        const child = await client.getManifest(repo, entry.digest, [entry.mediaType], maxManifestBytes);
        manifestBody = child.body;
        manifest = parseManifest(child.body, child.contentType, `manifest ${entry.digest} of ${where}`);
        if (manifest.kind !== 'image') throw new ImageFormatError(`${where}: index entry ${entry.digest} is itself an index`);
      }
      const configBody = await client.getBlob(repo, manifest.config.digest, maxConfigBytes);
      const config = parseImageConfig(configBody, `config ${manifest.config.digest} of ${where}`);
      if (config.diffIds.length !== manifest.layers.length) {
        throw new ImageFormatError(`${where}: manifest has ${manifest.layers.length} layers but the config lists ${config.diffIds.length} diff_ids`);
      }
      const chainIds = chainIdsOf(config.diffIds);
      // Pinned from before the first layer lands until the image that uses them is recorded.
      const unpin = this.layers.pin(chainIds);
      try {
        const layerRecords = await this.fetchLayers(name, client, repo, manifest.layers, config.diffIds, chainIds);
        const repository = repositoryName(reference);
        const record: ImageRecord = {
          id: manifest.config.digest,
          repoTags: reference.tag ? [`${repository}:${reference.tag}`] : [],
          repoDigests: [`${repository}@${top.digest}`],
          layers: chainIds,
          size: layerRecords.reduce((sum, l) => sum + l.size, configBody.length),
          manifestDigest: top.digest,
          manifestMediaType: manifest.mediaType,
          user: config.user,
          pulledAt: new Date().toISOString(),
        };
        return await this.images.add({ record, manifest: manifestBody, config: configBody });
      } finally {
        unpin();
      }
    } finally {
      client.close();
    }
  }

  /** Fetches the missing layers, a few at a time; present ones are reused. */
  private async fetchLayers(
    image: string,
    client: RegistryClient,
    repo: string,
    descriptors: LayerDescriptor[],
    diffIds: string[],
    chainIds: string[],
  ): Promise<LayerRecord[]> {
    const results: LayerRecord[] = new Array(descriptors.length);
    for (const [i, d] of descriptors.entries()) {
      const state = this.layers.get(chainIds[i]!) ? 'exists' : 'waiting';
      this.progress.report({ image, layer: d.digest, state, doneBytes: state === 'exists' ? d.size : 0, totalBytes: d.size });
    }
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < descriptors.length) {
        const i = next++;
        const chainId = chainIds[i]!;
        results[i] = await this.layers.ensure(chainId, (diffDir) =>
          this.downloadLayer(image, client, repo, descriptors[i]!, diffIds[i]!, diffDir).then((r) => ({ ...r, parent: i === 0 ? null : chainIds[i - 1]! })),
        );
        this.progress.report({ image, layer: descriptors[i]!.digest, state: 'done', doneBytes: descriptors[i]!.size, totalBytes: descriptors[i]!.size });
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.config.image.max_concurrent_downloads, descriptors.length) }, worker));
    return results;
  }

  /** Streams one blob into the addon, which verifies and extracts it; retried on transfer errors. */
  private async downloadLayer(image: string, client: RegistryClient, repo: string, layer: LayerDescriptor, diffId: string, diffDir: string) {
    for (let attempt = 1; ; attempt++) {
      const writer = createLayerWriter({
        dir: diffDir,
        compression: layer.compression,
        expectedDigest: layer.digest,
        expectedDiffId: diffId,
        maxUncompressedBytes: this.config.image.max_layer_size,
      });
      try {
        const { stream } = await client.openBlob(repo, layer.digest);
        let done = 0;
        try {
          for await (const chunk of stream) {
            await writer.write(chunk as Buffer);
            done += (chunk as Buffer).length;
            this.progress.report({ image, layer: layer.digest, state: 'downloading', doneBytes: done, totalBytes: layer.size });
          }
        } catch (err) {
          if (isNativeError(err)) throw err;
          throw new RegistryError(`blob ${layer.digest}: connection lost after ${done} of ${layer.size} bytes (${(err as Error).message})`, 'unavailable');
        }
        if (!stream.complete) throw new RegistryError(`blob ${layer.digest}: connection closed before the end (${done} of ${layer.size} bytes)`, 'unavailable');
        const result = await writer.finish();
        return { diffId, compressedDigest: layer.digest, compressedSize: result.compressedSize, size: result.uncompressedSize };
      } catch (err) {
        await writer.abort().catch(() => undefined);
        this.progress.report({ image, layer: layer.digest, state: 'failed', doneBytes: 0, totalBytes: layer.size });
        const retryable = (err instanceof RegistryError && ['unavailable', 'timeout'].includes(err.kind)) || (isNativeError(err) && err.code === 'ERR_LAYER_TRUNCATED') || !(err instanceof Error) || (err as NodeJS.ErrnoException).code === 'ECONNRESET';
        if (!retryable || attempt >= layerAttempts) throw err;
        this.log.warn({ layer: layer.digest, attempt, err: String(err) }, 'layer download failed; retrying');
      }
    }
  }
}

/** OCI chain IDs: the base layer's is its diffID; each next is sha256(parent + " " + diffID). */
export function chainIdsOf(diffIds: string[]): string[] {
  const chain: string[] = [];
  for (const diffId of diffIds) {
    const parent = chain[chain.length - 1];
    chain.push(parent ? `sha256:${createHash('sha256').update(`${parent} ${diffId}`).digest('hex')}` : diffId);
  }
  return chain;
}

function toCredentials(found: ReturnType<typeof credentialsFor>): RegistryCredentials | undefined {
  if (!found) return undefined;
  return 'identityToken' in found ? { identityToken: found.identityToken } : { username: found.username, password: found.password };
}

function isHostileLayer(err: unknown): boolean {
  return isNativeError(err) && typeof err.code === 'string' && err.code.startsWith('ERR_LAYER_') && err.code !== 'ERR_LAYER_TRUNCATED';
}

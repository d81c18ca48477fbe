// OCI image-layout archives made on this machine, for containerd to import
// (`ctr images import`): nothing can be pulled from a registry here, and tests
// must not download anything anyway. An image is one uncompressed layer (a tar
// of the files given) plus its config and manifest, content-addressed by
// sha256 as the OCI image spec lays out:
//   oci-layout, index.json, blobs/sha256/<layer>, <config>, <manifest>
// Tars are made with GNU tar with fixed owner and mtime, so the same inputs
// give the same digests.

import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const TAR_FLAGS = ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner'];

export interface ImageSpec {
  /** Names the importer tags it with, e.g. `registry.k8s.io/pause:3.6`. */
  names: string[];
  /** In-image path → host file to copy (mode kept) or `{ symlink }`. */
  files: Record<string, string | { symlink: string }>;
  entrypoint: string[];
  cmd?: string[];
  env?: string[];
}

/** The static busybox of `busybox-static`: one file that is every tool a test image needs. */
export const BUSYBOX = '/bin/busybox';

/**
 * The sandbox ("pause") image kubelet's pods start from: a static busybox whose
 * entrypoint sleeps forever, under the name containerd expects by default.
 * Also named `ctscope.test/busybox:1` for test containers that run commands.
 */
export const PAUSE_IMAGE = 'registry.k8s.io/pause:3.6';
export const BUSYBOX_IMAGE = 'ctscope.test/busybox:1';

export function busyboxImageSpec(): ImageSpec {
  return {
    names: [PAUSE_IMAGE, BUSYBOX_IMAGE],
    files: { 'bin/busybox': BUSYBOX, 'bin/sh': { symlink: 'busybox' }, 'bin/sleep': { symlink: 'busybox' } },
    entrypoint: ['/bin/busybox', 'sleep', '2147483647'],
  };
}

function sha256(b: Buffer): string {
  return crypto.createHash('sha256').update(b).digest('hex');
}

/** Write an OCI image-layout archive (a tar) at `out`; `work` is a scratch folder it may fill. */
export async function buildOciArchive(spec: ImageSpec, out: string, work: string): Promise<void> {
  const rootfs = path.join(work, 'rootfs');
  const layout = path.join(work, 'layout');
  const blobs = path.join(layout, 'blobs', 'sha256');
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(rootfs, { recursive: true });
  fs.mkdirSync(blobs, { recursive: true });
  for (const [inImage, from] of Object.entries(spec.files)) {
    const to = path.join(rootfs, inImage);
    fs.mkdirSync(path.dirname(to), { recursive: true });
    if (typeof from === 'string') fs.copyFileSync(from, to);
    else fs.symlinkSync(from.symlink, to);
    if (typeof from === 'string') fs.chmodSync(to, fs.statSync(from).mode & 0o7777);
  }
  const layerTar = path.join(work, 'layer.tar');
  const top = [...new Set(Object.keys(spec.files).map((f) => f.split('/')[0]!))];
  await run('tar', [...TAR_FLAGS, '-C', rootfs, '-cf', layerTar, ...top]);
  const blob = (b: Buffer): { digest: string; size: number } => {
    const h = sha256(b);
    fs.writeFileSync(path.join(blobs, h), b);
    return { digest: `sha256:${h}`, size: b.length };
  };
  const layer = blob(fs.readFileSync(layerTar));
  const config = blob(
    Buffer.from(
      JSON.stringify({
        architecture: process.arch === 'arm64' ? 'arm64' : 'amd64',
        os: 'linux',
        config: { Entrypoint: spec.entrypoint, Cmd: spec.cmd ?? [], Env: spec.env ?? ['PATH=/bin'] },
        // uncompressed layer: its diff id is its digest
        rootfs: { type: 'layers', diff_ids: [layer.digest] },
      }),
    ),
  );
  const manifest = blob(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
      }),
    ),
  );
  fs.writeFileSync(
    path.join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      // one entry per name: containerd's importer names each from its annotation
      manifests: spec.names.map((name) => ({
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        ...manifest,
        annotations: { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': name.split(':').pop() },
      })),
    }),
  );
  fs.writeFileSync(path.join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await run('tar', [...TAR_FLAGS, '-C', layout, '-cf', out, 'oci-layout', 'index.json', 'blobs']);
}

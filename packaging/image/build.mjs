#!/usr/bin/env node
// The ctscope container image, an OCI image-layout archive, built from
// Debian packages and the npm package alone — no Docker engine, no registry:
//   node packaging/image/build.mjs [--tarball CTSCOPE.tgz] [--out DIR]
//     -> DIR/ctscope-VERSION.oci.tar (default DIR: build/packages), named
//        localhost/ctscope:VERSION for `ctr -n k8s.io images import`, and
//        VERSION for skopeo (`skopeo copy oci-archive:FILE:VERSION docker://REGISTRY/ctscope:VERSION`).
//
// Two layers:
//   base  the files of the Debian packages installed on this machine that Node
//         and the addon load — libc6, libgcc-s1, libstdc++6, libbpf1, libelf1,
//         zlib1g — and /usr/bin/node of the nodejs package (the build machine's
//         Node >= 20: Debian 12's own nodejs is 18), each package's
//         copyright kept, docs, manuals and locales left out; laid out as
//         Debian 12 does (/lib, /lib64, /bin are links into /usr). Taken from
//         the installed packages (dpkg -L) rather than a debootstrap: the image
//         needs a dozen files of seven packages, not a Debian system (no shell,
//         no package manager, no coreutils).
//   app   the npm package as installed (packaging/stage.sh: production
//         dependencies from the npm registry, the prebuilt addon, the BPF
//         objects) and /usr/bin/ctscope.
// Assembled with umoci (Debian's): it writes a spec-valid OCI layout from
// directories with no daemon and no storage driver — buildah would need
// containers-storage (overlay or vfs) and its configuration to do the same,
// and skopeo only copies images that exist. Every file's time is the commit's
// (SOURCE_DATE_EPOCH), so the layers depend on the inputs only.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const argv = process.argv.slice(2);
const flag = (name) => {
  const i = argv.indexOf(name);
  return i < 0 ? undefined : argv[i + 1];
};
const say = (s) => process.stderr.write(`image: ${s}\n`);
const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], ...opts });

/** Debian packages whose files the image holds (nodejs: /usr/bin/node only). */
export const DEBIAN_PACKAGES = ['libc6', 'libgcc-s1', 'libstdc++6', 'libbpf1', 'libelf1', 'zlib1g'];
const NODE_PACKAGE = 'nodejs';
/** What no process in the image reads. gconv: iconv modules (Node converts with ICU). */
const SKIP = /^\/usr\/share\/(doc|man|info|locale|lintian|bug|gdb)\/|^\/usr\/lib\/x86_64-linux-gnu\/gconv\//;
const KEEP = /^\/usr\/share\/doc\/[^/]+\/copyright$/;
export const IMAGE_NAME = 'localhost/ctscope';

/** Debian 12 is merged-/usr: the packages still list /lib/..., the files live in /usr/lib/... */
function merged(p) {
  return p.replace(/^\/(lib|lib64|bin|sbin)(\/|$)/, '/usr/$1$2');
}

function isLink(p) {
  try {
    return fs.lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

function copyPackageFiles(pkg, dest, only) {
  const version = run('dpkg-query', ['-W', '-f=${Version}', pkg]).trim();
  const files = run('dpkg-query', ['-L', pkg]).split('\n').filter(Boolean);
  let n = 0;
  for (const f of files) {
    if ((SKIP.test(f) && !KEEP.test(f)) || (only && !only.test(f))) continue;
    let st;
    try {
      st = fs.lstatSync(f);
    } catch {
      continue; // listed, not installed (a diverted or removed path)
    }
    // directories are made as needed (/lib, /lib64 are links to directories on a merged /usr)
    if (st.isDirectory() || (st.isSymbolicLink() && fs.statSync(f, { throwIfNoEntry: false })?.isDirectory())) continue;
    const to = path.join(dest, merged(f));
    fs.mkdirSync(path.dirname(to), { recursive: true });
    if (fs.existsSync(to) || isLink(to)) continue; // a package listing a path twice
    if (st.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(f), to);
    else {
      fs.copyFileSync(f, to);
      fs.chmodSync(to, st.mode & 0o7777);
    }
    n++;
  }
  return { pkg, version, files: n };
}

function buildBase(dest) {
  const packages = DEBIAN_PACKAGES.map((p) => copyPackageFiles(p, dest));
  packages.push(copyPackageFiles(NODE_PACKAGE, dest, /^\/usr\/bin\/node$|^\/usr\/share\/doc\/nodejs\/copyright$/));
  for (const l of ['lib', 'lib64', 'bin', 'sbin']) {
    if (fs.existsSync(path.join(dest, 'usr', l))) fs.symlinkSync(`usr/${l}`, path.join(dest, l));
  }
  fs.mkdirSync(path.join(dest, 'etc'), { recursive: true });
  fs.writeFileSync(path.join(dest, 'etc/passwd'), 'root:x:0:0:root:/nonexistent:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n');
  fs.writeFileSync(path.join(dest, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
  for (const d of ['proc', 'sys', 'dev', 'run', 'tmp']) fs.mkdirSync(path.join(dest, d), { recursive: true });
  fs.chmodSync(path.join(dest, 'tmp'), 0o1777);
  // What the image is made of, for whoever audits it.
  const doc = path.join(dest, 'usr/share/doc/ctscope-image');
  fs.mkdirSync(doc, { recursive: true });
  fs.writeFileSync(path.join(doc, 'debian-packages'), packages.map((p) => `${p.pkg} ${p.version}\n`).join(''));
  if (packages.some((p) => p.files === 0)) throw new Error(`no file of ${packages.filter((p) => p.files === 0).map((p) => p.pkg).join(', ')}: not installed?`);
  return packages;
}

function buildApp(tgz, dest) {
  run('bash', [path.join(root, 'packaging/stage.sh'), tgz, dest]);
  // No shell or /usr/bin/env in the image: a launcher Node runs itself
  // (`kubectl exec … -- ctscope doctor` works).
  const launcher = path.join(dest, 'usr/bin/ctscope');
  fs.rmSync(launcher, { force: true });
  fs.writeFileSync(launcher, "#!/usr/bin/node\nimport('/usr/lib/ctscope/bin/ctscope.js');\n", { mode: 0o755 });
}

function touchAll(dir, epoch) {
  run('find', [dir, '-exec', 'touch', '-h', '-d', `@${epoch}`, '{}', '+']);
}

function main() {
  const out = path.resolve(flag('--out') ?? path.join(root, 'build/packages'));
  fs.mkdirSync(out, { recursive: true });
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ctscope-image-'));
  try {
    let tgz = flag('--tarball');
    if (!tgz) {
      say('npm pack');
      run('npm', ['pack', '--pack-destination', work, '--loglevel=error'], { cwd: root });
      tgz = path.join(work, fs.readdirSync(work).find((f) => /^ctscope-.*\.tgz$/.test(f)));
    }
    tgz = path.resolve(tgz);
    const epoch = process.env.SOURCE_DATE_EPOCH ?? run('git', ['-C', root, 'log', '-1', '--format=%ct']).trim();
    const created = new Date(Number(epoch) * 1000).toISOString();

    const base = path.join(work, 'base');
    const packages = buildBase(base);
    say(`base: ${packages.map((p) => `${p.pkg} ${p.version}`).join(', ')}`);
    const app = path.join(work, 'app');
    buildApp(tgz, app);
    const version = JSON.parse(fs.readFileSync(path.join(app, 'usr/lib/ctscope/package.json'), 'utf8')).version;
    touchAll(base, epoch);
    touchAll(app, epoch);

    const layout = path.join(work, 'layout');
    const image = `${layout}:${version}`;
    run('umoci', ['init', '--layout', layout]);
    run('umoci', ['new', '--image', image]);
    const hist = (what) => ['--history.created', created, '--history.created_by', what];
    run('umoci', ['insert', '--image', image, ...hist('Debian packages: node and the libraries the addon links'), base, '/']);
    run('umoci', ['insert', '--image', image, ...hist(`ctscope ${version} (npm package)`), app, '/']);
    run('umoci', [
      'config', '--image', image, '--no-history', '--created', created, '--author', 'ctscope',
      '--config.entrypoint', '/usr/bin/ctscope', '--config.cmd', 'run',
      // root in the container, with only the capabilities the DaemonSet adds:
      // a non-root user cannot hold them (no ambient capabilities in Kubernetes).
      '--config.user', '0:0', '--config.workingdir', '/', '--config.env', 'PATH=/usr/bin',
      '--config.stopsignal', 'SIGTERM',
      '--config.label', 'org.opencontainers.image.title=ctscope',
      '--config.label', `org.opencontainers.image.version=${version}`,
      '--config.label', 'org.opencontainers.image.licenses=GPL-2.0-only',
      '--config.label', 'org.opencontainers.image.description=conntrack table-full attribution (eBPF + ctnetlink)',
    ]);
    run('umoci', ['gc', '--layout', layout]);
    // Name it for containerd's importer too (umoci writes only ref.name).
    const indexFile = path.join(layout, 'index.json');
    const index = JSON.parse(fs.readFileSync(indexFile, 'utf8'));
    for (const m of index.manifests) m.annotations = { ...m.annotations, 'io.containerd.image.name': `${IMAGE_NAME}:${version}` };
    fs.writeFileSync(indexFile, JSON.stringify(index));
    const archive = path.join(out, `ctscope-${version}.oci.tar`);
    touchAll(layout, epoch);
    run('tar', ['--sort=name', `--mtime=@${epoch}`, '--owner=0', '--group=0', '--numeric-owner', '-C', layout, '-cf', archive, '.']);
    process.stdout.write(`${archive}\n`);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
